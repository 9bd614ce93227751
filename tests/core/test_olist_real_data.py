"""The real Olist marketing funnel: monthly leads by origin and lead-to-deal conversion.

Expected values are computed here with the csv module, independently of the
engine. The data lives in ../shared/data/olist_funnel next to the repository.
"""
from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "olist_funnel"
LEADS = DATA / "olist_marketing_qualified_leads_dataset.csv"
DEALS = DATA / "olist_closed_deals_dataset.csv"

pytestmark = pytest.mark.skipif(not LEADS.exists(), reason=f"Olist data not found at {DATA}")


def month(d: date) -> date:
    return d.replace(day=1)


@pytest.fixture(scope="module")
def olist():
    with LEADS.open(newline="") as f:
        leads = list(csv.DictReader(f))
    with DEALS.open(newline="") as f:
        deals = list(csv.DictReader(f))
    origin_of = {l["mql_id"]: (l["origin"] or None) for l in leads}
    lead_month = Counter((month(datetime.strptime(l["first_contact_date"], "%d-%m-%Y").date()),
                          l["origin"] or None) for l in leads)
    won_month = Counter((month(datetime.strptime(d["won_date"], "%d-%m-%Y %H:%M").date()), origin_of[d["mql_id"]])
                        for d in deals)
    return {"leads": leads, "deals": deals, "lead_month": lead_month, "won_month": won_month}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("olist")
    (folder / "olist.yml").write_text(f"""
project: {{name: olist, timezone: UTC, allow_model_sql: true}}
sources:
  local: {{type: duckdb, path: ":memory:"}}
process:
  - id: sales
    label: 銷售體系 Sales
    children:
      - {{id: lead_generation, label: 銷售線索 Lead generation}}
      - {{id: closing, label: 成交 Closing}}
models:
  leads:
    file: "{LEADS}"
    time: first_contact_date
    time_format: "%d-%m-%Y"
    entity: mql_id
    dimensions: {{origin: "NULLIF(origin, '')"}}
  deals:
    sql: >-
      SELECT d.mql_id, d.won_date, d.sr_id, l.origin
      FROM read_csv('{DEALS}', all_varchar = true) AS d
      JOIN read_csv('{LEADS}', all_varchar = true) AS l ON l.mql_id = d.mql_id
    time: won_date
    time_format: "%d-%m-%Y %H:%M"
    entity: mql_id
    dimensions: {{origin: "NULLIF(origin, '')"}}
kpis:
  leads: {{label: 銷售線索 Leads, model: leads, aggregate: count_distinct, column: mql_id,
          process: lead_generation, unit: count}}
  deals_won: {{label: 成交 Deals won, model: deals, aggregate: count, process: closing, unit: count}}
  lead_to_deal: {{label: 轉化率 Lead to deal, formula: deals_won / leads, unit: percent, process: closing}}
""", encoding="utf-8")
    return load_project(folder)


def test_monthly_leads_by_origin(project, olist):
    rs = Engine(project).compute(["leads"], grain="month", by=["origin"])
    got = {(r.period_start, r.dimensions["origin"]): r.value for r in rs.rows}
    assert got == dict(olist["lead_month"])
    assert sum(got.values()) == 8000
    assert sum(v for (m, o), v in got.items() if o is None) == 60  # blank origins: a group of their own


def test_monthly_lead_to_deal_conversion_by_origin(project, olist):
    rs = Engine(project).compute(["lead_to_deal", "deals_won"], grain="month", by=["origin"])
    conv = {(r.period_start, r.dimensions["origin"]): r.value for r in rs.rows if r.kpi == "lead_to_deal"}
    won = {(r.period_start, r.dimensions["origin"]): r.value for r in rs.rows if r.kpi == "deals_won"}
    assert sum(won.values()) == len(olist["deals"]) == 842
    keys = set(olist["lead_month"]) | set(olist["won_month"])
    assert set(conv) == keys
    for key in keys:
        n_leads, n_won = olist["lead_month"].get(key, 0), olist["won_month"].get(key, 0)
        expected = None if n_leads == 0 else n_won / n_leads
        assert conv[key] == pytest.approx(expected) if expected is not None else conv[key] is None, key


def test_monthly_totals_without_breakdown(project, olist):
    rs = Engine(project).compute(["lead_to_deal"], grain="month")
    got = {r.period_start: r.value for r in rs.rows}
    leads, won = Counter(), Counter()
    for (m, _), n in olist["lead_month"].items():
        leads[m] += n
    for (m, _), n in olist["won_month"].items():
        won[m] += n
    # Deals are won months after first contact and later than the last lead: those months have no leads.
    for m in set(leads) | set(won):
        assert got[m] == (pytest.approx(won[m] / leads[m]) if leads[m] else None), m
    assert any(v is None for v in got.values())
