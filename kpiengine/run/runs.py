"""What ``kpi run`` does: compute, store the values in history, tell the ``kpiengine_run_finished`` plugins."""
from __future__ import annotations

import warnings

from ..errors import KpiEngineError, SourceError
from ..results import RunSummary
from ..sources import close_all, close_in_background, connection_scope
from .engine import Engine, ResultSet
from .history import HistoryStore


def notify_run_finished(registry, summary: RunSummary) -> list[str]:
    """Call every ``kpiengine_run_finished`` hookimpl; a failing plugin is reported, never fatal."""
    problems = []
    for impl in registry.hook_impls("kpiengine_run_finished"):
        try:
            impl.function(run=summary)
        except Exception as exc:  # the results are stored already: warn, do not fail the run
            msg = f"plugin '{impl.plugin_name}' failed in kpiengine_run_finished: {exc!r}"
            problems.append(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return problems


def execute_run(project, kpis, grain, by, start, end, *, timeout=None, record=True, registry=None,
                incremental=False, lookback=0, where=None, fill=None) -> ResultSet:
    """Compute, store in history, and tell kpiengine_run_finished plugins: what `kpi run` does.

    ``incremental``: compute only the periods that changed since the last run of the same request and
    take the others from history (:mod:`kpiengine.run.incremental`); ``rs.incremental`` says what it did.
    """
    if incremental and fill:
        raise KpiEngineError("--fill cannot be combined with --incremental; run without --incremental")
    if incremental and not record:
        raise KpiEngineError("an incremental run reads and writes history: drop --no-history")
    if where and incremental:
        raise KpiEngineError("--where cannot be combined with --incremental: history keeps unfiltered values")
    if where:
        # History holds one value per KPI, period and dimension values: a filtered value in its place
        # would be read back (alerts, dashboard, review) as the whole. A filtered run is shown only.
        record = False
    engine = Engine(project, registry, timeout=timeout)
    # an incremental run's session opens the file first: its connection creates what is missing
    store = HistoryStore.for_project(project, create=not incremental) if record else None
    try:
        if incremental:
            return _run_incremental(project, engine, store, kpis, grain, by, start, end, lookback)
        rs = engine.compute(kpis, grain, by, start, end, where=where, fill=fill)
    except SourceError as exc:
        if store is not None:
            store.record_failure(project, grain, list(by), list(kpis), str(exc))
        raise
    if store is not None:
        store.record_run(project, rs)
        _notify(project, engine, rs)
    return rs


def _run_incremental(project, engine, store, kpis, grain, by, start, end, lookback) -> ResultSet:
    from .incremental import (
        compute_incremental,  # lazy: day counts are compiled with sqlglot; a plain run needs none
    )

    warehouse: list = []  # the run's warehouse connections, closed while history is written
    closing = None
    try:
        with store.session():  # its state, the kept values and the record: one history connection
            with connection_scope(close_later=warehouse):
                rs, signature, day_rows, report = compute_incremental(engine, store, kpis, grain, by, start,
                                                                      end, lookback=lookback)
            closing = close_in_background(warehouse)
            store.record_incremental(project, rs, signature, day_rows, report.recomputed_from)
    finally:
        if closing is None:  # computing failed: nothing to overlap with
            close_all(warehouse)
        else:
            closing.join()
    rs.incremental = report
    _notify(project, engine, rs)
    return rs


def _notify(project, engine, rs: ResultSet) -> None:
    notify_run_finished(engine.registry, RunSummary(
        run_id=rs.run_id, project=project.name, spec_version=rs.spec_version, grain=rs.grain, by=tuple(rs.by),
        kpis=tuple(rs.kpis), rows=tuple(rs.rows)))
