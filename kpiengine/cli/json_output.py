"""``kpi run --format json``: the JSON contract written fast, compact by default, indented with ``--pretty``.

A run at week x rep returns hundreds of thousands of values, and the JSON
used to cost more than computing them: every row became a dict with its KPI's
process path looked up again, written by the pure-Python encoder (``indent=2``).
Here the per-KPI part of a row (kpi, label, unit, process path) is encoded once
per KPI, and each row adds only its period, dimensions and value, all encoded
by orjson in C. ``--pretty`` builds the dicts and indents them, for humans.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

import orjson


def _default(value: Any) -> Any:
    # Drivers' leftovers the engine did not normalise: numbers stay numbers, anything else its text.
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _header(project, rs) -> dict[str, Any]:
    header = {"grain": rs.grain, "by": rs.by, "start": rs.start.isoformat() if rs.start else None,
              "end": rs.end.isoformat() if rs.end else None, "spec_version": rs.spec_version, "run_id": rs.run_id}
    marks = getattr(rs, "watermarks", None)
    if marks:  # how far each model's data reaches, and whether it is stale (docs/periods.md)
        header["watermarks"] = {str(name): w.to_dict() for name, w in marks.items()}
    report = getattr(rs, "incremental", None)
    if report is not None:  # kpi run --incremental: from which period on values were computed again
        header["incremental"] = {"recomputed_from": report.recomputed_from, "reason": report.reason}
    return header


def _kpi_fields(project, kpi: str) -> dict[str, Any]:
    spec = project.kpis[kpi]
    return {"kpi": kpi, "label": spec.label, "unit": spec.unit, "process_path": project.kpi_path(kpi)}


def _marks(row) -> bytes:
    """The end of a row: ``"complete":false`` (and ``"maturing":true``) only where they apply."""
    if getattr(row, "complete", True):
        return b"}"
    return b',"complete":false,"maturing":true}' if getattr(row, "maturing", False) else b',"complete":false}'


def run_json(project, rs, rows: Iterable, *, pretty: bool = False) -> bytes:
    """The JSON document of a run (keys of the documented contract, plus ``process_path``)."""
    header = _header(project, rs)
    if pretty:
        fields: dict[str, dict[str, Any]] = {}
        header["rows"] = [{**(fields.get(r.kpi) or fields.setdefault(r.kpi, _kpi_fields(project, r.kpi))),
                           "period_start": r.period_start, "dimensions": r.dimensions, "value": r.value,
                           **({} if getattr(r, "complete", True) else {"complete": False}),
                           **({"maturing": True} if getattr(r, "maturing", False) else {})}
                          for r in rows]
        return orjson.dumps(header, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    dumps = orjson.dumps
    heads: dict[str, bytes] = {}
    parts = []
    for r in rows:
        head = heads.get(r.kpi)
        if head is None:  # '{"kpi":..,"label":..,"unit":..,"process_path":[..],"period_start":"'
            head = heads[r.kpi] = dumps(_kpi_fields(project, r.kpi))[:-1] + b',"period_start":"'
        parts.append(b"".join((head, r.period_start.isoformat().encode(), b'","dimensions":',
                               dumps(r.dimensions, default=_default, option=orjson.OPT_NON_STR_KEYS),
                               b',"value":', dumps(r.value, default=_default),
                               _marks(r))))
    return b"".join((dumps(header, default=_default)[:-1], b',"rows":[', b",".join(parts), b"]}"))
