"""The rule for a formula input missing at a period: decided by the input's aggregate, never by the range.

Regression: ``booking_value * views`` for 2019-12-01 was 0.0 over the whole data and null with
``--from 2019-12-01 --to 2019-12-02``, because "missing counts as 0" was chosen from whether the
bookings model returned any row in the requested range.
"""
from __future__ import annotations

from datetime import date

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("missing")
    db = folder / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE views (ts TIMESTAMP, region TEXT)")
    con.execute("INSERT INTO views VALUES ('2019-12-01 10:00', 'east'), ('2019-12-01 11:00', 'east'),"
                " ('2019-12-02 09:00', NULL), ('2019-12-05 09:00', 'east')")
    con.execute("CREATE TABLE bookings (ts TIMESTAMP, region TEXT, amount DOUBLE)")
    con.execute("INSERT INTO bookings VALUES ('2019-11-30 10:00', 'east', 5), ('2019-12-05 10:00', 'east', 7)")
    con.close()
    (folder / "spec.yml").write_text(f"""
project: {{name: missing, default_source: w}}
sources: {{w: {{type: duckdb, path: "{db}"}}}}
models:
  views: {{table: views, time: ts, dimensions: {{region: region}}}}
  bookings: {{table: bookings, time: ts, dimensions: {{region: region}}}}
kpis:
  views: {{label: v, model: views, aggregate: count}}
  booking_value: {{label: b, model: bookings, aggregate: sum, column: amount}}
  avg_booking: {{label: a, model: bookings, aggregate: avg, column: amount}}
  value_x_views: {{label: x, formula: booking_value * views}}
  avg_x_views: {{label: y, formula: avg_booking * views}}
""")
    return Engine(load_project(str(folder)))


def _values(rs, kpi):
    return {(r.period_start, tuple(r.dimensions.values())): r.value for r in rs.rows if r.kpi == kpi}


@pytest.mark.parametrize("by", [[], ["region"]])
def test_missing_additive_input_is_zero_whatever_the_range(engine, by):
    whole = engine.compute(["value_x_views"], grain="day", by=by)
    narrow = engine.compute(["value_x_views"], grain="day", by=by, start=date(2019, 12, 1), end=date(2019, 12, 2))
    key = (date(2019, 12, 1), ("east",) if by else ())
    # No booking on 2019-12-01: booking_value is a sum over no rows, 0; 0 * 2 views = 0.
    assert _values(whole, "value_x_views")[key] == 0.0
    assert _values(narrow, "value_x_views") == {key: 0.0}


def test_missing_non_additive_input_is_null_whatever_the_range(engine):
    whole = engine.compute(["avg_x_views"], grain="day")
    narrow = engine.compute(["avg_x_views"], grain="day", start=date(2019, 12, 1), end=date(2019, 12, 2))
    assert _values(whole, "avg_x_views")[(date(2019, 12, 1), ())] is None
    assert _values(narrow, "avg_x_views") == {(date(2019, 12, 1), ()): None}
    assert _values(whole, "avg_x_views")[(date(2019, 12, 5), ())] == 7.0  # 7 / 1 booking * 1 view
