"""The plugin API: every hook a kpiengine plugin may implement.

Plugins are plain modules exposing functions decorated with
``kpiengine.hookimpl``, announced through the ``kpiengine`` entry-point group::

    [project.entry-points.kpiengine]
    my_warehouse = "my_package.plugin"

The built-in connectors in ``plugins/`` use exactly this door. See
``docs/plugins.md`` for examples and how to test a plugin.
"""
from __future__ import annotations

import pluggy

from .results import RunSummary
from .sections import SpecSection
from .sinks import Sink
from .sources import Source

PROJECT_NAME = "kpiengine"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def kpiengine_source_types() -> list[type[Source]]:
    """Return the data-source classes this plugin adds.

    Each class subclasses :class:`kpiengine.sources.Source` and sets a unique
    ``type_name`` (what a spec writes in ``sources: {name: {type: ...}}``) and
    the sqlglot ``dialect`` its SQL is compiled for.

    Example::

        @hookimpl
        def kpiengine_source_types():
            return [ClickHouseSource]
    """


@hookspec
def kpiengine_sink_types() -> list[type[Sink]]:
    """Return the alert-sink classes this plugin adds.

    Each class subclasses :class:`kpiengine.sinks.Sink` and sets a unique
    ``type_name`` (what a spec writes in ``sinks: {name: {type: ...}}``).

    Example::

        @hookimpl
        def kpiengine_sink_types():
            return [TeamsSink]
    """


@hookspec
def kpiengine_spec_sections() -> list[SpecSection]:
    """Return the spec sections this plugin owns: top-level keys of a spec file.

    Each object subclasses :class:`kpiengine.sections.SpecSection`: its
    ``name`` (the key), its JSON Schema fragment (merged into ``kpi schema``),
    how several files combine (``merge``), a ``build`` step turning the raw,
    located YAML into typed objects on the project, and ``check``, the semantic
    checks that ``kpi validate`` runs. Every section of kpiengine itself,
    ``kpis`` and ``models`` included, is registered through this hook.

    Example::

        class SlaSection(SpecSection):
            name = "sla"
            def schema(self):
                return named_map({"type": "object", "required": ["kpi"]})
            def check(self, project, context):
                ...

        @hookimpl
        def kpiengine_spec_sections():
            return [SlaSection()]
    """


@hookspec
def kpiengine_run_finished(run: RunSummary) -> None:
    """Observe a finished ``kpi run`` after its results were stored in history.

    ``run`` carries the run id, the spec version, the grain and breakdown, the
    KPI rows and the status. Use it to export results elsewhere (a metrics
    store, a data catalog, a cache warm-up). Exceptions raised here are
    reported as warnings naming the plugin; they never fail the run, because
    the results are already safely stored.
    """
