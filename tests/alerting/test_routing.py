"""The route tree: matching, inheritance, continue, default route, durations."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kpiengine.alerting.routing import parse_duration, parse_routing

from alerting_helpers import make_project, routing_of

TREE = """
sinks:
  a: {type: console}
  b: {type: console}
  c: {type: console}
routes:
  sinks: [a]
  group_by: [rule, region]
  repeat_interval: 2h
  routes:
    - name: critical
      match: {severity: critical}
      sinks: [b]
      routes:
        - name: critical-east
          match: {region: [east, north]}
          sinks: [c]
    - name: sales
      match: {team: sales}
      continue: true
      send_resolved: false
    - name: revenue
      match: {kpi: revenue}
      sinks: [c]
"""


def names(routing, **labels):
    return [r.name for r in routing.routes_for(labels)]


def test_matching_walks_to_the_deepest_match(tmp_path):
    routing = routing_of(make_project(tmp_path, TREE))
    assert names(routing, severity="critical", region="east") == ["critical-east"]
    assert names(routing, severity="critical", region="west") == ["critical"]
    assert names(routing, severity="warning", kpi="visits") == ["default"]  # nothing matched: root


def test_continue_lets_later_siblings_match(tmp_path):
    routing = routing_of(make_project(tmp_path, TREE))
    assert names(routing, severity="warning", team="sales", kpi="revenue") == ["sales", "revenue"]
    # a first match without continue stops the walk
    assert names(routing, severity="critical", team="sales", region="west") == ["critical"]


def test_children_inherit_settings(tmp_path):
    routing = routing_of(make_project(tmp_path, TREE))
    critical = routing.root.children[0]
    sales = routing.root.children[1]
    assert critical.group_by == ["rule", "region"] and critical.repeat_interval == timedelta(hours=2)
    assert sales.sinks == ["a"] and sales.send_resolved is False
    assert critical.children[0].sinks == ["c"]


def test_no_routes_means_every_sink(tmp_path):
    routing = routing_of(make_project(tmp_path, "sinks:\n  a: {type: console}\n  b: {type: console}\n"))
    assert routing.root.sinks == ["a", "b"] and routing.root.group_by == ["rule"]


def test_delivery_keys_are_not_passed_to_the_plugin(tmp_path):
    routing = routing_of(make_project(tmp_path, """
        sinks:
          a: {type: file, path: x.jsonl, fallback: b, give_up_after: 6h, retry_initial: 2s, retry_max: 1m}
          b: {type: console}
    """))
    a = routing.sinks["a"]
    assert a.options == {"path": "x.jsonl"}
    assert (a.fallback, a.give_up_after, a.retry_initial, a.retry_max) == \
        ("b", timedelta(hours=6), timedelta(seconds=2), timedelta(minutes=1))


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("4h", 14400), ("2d", 172800),
                                           ("1w", 604800), (30, 30), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_root_needs_sinks(tmp_path):
    p = make_project(tmp_path, "sinks:\n  a: {type: console}\nroutes:\n  group_by: [rule]\n")
    _routing, issues = parse_routing(p.section("sinks"), p.section("routes"))
    assert any("the root route needs `sinks`" in i.message for i in issues)
