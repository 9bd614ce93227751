"""Shared fixtures for the funnel and root-cause tests: the real Olist funnel data, loaded as text."""
from __future__ import annotations

import csv
import sqlite3
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OLIST = REPO.parent / "shared" / "data" / "olist_funnel"
LEADS_CSV = "olist_marketing_qualified_leads_dataset.csv"
DEALS_CSV = "olist_closed_deals_dataset.csv"

OLIST_MODELS = """
models:
  olist_leads:
    table: olist_leads
    time: first_contact_date
    time_format: "%d-%m-%Y"
    entity: mql_id
    dimensions:
      origin: origin
  olist_deals:
    table: olist_deals
    time: won_date
    time_format: "%d-%m-%Y %H:%M"
    entity: mql_id
    dimensions:
      segment: business_segment
funnels:
"""
FUNNEL = """  won_{days}d:
    label: Lead to won deal within {days} days
    entity: lead
    window: {days}d
    steps:
      - {{name: lead, model: olist_leads, product: free}}
      - {{name: won, model: olist_deals, product: profit}}
"""


def _blank_to_none(v: str) -> str | None:
    return v if v != "" else None


@pytest.fixture(scope="session")
def olist_rows():
    if not (OLIST / LEADS_CSV).exists() or not (OLIST / DEALS_CSV).exists():
        pytest.skip(f"Olist funnel data not found at {OLIST} (expected a copy of shared/ beside the repository)")
    with open(OLIST / LEADS_CSV, newline="", encoding="utf-8") as fh:
        leads = [(r["mql_id"], r["first_contact_date"], _blank_to_none(r["origin"])) for r in csv.DictReader(fh)]
    with open(OLIST / DEALS_CSV, newline="", encoding="utf-8") as fh:
        deals = [(r["mql_id"], r["won_date"], _blank_to_none(r["business_segment"])) for r in csv.DictReader(fh)]
    return leads, deals


def write_olist_spec(folder: Path, source_yaml: str, windows=(30, 60, 90)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "project:\n  name: olist\n  default_source: wh\nsources:\n  wh:\n" + source_yaml + OLIST_MODELS
    text += "".join(FUNNEL.format(days=d) for d in windows)
    (folder / "olist.yml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def olist_duckdb_project(olist_rows, tmp_path_factory):
    import duckdb

    from kpiengine.loader import load_project

    leads, deals = olist_rows
    base = tmp_path_factory.mktemp("olist_duckdb")
    db = base / "olist.duckdb"
    con = duckdb.connect(str(db))
    # Loaded as text (all_varchar): dates stay day-first strings, as in the warehouse the spec describes.
    con.execute("CREATE TABLE olist_leads AS SELECT mql_id, first_contact_date, origin "
                "FROM read_csv(?, header = true, all_varchar = true)", [str(OLIST / LEADS_CSV)])
    con.execute("CREATE TABLE olist_deals AS SELECT mql_id, won_date, business_segment "
                "FROM read_csv(?, header = true, all_varchar = true)", [str(OLIST / DEALS_CSV)])
    assert con.execute("SELECT count(*) FROM olist_leads").fetchone()[0] == len(leads)
    con.close()
    folder = write_olist_spec(base / "spec", f"    type: duckdb\n    path: {db}\n")
    return load_project(folder)


@pytest.fixture(scope="session")
def olist_sqlite_project(olist_rows, tmp_path_factory):
    from kpiengine.loader import load_project

    leads, deals = olist_rows
    base = tmp_path_factory.mktemp("olist_sqlite")
    db = base / "olist.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE olist_leads (mql_id TEXT, first_contact_date TEXT, origin TEXT)")
    con.execute("CREATE TABLE olist_deals (mql_id TEXT, won_date TEXT, business_segment TEXT)")
    con.executemany("INSERT INTO olist_leads VALUES (?, ?, ?)", leads)
    con.executemany("INSERT INTO olist_deals VALUES (?, ?, ?)", deals)
    con.commit()
    con.close()
    folder = write_olist_spec(base / "spec", f"    type: sqlite\n    path: {db}\n")
    return load_project(folder)


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory):
    """The demo warehouse (kpiengine.demo) and an Engine over the repository's kpi_specs/."""
    import os

    from kpiengine.cli.demo_data import build_demo
    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    info = build_demo(str(tmp_path_factory.mktemp("demo") / "demo.duckdb"))
    old = os.environ.get("KPI_DEMO_DB")
    os.environ["KPI_DEMO_DB"] = info.path
    try:
        project = load_project(REPO / "kpi_specs")
    finally:
        if old is None:
            os.environ.pop("KPI_DEMO_DB", None)
        else:
            os.environ["KPI_DEMO_DB"] = old
    return Engine(project), info


@pytest.fixture(scope="session")
def olist_expected(olist_rows):
    """independent(days, view="cohort", by_origin=True) -> {(month, origin): [leads, won, [seconds to win]]}."""

    def independent(days: int, view: str = "cohort", by_origin: bool = True):
        leads, deals = olist_rows
        won_at = defaultdict(list)
        for mql, won_date, _ in deals:
            won_at[mql].append(datetime.strptime(won_date, "%d-%m-%Y %H:%M"))
        entry = {}
        for mql, contact, origin in leads:
            t = datetime.strptime(contact, "%d-%m-%Y")
            if mql not in entry or t < entry[mql][0]:
                entry[mql] = (t, origin)
        out = defaultdict(lambda: [0, 0, []])
        for mql, (t, origin) in entry.items():
            month = date(t.year, t.month, 1)
            out[(month, origin if by_origin else None)][0] += 1
            hits = [w for w in won_at.get(mql, []) if t <= w <= t + timedelta(days=days)]
            if hits:
                w = min(hits)
                when = month if view == "cohort" else date(w.year, w.month, 1)
                cell = out[(when, origin if by_origin else None)]
                cell[1] += 1
                cell[2].append((w - t).total_seconds())
        return out

    return independent


@pytest.fixture(scope="session")
def olist_check():
    """check(result, expected, by_origin=True): a FunnelResult equals the independent numbers."""

    def check(result, expected, by_origin: bool = True):
        got = {}
        for row in result.rows:
            key = (row.period_start, row.dimensions.get("origin") if by_origin else None)
            got[key] = row
        assert set(got) == set(expected)
        for key, (n_leads, n_won, gaps) in expected.items():
            lead, won = got[key].steps
            assert (lead.entities, won.entities) == (n_leads, n_won), key
            if n_leads:
                assert won.conversion_from_previous == pytest.approx(n_won / n_leads)
                assert won.drop_off == n_leads - n_won
            if gaps:
                assert won.median_seconds == pytest.approx(statistics.median(gaps)), key
            else:
                assert won.median_seconds is None

    return check


@pytest.fixture(scope="session")
def olist_files(olist_rows):
    """Paths of the two Olist CSV files and the spec writer, for tests on other engines."""
    return {"leads": OLIST / LEADS_CSV, "deals": OLIST / DEALS_CSV, "write_spec": write_olist_spec}
