"""Built-in kpiengine plugins.

Installed as the package ``kpiengine_plugins`` and registered through the
``kpiengine`` entry-point group, exactly like a third-party plugin. Each module
is one plugin and uses only the public API (``kpiengine.hookimpl``,
``kpiengine.sources``, ``kpiengine.sinks``, ``kpiengine.errors``, ``kpiengine.http``).
"""
