"""A finished run as plugins see it (the ``kpiengine_run_finished`` hook)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from .engine import KpiValue


@dataclass(frozen=True)
class RunSummary:
    run_id: int | None
    project: str
    spec_version: str
    grain: str
    by: tuple[str, ...]
    kpis: tuple[str, ...]
    rows: tuple[KpiValue, ...] = field(default_factory=tuple)
    status: str = "ok"


def notify_run_finished(registry, summary: RunSummary) -> list[str]:
    """Call every ``kpiengine_run_finished`` hookimpl; a failing plugin is reported, never fatal."""
    problems = []
    for impl in registry.pm.hook.kpiengine_run_finished.get_hookimpls():
        try:
            impl.function(run=summary)
        except Exception as exc:  # the results are stored already: warn, do not fail the run
            msg = f"plugin '{impl.plugin_name}' failed in kpiengine_run_finished: {exc!r}"
            problems.append(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return problems
