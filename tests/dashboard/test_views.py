"""The data behind each view, checked against numbers worked out by hand from conftest's tables."""
from __future__ import annotations

import statistics

import pytest
from dash_testdata import CHURN, REVENUE, VISITS, WEEKS, WON

from kpiengine.dashboard import data
from kpiengine.dashboard.inputs import AlertRecord, AlertSnapshot, FunnelData, Threshold
from kpiengine.dashboard.options import DashboardError, parse_options

LAST, PREV = WEEKS[-1].isoformat(), WEEKS[-2].isoformat()


def total(table, i):
    return sum(table[r][i] for r in table)


def test_tiles_show_current_value_and_change_against_previous_week(make_inputs):
    view = data.process_view(make_inputs())
    assert (view["current"], view["previous"]) == (LAST, PREV)
    conv = view["tiles"]["conversion"]
    now, before = total(WON, 2) / total(VISITS, 2), total(WON, 1) / total(VISITS, 1)
    assert conv["value"] == pytest.approx(now)
    assert conv["previous"] == pytest.approx(before)
    assert conv["display"] == f"{now * 100:.1f}%"
    # a rate's change is shown in percentage points, and a drop is bad for a higher-is-better KPI
    assert conv["change"]["text"] == f"{(now - before) * 100:+.1f} pp"
    assert conv["tone"] == "bad"
    visits = view["tiles"]["visits"]
    assert visits["display"] == f"{total(VISITS, 2):,}"
    assert visits["change"]["rel"] == pytest.approx(total(VISITS, 2) / total(VISITS, 1) - 1)
    assert visits["tone"] == "good"
    assert visits["spark"] == [total(VISITS, i) for i in range(3)]


def test_direction_lower_makes_a_drop_good_news(make_inputs):
    churn = data.process_view(make_inputs())["tiles"]["churn"]
    assert churn["change"]["abs"] == pytest.approx(CHURN[2] - CHURN[1])
    assert churn["tone"] == "good"


def test_process_tree_places_kpis_on_their_nodes_and_the_rest_under_other(make_inputs):
    view = data.process_view(make_inputs())
    nodes = view["nodes"]
    assert view["roots"] == ["sales", data.UNASSIGNED]
    assert nodes["sales"]["children"] == ["visiting", "closing"]
    assert nodes["visiting"]["kpis"] == ["visits"]
    assert nodes["closing"]["kpis"] == ["deals_won", "revenue", "conversion"]
    assert nodes[data.UNASSIGNED]["kpis"] == ["churn"]  # no `process:` in the spec
    assert set(nodes["sales"]["subtree_kpis"]) == {"visits", "deals_won", "revenue", "conversion"}
    assert nodes["closing"]["path"] == ["銷售體系 Sales", "成交 Closing"]


def test_choosing_an_earlier_period_changes_the_numbers(make_inputs):
    view = data.process_view(make_inputs(period=WEEKS[1].isoformat()))
    assert view["tiles"]["deals_won"]["value"] == total(WON, 1)
    assert view["tiles"]["deals_won"]["previous"] == total(WON, 0)
    # a day inside a week selects that week
    view = data.process_view(make_inputs(period="2026-10-21"))
    assert view["current"] == WEEKS[1].isoformat()


def test_breakdown_ranks_the_collapsing_region_first(make_inputs):
    view = data.process_view(make_inputs(by="region"))
    rows = view["tiles"]["conversion"]["breakdown"]
    assert rows[0]["name"] == "east"
    assert rows[0]["value"] == pytest.approx(WON["east"][2] / VISITS["east"][2])
    assert rows[0]["change"]["abs"] == pytest.approx(WON["east"][2] / VISITS["east"][2] - WON["east"][1] / VISITS["east"][1])
    # the weight of a rate's segment is its share of the denominator over both weeks
    east_visits = VISITS["east"][1] + VISITS["east"][2]
    assert rows[0]["weight"] == pytest.approx(east_visits / (east_visits + VISITS["west"][1] + VISITS["west"][2]))
    assert view["tiles"]["conversion"]["worst"]["name"] == "east"
    assert view["nodes"]["closing"]["attention"] >= 1


def test_attention_lists_the_regional_drop_with_a_readable_sentence(make_inputs):
    att = data.attention_view(make_inputs(by="region"))
    first = att["items"][0]
    assert (first["kpi"], first["scope"]) in {("conversion", "east"), ("revenue", "east"), ("deals_won", "east")}
    texts = [i["text"] for i in att["items"]]
    east_conv = WON["east"][2] / VISITS["east"][2]
    assert any(t.startswith("轉化率 Conversion — region east: ") and f"{east_conv * 100:.1f}%" in t for t in texts)
    assert not any(i["kpi"] == "churn" for i in att["items"])  # churn improved


def test_firing_alert_goes_first_and_colours_tile_and_node(make_inputs):
    inputs = make_inputs(by="region")
    inputs.alerts = AlertSnapshot(available=True, active=[
        AlertRecord(rule="visits_low", kpi="visits", state="firing", severity="warning", dimensions={"region": "west"}),
        AlertRecord(rule="conv_low", kpi="conversion", state="pending", dimensions={"region": "east"}),
    ])
    view = data.process_view(inputs)
    assert view["tiles"]["visits"]["status"] == "firing"
    west = next(r for r in view["tiles"]["visits"]["breakdown"] if r["name"] == "west")
    east = next(r for r in view["tiles"]["visits"]["breakdown"] if r["name"] == "east")
    assert (west["status"], east["status"]) == ("firing", "ok")
    assert view["nodes"]["visiting"]["status"] == "firing"
    assert view["nodes"]["sales"]["status"] == "firing"  # the worst state bubbles up the tree
    assert view["tiles"]["conversion"]["status"] == "pending"
    att = data.attention_view(inputs, view)
    assert att["items"][0]["kpi"] == "visits" and att["items"][0]["status"] == "firing"


def test_silenced_alert_shows_as_silenced(make_inputs):
    inputs = make_inputs()
    inputs.alerts = AlertSnapshot(available=True, active=[
        AlertRecord(rule="r", kpi="revenue", state="firing", silenced=True)])
    assert data.process_view(inputs)["tiles"]["revenue"]["status"] == "silenced"
    alerts = data.alerts_view(inputs)
    assert alerts["counts"] == {"firing": 0, "pending": 0, "silenced": 1}


def test_trends_carry_thresholds_targets_and_fired_markers(make_inputs):
    inputs = make_inputs(by="region")
    inputs.alerts = AlertSnapshot(available=True, thresholds=[
        Threshold("conversion", "warning", "below", value=0.12, rule="conv_low"),
        Threshold("visits", "critical", "above", value=999, rule="other")],
        fired=[{"kpi": "conversion", "period_start": LAST, "severity": "critical", "dimensions": {"region": "east"}},
               {"kpi": "conversion", "period_start": "2020-01-06", "severity": "warning", "dimensions": {}}])
    trends = {t["kpi"]: t for t in data.trends_view(inputs)["kpis"]}
    conv = trends["conversion"]
    assert [s["name"] for s in conv["series"]] == ["total", "east", "west"]
    east = conv["series"][1]["values"]
    assert east == pytest.approx([WON["east"][i] / VISITS["east"][i] for i in range(3)])
    assert conv["thresholds"] == [{"severity": "warning", "op": "below", "value": 0.12, "low": None, "high": None,
                                   "rule": "conv_low", "dimensions": {}}]
    assert conv["targets"] == [{"name": "target", "value": 0.18, "dimensions": {}}]
    assert [m["period_start"] for m in conv["markers"]] == [LAST]  # the 2020 one is outside the chart
    assert trends["churn"]["thresholds"] == [] and trends["churn"]["targets"] == []


def test_team_bubbles_medians_and_quadrants(make_inputs):
    team = data.team_view(make_inputs(bubble_by="region"))
    assert team["x"]["kpi"] == "visits" and team["y"]["kpi"] == "conversion" and team["size"]["kpi"] == "revenue"
    xs = [VISITS[r][2] for r in VISITS]
    ys = [WON[r][2] / VISITS[r][2] for r in VISITS]
    assert team["median_x"] == pytest.approx(statistics.median(xs))
    assert team["median_y"] == pytest.approx(sorted(ys)[0] / 2 + sorted(ys)[1] / 2)
    by_name = {b["name"]: b for b in team["bubbles"]}
    assert by_name["east"]["size"] == REVENUE["east"][2]
    # east: fewer visits and lower conversion than the median -> needs both; west is the star
    assert by_name["east"]["quadrant"] == "both"
    assert by_name["west"]["quadrant"] == "star"
    assert team["counts"] == {"star": 1, "more_visits": 0, "better_conversion": 0, "both": 1}
    assert team["bubbles"][0]["name"] == "west"  # biggest first, so small bubbles stay on top


def test_team_view_explains_itself_when_axes_are_missing(make_inputs, unit_project):
    inputs = make_inputs()
    inputs.options.bubble_y = None
    out = data.team_view(inputs)
    assert out["empty"] and "bubble_y" in out["reason"]


def test_funnel_conversion_from_previous_and_from_top():
    steps = [{"id": "lead", "label": "線索 Lead", "tier": "free"}, {"id": "visit", "label": "Visit", "tier": "traffic"},
             {"id": "won", "label": "Won", "tier": "profit"}]
    stages = data.funnel_stages(steps, [400, 100, 20], [None, 86400.0, 3600.0 * 5])
    assert [s["entities"] for s in stages] == [400, 100, 20]
    assert stages[1]["from_previous"] == pytest.approx(100 / 400)
    assert stages[2]["from_previous"] == pytest.approx(20 / 100)
    assert stages[2]["from_top"] == pytest.approx(20 / 400)
    assert stages[2]["from_top_display"] == "5.0%"
    assert stages[1]["drop_off"] == 300 and stages[0]["drop_off"] is None
    assert stages[0]["tier"] == "free" and stages[1]["median_display"] == "1d"
    assert data.funnel_stages(steps, [0, 0, 0])[1]["from_previous"] is None  # no division by zero


def test_funnel_view_puts_previous_and_current_side_by_side(make_inputs):
    inputs = make_inputs()
    f = FunnelData("sales", "Sales funnel", [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}], by="region")
    f.counts = {PREV: {"": [50, 10], "east": [20, 5]}, LAST: {"": [60, 6], "east": [30, 1]}}
    view = data.funnel_view(inputs)  # no funnel in inputs: explained
    assert view["empty"] and "funnel" in view["reason"]
    inputs.funnels = [f]
    cols = data.funnel_view(inputs)["funnels"][0]["columns"]
    assert [c["period"] for c in cols] == [PREV, LAST]
    assert cols[1]["total"][1]["from_previous"] == pytest.approx(6 / 60)
    assert cols[1]["breakdown"][0]["name"] == "east"
    assert cols[1]["breakdown"][0]["from_previous"][1] == pytest.approx(1 / 30)
    # east converts 1/30 against the total's 6/60 at step B: marked as where it falls behind
    assert cols[1]["breakdown"][0]["worst"] == 1
    assert cols[1]["breakdown"][0]["worst_gap_display"] == f"{(1 / 30 - 6 / 60) * 100:+.1f} pp"


def test_alerts_view_orders_firing_critical_first(make_inputs):
    inputs = make_inputs()
    assert data.alerts_view(inputs)["empty"]  # alerting never ran
    inputs.alerts = AlertSnapshot(available=True, active=[
        AlertRecord(rule="a", kpi="visits", state="pending", severity="warning"),
        AlertRecord(rule="b", kpi="conversion", state="firing", severity="warning", since="2026-10-19"),
        AlertRecord(rule="c", kpi="conversion", state="firing", severity="critical", since="2026-10-26",
                    dimensions={"region": "east"}, value=0.0762)])
    view = data.alerts_view(inputs)
    assert [a["rule"] for a in view["active"]] == ["c", "b", "a"]
    assert view["active"][0]["display"] == "7.6%" and view["active"][0]["scope"] == "east"
    assert view["counts"] == {"firing": 2, "pending": 1, "silenced": 0}


def test_options_reject_bad_values_with_a_clear_message(unit_project):
    with pytest.raises(DashboardError, match="option 'grain': 'fortnight' is not a grain; use one of day, week"):
        parse_options(unit_project, {"grain": "fortnight"})
    with pytest.raises(DashboardError, match="option 'by': 'country' is not a dimension .* region, rep"):
        parse_options(unit_project, {"by": "country"})
    with pytest.raises(DashboardError, match="YYYY-MM-DD"):
        parse_options(unit_project, {"period": "last week"})
    with pytest.raises(DashboardError, match="'end' .* must be after 'start'"):
        parse_options(unit_project, {"start": "2026-10-26", "end": "2026-10-01"})
    with pytest.raises(DashboardError, match="unknown KPI 'convertion'"):
        parse_options(unit_project, {"kpi": "convertion"})


def test_default_breakdown_is_the_dimension_kpis_list_first(unit_project):
    assert parse_options(unit_project, {}).by == "region"
    assert parse_options(unit_project, {"by": "none"}).by is None
    assert parse_options(unit_project, {"by": "rep"}).by == "rep"


def test_meta_lists_periods_with_readable_labels(make_inputs):
    meta = data.meta_view(make_inputs())
    assert [p["value"] for p in meta["periods"]] == [w.isoformat() for w in WEEKS]
    assert meta["current_label"] == "2026-W44 (Oct 26)"
    assert data.period_label(WEEKS[0], "month") == "2026-10"
    assert data.period_label(WEEKS[0], "quarter") == "2026-Q4"


def test_empty_history_gives_explained_empty_panels(unit_project):
    from kpiengine.dashboard.inputs import DashboardInputs
    from kpiengine.dashboard.values import ValueTable

    inputs = DashboardInputs(unit_project, parse_options(unit_project, {}), ValueTable(),
                             notes={"values": "no KPI values yet: run `kpi run`"})
    from kpiengine.dashboard.views import build_dashboard

    board = build_dashboard(inputs)
    assert board["process"]["tiles"]["visits"]["display"] == "—"
    assert board["process"]["tiles"]["visits"]["change"]["text"] == "no data"
    assert board["team"]["empty"] and board["why"]["empty"] and board["funnel"]["empty"]
    assert board["meta"]["notes"]["values"].startswith("no KPI values")


def test_confidence_damps_moves_that_chance_explains(unit_project):
    from kpiengine.dashboard.values import ValueTable
    from kpiengine.engine import KpiValue

    w0, w1 = WEEKS[1], WEEKS[2]
    rows = [KpiValue("deals_won", "week", w0, {}, 2), KpiValue("deals_won", "week", w1, {}, 8),
            KpiValue("visits", "week", w0, {}, 400), KpiValue("visits", "week", w1, {}, 400)]
    table = ValueTable(rows)
    # 2 -> 8 won deals: z = 6 / sqrt(10) = 1.897, a weight of z / 3
    assert data.confidence(unit_project, table, "deals_won", (), w1, w0) == pytest.approx(6 / 10 ** 0.5 / 3)
    # conversion 0.5 % -> 2 % on 400 visits each: two-proportion z with the pooled rate 10 / 800
    p = 10 / 800
    z = (8 / 400 - 2 / 400) / (p * (1 - p) * (2 / 400)) ** 0.5
    assert data.confidence(unit_project, table, "conversion", (), w1, w0) == pytest.approx(min(1.0, z / 3))
    assert data.confidence(unit_project, table, "revenue", (), w1, w0) == 1.0  # no sample size: full weight


def test_alerts_on_another_breakdown_still_head_the_attention_list(make_inputs):
    inputs = make_inputs(by="none")
    inputs.alerts = AlertSnapshot(available=True, active=[
        AlertRecord(rule="conv_drop", kpi="conversion", state="firing", severity="critical",
                    dimensions={"region": "east"}, value=0.0762, since="2026-10-26")])
    att = data.attention_view(inputs)
    first = att["items"][0]
    assert first["status"] == "firing" and first["dimensions"] == {"region": "east"}
    assert first["text"] == "轉化率 Conversion — region east: 7.6% (critical alert conv_drop, since 2026-10-26)"
    # the total is not what fired: its own line carries no alert state
    total = next(i for i in att["items"] if i["kpi"] == "conversion" and i["scope"] == "total")
    assert total["status"] == "ok"
