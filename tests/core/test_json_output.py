"""``kpi run --format json``: the compact writer and ``--pretty`` give the same document, the documented one."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from kpiengine.cli.json_output import run_json
from kpiengine.results import KpiValue
from kpiengine.spec.model import KpiSpec, ProcessNode, Project


@pytest.fixture
def project():
    p = Project(name="p", folder=".")
    p.process = {"sales": ProcessNode("sales", "銷售 Sales", 1, children=["close"]),
                 "close": ProcessNode("close", 'Closing "deals"', 2, parent="sales")}
    p.kpis = {"won": KpiSpec("won", "Won", unit="count", process="close"),
              "rate": KpiSpec("rate", "轉化率", unit="percent")}
    return p


ROWS = [KpiValue("won", "week", date(2026, 1, 5), {"region": "east", "rep": 7}, 3),
        KpiValue("won", "week", date(2026, 1, 5), {"region": None, "rep": 'a "quoted" \\ rep'}, 0),
        KpiValue("rate", "week", date(2026, 1, 12), {"region": "東"}, 0.125),
        KpiValue("rate", "week", date(2026, 1, 12), {"region": "west"}, None),
        KpiValue("won", "week", date(2026, 1, 12), {"region": "west"}, Decimal("2.50"))]


def expected(project, rows):
    """The contract written out by hand, as the docs state it."""
    paths = {"won": ["銷售 Sales", 'Closing "deals"'], "rate": []}
    return {"grain": "week", "by": ["region", "rep"], "start": "2026-01-05", "end": None, "spec_version": "abc",
            "run_id": 4,
            "rows": [{"kpi": r.kpi, "label": project.kpis[r.kpi].label, "unit": project.kpis[r.kpi].unit,
                      "process_path": paths[r.kpi], "period_start": r.period_start.isoformat(),
                      "dimensions": r.dimensions, "value": float(r.value) if isinstance(r.value, Decimal) else r.value}
                     for r in rows]}


@pytest.mark.parametrize("pretty", [False, True])
def test_document_matches_the_contract(project, pretty):
    rs = SimpleNamespace(grain="week", by=["region", "rep"], start=date(2026, 1, 5), end=None, spec_version="abc",
                         run_id=4)
    text = run_json(project, rs, ROWS, pretty=pretty)
    assert json.loads(text) == expected(project, ROWS)
    assert (b"\n" in text) is pretty
    assert "轉化率".encode() in text  # UTF-8, not \\u escapes


def test_no_rows(project):
    rs = SimpleNamespace(grain="day", by=[], start=None, end=date(2026, 2, 1), spec_version="v", run_id=None)
    assert json.loads(run_json(project, rs, [])) == {"grain": "day", "by": [], "start": None, "end": "2026-02-01",
                                                      "spec_version": "v", "run_id": None, "rows": []}
