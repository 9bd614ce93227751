"""Incremental runs equal a full recomputation after new days, late rows and deletes.

A real DuckDB file is changed between runs; after each change the
incremental run's values are compared with a full Engine.compute of the same
request and, for counts and distinct counts, with plain Python over the rows.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.engine import Engine
from kpiengine.loader import load_project
from kpiengine.run.runs import execute_run

START = datetime(2026, 1, 5)  # a Monday


def rows_for(day: int, n: int, first_id: int):
    return [(first_id + i, START + timedelta(days=day, hours=(i * 5) % 24), ["east", "west", None][i % 3],
             1 + (i * 7) % 5, 10 + i % 9, ["call", "visit"][i % 2]) for i in range(n)]


@pytest.fixture
def warehouse(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE events (id INT, ts TIMESTAMP, region TEXT, rep INT, amount INT, kind TEXT)")
    for day in range(35):
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(day, 12, day * 100))
    con.close()
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "s.yml").write_text(f"""
project: {{name: inc, timezone: UTC, history: hist.db}}
sources:
  w: {{type: duckdb, path: "{db}"}}
models:
  events: {{table: events, time: ts, dimensions: {{region: region}}}}
kpis:
  events: {{label: Events, model: events, aggregate: count}}
  reps: {{label: Active reps, model: events, aggregate: count_distinct, column: rep}}
  visit_amount: {{label: Visit amount, model: events, aggregate: sum, column: amount, filter: "kind = 'visit'"}}
  avg_amount: {{label: Average amount, model: events, aggregate: avg, column: amount}}
  visit_share: {{label: Visit share, formula: visit_amount / (events * 10), unit: percent}}
""", encoding="utf-8")
    return db, spec


def change(db, sql, params=None):
    con = duckdb.connect(str(db))
    if params is None:
        con.execute(sql)
    else:
        con.executemany(sql, params)
    con.close()


def as_map(rows):
    return {(r.kpi, r.period_start, json.dumps(r.dimensions, sort_keys=True)): r.value for r in rows}


def assert_equal_to_full(spec, grain, rs):
    full = Engine(load_project(spec)).compute(None, grain, ["region"])
    got, want = as_map(rs.rows), as_map(full.rows)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert (got[key] is None) == (value is None), key
        assert value is None or math.isclose(got[key], value, rel_tol=1e-12), (key, got[key], value)
        assert type(got[key]) is type(value), key  # ints stay ints
    assert [(r.kpi, r.period_start, r.dimensions) for r in rs.rows] == \
        [(r.kpi, r.period_start, r.dimensions) for r in full.rows]  # the engine's order, values of a KPI together
    # a period still open for the data says so, kept or recomputed, exactly as in the full run
    assert [(r.complete, r.maturing) for r in rs.rows] == [(r.complete, r.maturing) for r in full.rows]


def python_counts(db, grain_start):
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT ts, region, rep FROM events").fetchall()
    con.close()
    events, reps = {}, {}
    for ts, region, rep in rows:
        key = (grain_start(ts.date()), region)
        events[key] = events.get(key, 0) + 1
        reps.setdefault(key, set()).add(rep)
    return events, {k: len(v) for k, v in reps.items()}


def week(d: date) -> date:
    return d - timedelta(days=d.weekday())


def incremental(spec, grain="week", lookback=0):
    return execute_run(load_project(spec), [], grain, ["region"], None, None, incremental=True, lookback=lookback)


def test_new_day_late_rows_and_deletes_equal_a_full_recomputation(warehouse):
    db, spec = warehouse
    first = incremental(spec)
    assert first.incremental.recomputed_from is None  # nothing to start from: computed in full
    assert_equal_to_full(spec, "week", first)

    again = incremental(spec)
    assert again.incremental.reason == "nothing changed"
    assert_equal_to_full(spec, "week", again)

    # one new day, after the last one
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))
    new_day = incremental(spec)
    assert new_day.incremental.recomputed_from == week(date(2026, 2, 9))
    assert_equal_to_full(spec, "week", new_day)

    # late rows in an old period (week 2), including a new rep and a new region value
    late = [(9500 + i, START + timedelta(days=8, hours=i), "north" if i == 0 else "east", 77, 5, "visit")
            for i in range(4)]
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", late)
    late_run = incremental(spec)
    assert late_run.incremental.recomputed_from == date(2026, 1, 12)
    assert_equal_to_full(spec, "week", late_run)
    events, reps = python_counts(db, week)
    got = as_map(late_run.rows)
    assert got["events", date(2026, 1, 12), '{"region": "north"}'] == events[date(2026, 1, 12), "north"] == 1
    assert got["reps", date(2026, 1, 12), '{"region": "east"}'] == reps[date(2026, 1, 12), "east"]

    # deletes: rows of one day, and every row of a region in a week (its group must disappear)
    change(db, "DELETE FROM events WHERE ts >= TIMESTAMP '2026-01-20' AND ts < TIMESTAMP '2026-01-21'")
    change(db, "DELETE FROM events WHERE region = 'north'")
    deleted = incremental(spec)
    assert deleted.incremental.recomputed_from == date(2026, 1, 12)
    assert_equal_to_full(spec, "week", deleted)
    assert not any(r.dimensions == {"region": "north"} for r in deleted.rows)
    events, _ = python_counts(db, week)
    assert as_map(deleted.rows)["events", date(2026, 1, 19), '{"region": "west"}'] == \
        events[date(2026, 1, 19), "west"]
    assert stored_day_counts(spec) == warehouse_day_counts(db)


def open_weeks(rs) -> set[date]:
    return {r.period_start for r in rs.rows if not r.complete}


def test_a_kept_week_closes_when_the_data_passes_it_and_reopens_when_it_goes_back(warehouse):
    db, spec = warehouse
    # the data ends on Wednesday 2026-02-04 at noon: that week is open
    change(db, "DELETE FROM events WHERE ts > TIMESTAMP '2026-02-04 12:00'")
    first = incremental(spec)
    assert open_weeks(first) == {date(2026, 2, 2)}

    # rows on the next Monday: the week of 2026-02-02 is kept from history, and now over for the data
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))
    closed = incremental(spec)
    assert closed.incremental.recomputed_from == date(2026, 2, 9)
    assert open_weeks(closed) == {date(2026, 2, 9)}
    assert_equal_to_full(spec, "week", closed)

    # one row far ahead closes the weeks in between; deleting it takes the reach back to 2026-02-09
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", [(9900, datetime(2026, 3, 20, 9), "east", 1, 1, "call")])
    ahead = incremental(spec)
    assert open_weeks(ahead) == {date(2026, 3, 16)}
    assert_equal_to_full(spec, "week", ahead)
    change(db, "DELETE FROM events WHERE id = 9900")
    back = incremental(spec)
    assert back.incremental.recomputed_from == date(2026, 3, 16)
    assert open_weeks(back) == {date(2026, 2, 9)}  # kept, and open again: the data ends there
    assert_equal_to_full(spec, "week", back)


def test_rows_on_the_watermark_day_and_a_day_with_nothing_new(warehouse):
    """The last day of the last run got more rows (it was loaded in part): counting only the days after
    it misses them, so the run counts again from that day on, and a run with nothing new changes nothing."""
    db, spec = warehouse
    incremental(spec)
    last_day = START + timedelta(days=34)  # a Sunday: its week started on day 28
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
           [(8000 + i, last_day + timedelta(hours=20, minutes=i), "west", 40 + i, 3, "visit") for i in range(5)])
    run = incremental(spec)
    assert run.incremental.recomputed_from == week(last_day.date())
    assert run.incremental.changed_days == 1
    assert_equal_to_full(spec, "week", run)
    events, reps = python_counts(db, week)
    got = as_map(run.rows)
    assert got["events", week(last_day.date()), '{"region": "west"}'] == events[week(last_day.date()), "west"]
    assert got["reps", week(last_day.date()), '{"region": "west"}'] == reps[week(last_day.date()), "west"]
    assert stored_day_counts(spec) == warehouse_day_counts(db)

    # the new rows and one more day together, then nothing new at all
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(34, 3, 8100) + rows_for(35, 4, 8200))
    both = incremental(spec)
    assert both.incremental.recomputed_from == week(last_day.date())
    assert both.incremental.changed_days == 2
    assert_equal_to_full(spec, "week", both)
    assert stored_day_counts(spec) == warehouse_day_counts(db)
    quiet = incremental(spec)
    assert quiet.incremental.reason == "nothing changed"
    assert_equal_to_full(spec, "week", quiet)


def test_new_rows_after_a_gap_of_days_at_day_grain(warehouse):
    """Rows three days after the last one: the periods computed ahead from the day after the watermark
    include two empty days, and only the days from the first new one on are taken."""
    db, spec = warehouse
    incremental(spec, grain="day")
    gap_day = START + timedelta(days=37)
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(37, 6, 9100))
    run = incremental(spec, grain="day")
    assert run.incremental.recomputed_from == gap_day.date()
    assert_equal_to_full(spec, "day", run)
    events, reps = python_counts(db, lambda d: d)
    got = as_map(run.rows)
    for region in ("east", "west"):
        key = '{"region": "%s"}' % region
        assert got["events", gap_day.date(), key] == events[gap_day.date(), region]
        assert got["reps", gap_day.date(), key] == reps[gap_day.date(), region]
    assert not any(r.period_start in (date(2026, 2, 9), date(2026, 2, 10)) for r in run.rows)


def test_lookback_and_month_grain(warehouse):
    db, spec = warehouse
    incremental(spec, "month")
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(40, 5, 8000))  # 2026-02-14
    rs = incremental(spec, "month", lookback=1)
    assert rs.incremental.recomputed_from == date(2026, 1, 1)  # February, one month earlier
    assert_equal_to_full(spec, "month", rs)


def test_a_changed_spec_or_request_computes_in_full(warehouse):
    db, spec = warehouse
    incremental(spec)
    with open(spec / "s.yml", "a", encoding="utf-8") as fh:
        fh.write("  calls: {label: Calls, model: events, aggregate: count, filter: \"kind = 'call'\"}\n")
    rs = incremental(spec)
    assert rs.incremental.recomputed_from is None and "no earlier run" in rs.incremental.reason
    assert_equal_to_full(spec, "week", rs)


def test_cli_incremental_reports_what_it_did(warehouse):
    db, spec = warehouse
    args = ["run", "-s", str(spec), "--by", "region", "--format", "json", "--incremental"]
    CliRunner().invoke(main, args, catch_exceptions=False)
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(36, 3, 9900))
    out = json.loads(CliRunner().invoke(main, args, catch_exceptions=False).output)
    assert out["incremental"]["recomputed_from"] == "2026-02-09"
    res = CliRunner().invoke(main, ["run", "-s", str(spec), "--incremental", "--no-history"])
    assert res.exit_code == 2 and "drop --no-history" in res.output


def stored_rows(spec, run_id):
    import sqlite3

    con = sqlite3.connect(str(spec / "hist.db"))
    try:
        return con.execute("SELECT COUNT(*) FROM kpi_values WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        con.close()


def assert_history_reads_equal_full(spec, grain="week"):
    from kpiengine.run.history import HistoryStore

    project = load_project(spec)
    full = as_map(Engine(project).compute(None, grain, ["region"]).rows)
    stored = as_map(HistoryStore.for_project(project).values(None, grain, ["region"]))
    assert stored.keys() >= full.keys()
    for key, value in full.items():
        assert (stored[key] is None) == (value is None), key
        assert value is None or math.isclose(stored[key], value, rel_tol=1e-12), (key, stored[key], value)


def test_history_stores_only_recomputed_values_and_reads_stay_exact(warehouse):
    db, spec = warehouse
    first = incremental(spec)
    assert stored_rows(spec, first.run_id) == len(first.rows)  # a full computation is stored whole

    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))  # 2026-02-09
    new_day = incremental(spec)
    assert_equal_to_full(spec, "week", new_day)
    recomputed = [r for r in new_day.rows if r.period_start >= date(2026, 2, 9)]
    assert 0 < len(recomputed) < len(new_day.rows)
    assert stored_rows(spec, new_day.run_id) == len(recomputed)
    assert_history_reads_equal_full(spec)

    nothing = incremental(spec)
    assert nothing.incremental.reason == "nothing changed" and stored_rows(spec, nothing.run_id) == 0
    assert_equal_to_full(spec, "week", nothing)
    assert_history_reads_equal_full(spec)

    # late rows two weeks back, then a new day: each run keeps what the chain of runs before it stored
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
           [(9700 + i, START + timedelta(days=22, hours=i), "west", 3, 40, "visit") for i in range(3)])
    late = incremental(spec)
    assert late.incremental.recomputed_from == date(2026, 1, 26)
    assert_equal_to_full(spec, "week", late)
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(36, 5, 9800))
    after = incremental(spec)
    assert_equal_to_full(spec, "week", after)
    assert_history_reads_equal_full(spec)
    events, reps = python_counts(db, week)
    got = as_map(after.rows)
    assert got["events", date(2026, 1, 26), '{"region": "west"}'] == events[date(2026, 1, 26), "west"]
    assert got["reps", date(2026, 2, 9), '{"region": "east"}'] == reps[date(2026, 2, 9), "east"]


def assert_history_reads_equal(spec, rs):
    """What history reads back for a run's keys is that run's values, as if it was stored whole."""
    from kpiengine.run.history import HistoryStore

    stored = as_map(HistoryStore.for_project(load_project(spec)).values(None, rs.grain, rs.by))
    for key, value in as_map(rs.rows).items():
        assert (stored[key] is None) == (value is None), key
        assert value is None or math.isclose(stored[key], value, rel_tol=1e-12), (key, stored[key], value)


def test_another_run_in_between_makes_the_next_incremental_run_store_whole(warehouse):
    db, spec = warehouse
    incremental(spec)
    # A row changed in place (same day, same count: the day counts cannot see it), then a full run of
    # one KPI at the same grain and breakdown: its week-1 value is the latest stored, and differs from
    # the one the next incremental run keeps. That run must store its own values again.
    change(db, "UPDATE events SET amount = amount + 1000 WHERE id = 1")  # a visit on 2026-01-05
    between = execute_run(load_project(spec), ["visit_amount"], "week", ["region"], None, None)
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))
    rs = incremental(spec)
    assert rs.incremental.recomputed_from == date(2026, 2, 9)
    key = ("visit_amount", date(2026, 1, 5), '{"region": "west"}')
    assert as_map(rs.rows)[key] == as_map(between.rows)[key] - 1000  # kept from before the change
    assert stored_rows(spec, rs.run_id) == len(rs.rows)
    assert_history_reads_equal(spec, rs)
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(36, 4, 9900))
    again = incremental(spec)  # nothing came between this time: only the recomputed week is stored
    assert stored_rows(spec, again.run_id) == len([r for r in again.rows if r.period_start >= date(2026, 2, 9)])
    assert_history_reads_equal(spec, again)


def test_rows_without_a_time_and_history_of_an_older_kpiengine(warehouse):
    import sqlite3

    db, spec = warehouse
    change(db, "INSERT INTO events VALUES (5000, NULL, 'east', 1, 1, 'call')")  # no time: in no period
    incremental(spec)
    con = sqlite3.connect(str(spec / "hist.db"))
    for table in ("incremental_values", "incremental_kept", "incremental_periods"):  # as an older kpiengine
        con.execute(f"DELETE FROM {table}")  # left it: no values kept
    con.commit()
    con.close()
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))
    rs = incremental(spec)  # keeps the last run's stored values, stores whole
    assert rs.incremental.recomputed_from == date(2026, 2, 9)
    assert stored_rows(spec, rs.run_id) == len(rs.rows)
    assert_equal_to_full(spec, "week", rs)
    change(db, "INSERT INTO events VALUES (5001, NULL, 'west', 1, 1, 'call')")
    same = incremental(spec)  # a row without a time changes no day
    assert same.incremental.reason == "nothing changed"
    assert_equal_to_full(spec, "week", same)


def kept_periods(spec):
    import sqlite3

    con = sqlite3.connect(str(spec / "hist.db"))
    try:
        return [r[0] for r in con.execute("SELECT period_start FROM incremental_periods ORDER BY 1")]
    finally:
        con.close()


def test_kept_values_are_rewritten_only_from_the_restart_and_an_emptied_period_goes(warehouse):
    import sqlite3

    db, spec = warehouse
    incremental(spec)
    weeks = kept_periods(spec)
    assert weeks[0] == "2026-01-05" and weeks[-1] == "2026-02-02"  # one text per period
    con = sqlite3.connect(str(spec / "hist.db"))
    con.execute("UPDATE incremental_periods SET payload = payload || ' ' WHERE period_start < '2026-02-02'")
    con.commit()  # a mark on the texts a run from 2026-02-02 on must leave alone
    con.close()
    change(db, "DELETE FROM events WHERE ts >= TIMESTAMP '2026-02-02'")  # the whole last week
    emptied = incremental(spec)
    assert emptied.incremental.recomputed_from == date(2026, 2, 2)
    assert_equal_to_full(spec, "week", emptied)
    assert not any(r.period_start == date(2026, 2, 2) for r in emptied.rows)
    assert kept_periods(spec) == weeks[:-1]  # the emptied week's text is gone with its values
    con = sqlite3.connect(str(spec / "hist.db"))
    marked = con.execute("SELECT COUNT(*) FROM incremental_periods WHERE payload LIKE '% '").fetchone()[0]
    con.close()
    assert marked == len(weeks) - 1  # kept periods were not written again
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(36, 7, 9900))  # 2026-02-10
    back = incremental(spec)
    assert back.incremental.recomputed_from == date(2026, 2, 9)  # the week of the one changed day
    assert_equal_to_full(spec, "week", back)
    events, reps = python_counts(db, week)
    got = as_map(back.rows)
    assert got["events", date(2026, 2, 9), '{"region": "east"}'] == events[date(2026, 2, 9), "east"]
    assert got["reps", date(2026, 1, 26), '{"region": "west"}'] == reps[date(2026, 1, 26), "west"]
    assert_history_reads_equal_full(spec)
    assert stored_day_counts(spec) == warehouse_day_counts(db)  # only the changed days were written again


def stored_day_counts(spec):
    import sqlite3

    con = sqlite3.connect(str(spec / "hist.db"))
    try:
        return dict(con.execute("SELECT day, rows FROM incremental_days WHERE model = 'events'").fetchall())
    finally:
        con.close()


def warehouse_day_counts(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {d.isoformat(): n for d, n in con.execute(
            "SELECT ts::DATE, COUNT(*) FROM events WHERE ts IS NOT NULL GROUP BY 1").fetchall()}
    finally:
        con.close()


def test_history_of_the_one_text_kpiengine_is_kept_then_replaced_by_periods(warehouse):
    """History written before per-period texts: every value of the request in one incremental_values text."""
    import sqlite3

    db, spec = warehouse
    first = incremental(spec)
    dims = sorted({json.dumps(r.dimensions, sort_keys=True) for r in first.rows})
    text = json.dumps({"dimensions": dims, "rows": [[r.kpi, r.grain, r.period_start.isoformat(),
                                                       dims.index(json.dumps(r.dimensions, sort_keys=True)),
                                                       r.value] for r in first.rows]})
    con = sqlite3.connect(str(spec / "hist.db"))
    signature = con.execute("SELECT signature FROM incremental_runs").fetchone()[0]
    con.execute("DELETE FROM incremental_kept")
    con.execute("DELETE FROM incremental_periods")
    con.execute("INSERT INTO incremental_values VALUES (?, ?, ?)", (signature, first.run_id, text))
    con.commit()
    con.close()
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(35, 12, 9000))
    rs = incremental(spec)
    assert rs.incremental.recomputed_from == date(2026, 2, 9)
    assert_equal_to_full(spec, "week", rs)
    assert stored_rows(spec, rs.run_id) == len([r for r in rs.rows if r.period_start >= date(2026, 2, 9)])
    con = sqlite3.connect(str(spec / "hist.db"))
    assert con.execute("SELECT COUNT(*) FROM incremental_values").fetchone()[0] == 0
    con.close()
    assert kept_periods(spec)[-1] == "2026-02-09"
    change(db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows_for(36, 4, 9950))
    assert_equal_to_full(spec, "week", incremental(spec))
    assert_history_reads_equal_full(spec)
    assert stored_day_counts(spec) == warehouse_day_counts(db)
