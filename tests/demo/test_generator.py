"""The demo warehouse: deterministic, shaped like a real sales warehouse, with bad options refused clearly."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kpiengine.cli.demo_data import DEMO_END, DemoError, build_demo, checksum

# Checksum of build_demo(seed=7, weeks=3, scale=0.05): pinned so a change of the
# generator, or a platform or DuckDB version that would give other data, is seen.
# If you change the generator on purpose, update it (and say so in the commit).
SMALL_CHECKSUM = "b5514e0542a0dfb30cf38f472e5a9662"
# The same for the default warehouse that `kpi demo` writes.
DEFAULT_CHECKSUM = "dce9806232f6b8ab4be2f14a89f4a100"


def test_same_seed_gives_identical_tables(demo_info, tmp_path):
    again = build_demo(str(tmp_path / "again.duckdb"))
    assert again.row_counts == demo_info.row_counts
    assert checksum(again.path) == checksum(demo_info.path) == DEFAULT_CHECKSUM


def test_other_seed_gives_other_data(tmp_path):
    a = build_demo(str(tmp_path / "a.duckdb"), seed=7, weeks=3, scale=0.05)
    b = build_demo(str(tmp_path / "b.duckdb"), seed=8, weeks=3, scale=0.05)
    assert checksum(a.path) != checksum(b.path)
    assert checksum(a.path) == SMALL_CHECKSUM


def test_rebuild_replaces_the_file(tmp_path):
    path = str(tmp_path / "w.duckdb")
    first = build_demo(path, seed=7, weeks=3, scale=0.05)
    second = build_demo(path, seed=7, weeks=2, scale=0.05)
    assert second.row_counts["rep_mindset"] == 60 * 2 < first.row_counts["rep_mindset"]
    assert not (tmp_path / "w.duckdb.building").exists()


def test_tables_and_volume(demo_info, demo_con):
    counts = demo_info.row_counts
    assert set(counts) == {"reps", "rep_mindset", "leads", "activities", "deals", "customers", "orders"}
    assert 250_000 <= demo_info.total_rows <= 600_000, counts
    assert counts["reps"] == 60
    assert counts["rep_mindset"] == 60 * 26
    cols = {t: [r[0] for r in demo_con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [t]).fetchall()] for t in counts}
    assert {"rep_id", "name", "region", "team", "mindset_score"} <= set(cols["reps"])
    assert {"rep_id", "week_start", "score"} <= set(cols["rep_mindset"])
    assert {"lead_id", "created_at", "channel", "region", "rep_id"} <= set(cols["leads"])
    assert {"activity_id", "rep_id", "lead_id", "kind", "happened_at", "region", "channel"} <= set(cols["activities"])
    assert {"deal_id", "lead_id", "rep_id", "region", "channel", "stage", "created_at", "closed_at",
            "amount"} <= set(cols["deals"])
    assert {"customer_id", "referred_by", "first_order_at"} <= set(cols["customers"])
    assert {"order_id", "customer_id", "ordered_at", "amount", "is_repeat"} <= set(cols["orders"])


def test_time_range_is_26_weeks_before_the_fixed_end(demo_info, demo_con):
    start = DEMO_END - timedelta(weeks=26)
    assert demo_info.start == start and start.isoweekday() == 1
    for table, col in [("leads", "created_at"), ("activities", "happened_at"), ("deals", "created_at"),
                       ("deals", "closed_at"), ("orders", "ordered_at")]:
        lo, hi = demo_con.execute(f"SELECT min({col}), max({col}) FROM {table}").fetchone()
        assert lo >= datetime.combine(start, datetime.min.time()), (table, col, lo)
        assert hi < datetime.combine(DEMO_END, datetime.min.time()), (table, col, hi)
    weeks = demo_con.execute("SELECT count(DISTINCT week_start), min(week_start), max(week_start) "
                             "FROM rep_mindset").fetchone()
    assert weeks == (26, start, DEMO_END - timedelta(weeks=1))


def test_values_are_realistic(demo_con):
    regions = {r[0] for r in demo_con.execute("SELECT DISTINCT region FROM leads").fetchall()}
    assert regions == {"north", "south", "east", "west", "central"}
    channels = {r[0] for r in demo_con.execute("SELECT DISTINCT channel FROM leads").fetchall()}
    assert channels == {"web", "referral", "event", "cold_call", "partner", None}
    null_share = demo_con.execute("SELECT avg((channel IS NULL)::INT) FROM leads").fetchone()[0]
    assert 0.01 < null_share < 0.06
    assert {r[0] for r in demo_con.execute("SELECT DISTINCT kind FROM activities").fetchall()} == \
        {"call", "visit", "meeting"}
    assert {r[0] for r in demo_con.execute("SELECT DISTINCT stage FROM deals").fetchall()} == \
        {"proposal", "negotiation", "won", "lost"}
    lo, hi = demo_con.execute("SELECT min(score), max(score) FROM rep_mindset").fetchone()
    assert 0 <= lo < hi <= 10
    assert demo_con.execute("SELECT count(*) FROM deals WHERE amount <= 0").fetchone()[0] == 0
    assert demo_con.execute("SELECT count(*) FROM orders WHERE amount <= 0").fetchone()[0] == 0


def test_weekends_are_quiet(demo_con):
    per_day = dict(demo_con.execute(
        "SELECT isodow(happened_at), count(*) / count(DISTINCT happened_at::DATE) FROM activities GROUP BY 1"
    ).fetchall())
    weekday = sum(per_day[d] for d in range(1, 6)) / 5
    assert per_day[6] < 0.4 * weekday and per_day[7] < 0.4 * weekday


def test_keys_and_references_hold(demo_con):
    q = demo_con.execute
    for table, key in [("reps", "rep_id"), ("leads", "lead_id"), ("activities", "activity_id"),
                       ("deals", "deal_id"), ("customers", "customer_id"), ("orders", "order_id")]:
        n, distinct = q(f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchone()
        assert n == distinct, table
    assert q("SELECT count(*) FROM activities a ANTI JOIN leads l USING (lead_id)").fetchone()[0] == 0
    assert q("SELECT count(*) FROM deals d ANTI JOIN leads l USING (lead_id)").fetchone()[0] == 0
    assert q("SELECT count(*) FROM leads l ANTI JOIN reps r USING (rep_id)").fetchone()[0] == 0
    # an activity is on a lead of its own region, owned by the lead's rep, after the lead arrived
    assert q("""SELECT count(*) FROM activities a JOIN leads l USING (lead_id)
                WHERE a.region <> l.region OR a.rep_id <> l.rep_id OR a.happened_at < l.created_at""").fetchone()[0] == 0
    # one customer per won deal; a referrer is an earlier customer of the same region
    assert q("SELECT count(*) FROM deals WHERE stage = 'won'").fetchone()[0] == q(
        "SELECT count(*) FROM customers").fetchone()[0]
    assert q("""SELECT count(*) FROM customers c JOIN customers r ON r.customer_id = c.referred_by
                WHERE r.region <> c.region OR r.first_order_at > c.first_order_at""").fetchone()[0] == 0
    assert q("SELECT count(*) FROM customers WHERE referred_by IS NOT NULL AND channel <> 'referral'"
             ).fetchone()[0] == 0
    # every customer's first order is its won deal; repeats come later
    assert q("""SELECT count(*) FROM customers c ANTI JOIN orders o
                ON o.customer_id = c.customer_id AND NOT o.is_repeat AND o.ordered_at = c.first_order_at"""
             ).fetchone()[0] == 0
    assert q("""SELECT count(*) FROM orders o JOIN customers c USING (customer_id)
                WHERE o.is_repeat AND o.ordered_at <= c.first_order_at""").fetchone()[0] == 0


def test_deals_close_in_their_visit_week_and_recent_ones_stay_open(demo_con):
    q = demo_con.execute
    assert q("""SELECT count(*) FROM deals WHERE stage IN ('won', 'lost')
                AND (closed_at IS NULL OR closed_at < created_at
                     OR date_trunc('week', closed_at) <> date_trunc('week', created_at))""").fetchone()[0] == 0
    open_min = q("SELECT min(created_at) FROM deals WHERE stage IN ('proposal', 'negotiation')").fetchone()[0]
    assert open_min >= datetime.combine(DEMO_END - timedelta(weeks=3), datetime.min.time())
    assert q("SELECT count(*) FROM deals WHERE stage IN ('proposal', 'negotiation') AND closed_at IS NOT NULL"
             ).fetchone()[0] == 0


@pytest.mark.parametrize("kwargs, words", [
    ({"weeks": 1}, "weeks must be an integer from 2 to 260"),
    ({"scale": 0}, "scale must be a number from 0.01 to 100"),
    ({"seed": -1}, "seed must be an integer"),
    ({"seed": "x"}, "seed must be an integer"),
])
def test_bad_options_are_refused(tmp_path, kwargs, words):
    with pytest.raises(DemoError, match=words):
        build_demo(str(tmp_path / "x.duckdb"), **kwargs)
    assert not (tmp_path / "x.duckdb").exists()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DemoError, match="folder .* does not exist"):
        build_demo(str(tmp_path / "nope" / "x.duckdb"))


def test_unwritable_target_is_a_clear_error(tmp_path):
    (tmp_path / "x.duckdb.building").mkdir()  # something in the way of the temporary file
    with pytest.raises(DemoError, match="x.duckdb.building"):
        build_demo(str(tmp_path / "x.duckdb"), weeks=2, scale=0.05)
