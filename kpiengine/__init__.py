"""kpiengine: config-driven KPI rules engine.

Public API for plugin authors: ``hookimpl``, :mod:`kpiengine.sources`,
:mod:`kpiengine.sinks`, :mod:`kpiengine.errors`, :mod:`kpiengine.http` (HTTP
delivery with typed errors), :mod:`kpiengine.render` (notification text) and
:mod:`kpiengine.testing` (local HTTP and SMTP servers for plugin tests).
"""
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
