"""A segment filter (``filter=region=east``) computed on the warehouse as a query filter, not a cut.

History serves the segment's totals (the stored breakdown by region, cut); what history
lacks (by channel within east) is computed with ``region = 'east'`` as the query filter.
Expected numbers are plain SQL over the demo tables, written here; the NULL channel
(untracked leads) is the trap a text comparison would fall into.
"""
from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK
from kpiengine.dashboard.history_feed import has_literals, segment_where, sql_literal

WEEK = PLANTED_WEEK.isoformat()
BEFORE = (PLANTED_WEEK - timedelta(days=7)).isoformat()
IN_WEEK = "{t} >= CAST(? AS DATE) AND {t} < CAST(? AS DATE) + INTERVAL 7 DAY"


def _sql(db, sql: str, params: list) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(sql, params).fetchall())
    finally:
        con.close()


def _inputs(demo_env, **raw):
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.loader import load_project

    project = load_project(demo_env["specs"])
    return collect(project, parse_options(project, raw))


def test_literals_keep_the_type_and_double_quotes():
    assert sql_literal("o'hara") == "'o''hara'"
    assert sql_literal(3) == "3" and sql_literal(2.5) == "2.5" and sql_literal(True) == "TRUE"
    assert segment_where({"region": "east", "channel": None}, "rep = 'x'") == \
        "region = 'east' AND channel IS NULL AND (rep = 'x')"
    # NaN and infinity have no literal: such a segment is cut from a breakdown, never written into SQL
    for odd in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="no SQL literal"):
            sql_literal(odd)
        assert not has_literals({"score": odd, "region": "east"})
    assert has_literals({"score": 2.5, "region": None})


def test_channel_within_east_is_the_plain_sql_of_east(demo_env):
    db = demo_env["db"]
    inputs = _inputs(demo_env, by="channel", period=WEEK, filter=f"region={PLANTED_REGION}")
    assert "computed live from the warehouse" in inputs.source["text"]  # no stored run by region and channel
    table, week = inputs.breakdown, PLANTED_WEEK
    visits = _sql(db, "SELECT channel, count(*) FROM activities WHERE kind = 'visit' AND region = ? AND "
                      f"{IN_WEEK.format(t='happened_at')} GROUP BY 1", [PLANTED_REGION, WEEK, WEEK])
    assert {dict(k)["channel"]: table.get("visits", week, k) for k in table.keys("visits")} == visits
    assert None in visits  # the untracked channel is a row of its own, not dropped by the filter
    # a distinct count and a ratio of two of them (formula), per channel
    ordering = _sql(db, "SELECT channel, count(DISTINCT customer_id) FROM orders WHERE region = ? AND "
                        f"{IN_WEEK.format(t='ordered_at')} GROUP BY 1", [PLANTED_REGION, WEEK, WEEK])
    returning = _sql(db, "SELECT channel, count(DISTINCT customer_id) FROM orders WHERE region = ? AND is_repeat AND "
                         f"{IN_WEEK.format(t='ordered_at')} GROUP BY 1", [PLANTED_REGION, WEEK, WEEK])
    for channel, n in ordering.items():
        key = (("channel", channel),)
        assert table.get("active_customers", week, key) == n, channel
        assert table.get("retention_rate", week, key) == pytest.approx(returning.get(channel, 0) / n), channel
    # a formula reading the period before (week over week) inside the segment
    revenue = {w: _sql(db, "SELECT channel, sum(amount) FROM deals WHERE stage = 'won' AND region = ? AND "
                           f"{IN_WEEK.format(t='closed_at')} GROUP BY 1", [PLANTED_REGION, w, w]) for w in (BEFORE, WEEK)}
    for channel, now in revenue[WEEK].items():
        was = revenue[BEFORE].get(channel)
        if was:
            assert table.get("revenue_wow", week, (("channel", channel),)) == pytest.approx(float(now) / float(was) - 1)
    # the totals of the segment still come from history (the stored run by region), cut to east
    assert inputs.totals.get("visits", week) == sum(visits.values())


def test_the_null_segment_is_filtered_with_is_null(demo_env):
    db = demo_env["db"]
    inputs = _inputs(demo_env, by="region", period=WEEK, filter="channel=∅")
    visits = _sql(db, "SELECT region, count(*) FROM activities WHERE kind = 'visit' AND channel IS NULL AND "
                      f"{IN_WEEK.format(t='happened_at')} GROUP BY 1", [WEEK, WEEK])
    table = inputs.breakdown
    assert {dict(k)["region"]: table.get("visits", PLANTED_WEEK, k) for k in table.keys("visits")} == visits
    assert inputs.totals.get("visits", PLANTED_WEEK) == sum(visits.values())
