"""Day-counts statements as templates: a marker where each model's since day (or latest time) goes.

The statement an incremental run counts days with depends on the spec and on
each model's watermark day, which moves on with every new day of data. Kept
with the spec cache as a template, it is filled in with plain text
replacement, so a run from a cached spec builds no sqlglot tree and imports
neither sqlglot nor the compiler (:mod:`kpiengine.sql.fingerprint` builds the
template and checks it renders exactly what the days themselves would).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class After:
    """Count only the rows whose time is after ``text``: the model's latest time when it was last counted,
    as the warehouse itself wrote it (``CAST(MAX(time) AS TEXT)``), so it reads it back exactly."""

    text: str


def since_marker(i: int) -> str:
    """What stands for the ``i``-th model's since day in a template (a text no spec writes)."""
    return f"@kpiengine-since-{i}@"


def since_text(since: date) -> str:
    """The first moment of a since day, as the day-counts statement compares times with it."""
    return since.isoformat() + " 00:00:00"


def fill_template(template: str, sinces: list[date | After | None]) -> str:
    """A template's SQL for these since days or latest times (the i-th model's is ``sinces[i]``)."""
    for i, since in enumerate(sinces):
        if since is not None:
            template = template.replace(since_marker(i), since.text if isinstance(since, After) else since_text(since))
    return template
