"""The ``routes:`` tree and the delivery settings of ``sinks:``.

::

    sinks:
      sales_slack: {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}", fallback: ops_email}
      ops_email:   {type: email, host: smtp.example.com, to: [ops@example.com], give_up_after: 6h}
    routes:                       # the root route: the default for every alert
      sinks: [ops_email]
      group_by: [rule]            # one message per rule (all its dimension values together)
      repeat_interval: 1d         # remind while still firing
      send_resolved: true
      routes:                     # first matching child wins unless it says continue: true
        - name: sales-critical
          match: {severity: critical, kpi: [conversion, revenue]}
          sinks: [sales_slack, ops_email]

Matchers compare an alert's labels: ``rule``, ``kpi``, ``severity``, the rule's
``labels`` and each dimension value (``region: east``). ``match`` tests equality
(a list means "any of"), ``match_re`` anchored regular expressions, and
``matchers`` takes Alertmanager's strings (``region=~"east|west"``, ``team!=ops``;
see matchers.py); all given must hold. Children inherit ``sinks``, ``group_by``,
``repeat_interval`` and ``send_resolved``; ``mute_time_intervals`` and
``active_time_intervals`` name entries of ``time_intervals:`` (intervals.py) and
are the route's own. ``inhibit_rules:`` (inhibition.py) travel with the routing.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..errors import SpecError, SpecIssue
from ..plugins import default_registry
from ..spec.limits import MAX_DURATION_SECONDS
from .inhibition import InhibitRule, parse_inhibit_rules
from .intervals import TimeInterval, parse_intervals
from .locations import loc_in
from .matchers import Matcher, MatcherError, from_mapping, matches_all, parse_node

SINK_DELIVERY_KEYS = ("type", "fallback", "give_up_after", "retry_initial", "retry_max")
ROUTE_KEYS = {"name", "match", "match_re", "matchers", "sinks", "sink", "group_by", "repeat_interval",
              "send_resolved", "continue", "routes", "mute_time_intervals", "active_time_intervals"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``4h``, ``2d``, ``1w`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is expected")
    if isinstance(value, (int, float)):
        if not 0 <= value <= MAX_DURATION_SECONDS:
            raise ValueError(f"{value!r} seconds is not a duration between 0 and ten years")
        return timedelta(seconds=float(value))
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration such as 30m, 4h or 2d")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than ten years: write a duration such as 30m, 4h or 2d")
    return timedelta(seconds=seconds)


@dataclass
class SinkSettings:
    name: str
    type: str
    options: dict[str, Any]  # what the sink plugin receives (delivery keys removed)
    fallback: str | None = None
    give_up_after: timedelta = timedelta(hours=24)
    retry_initial: timedelta = timedelta(seconds=1)
    retry_max: timedelta = timedelta(minutes=5)


@dataclass
class Route:
    name: str
    matchers: list[Matcher] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=lambda: ["rule"])
    repeat_interval: timedelta = timedelta(hours=24)
    send_resolved: bool = True
    continue_: bool = False
    children: list["Route"] = field(default_factory=list)
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matchers, labels)


@dataclass
class Routing:
    root: Route
    sinks: dict[str, SinkSettings]
    intervals: dict[str, TimeInterval] = field(default_factory=dict)
    inhibit_rules: list[InhibitRule] | None = None  # None: the built-in rule (see inhibition.py)

    def routes_for(self, labels: dict[str, str]) -> list[Route]:
        """The routes an alert goes to: deepest matching routes, else the root (Alertmanager's walk)."""
        found = _walk(self.root, labels)
        return found or [self.root]

    def muted(self, route: Route, now: float, tz) -> str | None:
        """Why ``route`` sends nothing at ``now`` (a mute interval holds, or no active one does), else None."""
        for name in route.mute_time_intervals:
            interval = self.intervals.get(name)
            if interval is not None and interval.holds(now, tz):
                return f"muted by time interval '{name}'"
        if route.active_time_intervals and not any(
                self.intervals[n].holds(now, tz) for n in route.active_time_intervals if n in self.intervals):
            return f"outside active time interval(s) {', '.join(route.active_time_intervals)}"
        return None


def _walk(route: Route, labels: dict[str, str]) -> list[Route]:
    out: list[Route] = []
    for child in route.children:
        if child.matches(labels):
            deeper = _walk(child, labels)
            out.extend(deeper or [child])
            if not child.continue_:
                break
    return out


def parse_routing(sinks_raw: Any, routes_raw: Any, *, check_keys: bool = True, intervals_raw: Any = None,
                  inhibit_raw: Any = None) -> tuple[Routing, list[SpecIssue]]:
    issues: list[SpecIssue] = []

    def err(msg, loc, hint=None):
        issues.append(SpecIssue(msg, loc, hint=hint, code="alerting"))

    intervals = parse_intervals(intervals_raw, err, loc_in)
    inhibit_rules = parse_inhibit_rules(inhibit_raw, err, loc_in)

    sinks: dict[str, SinkSettings] = {}
    if sinks_raw not in (None, {}) and not isinstance(sinks_raw, dict):
        err("`sinks` must be a mapping of sink names to settings", loc_in(sinks_raw))
        sinks_raw = {}
    for name, node in (sinks_raw or {}).items():
        where = f"sink '{name}'"
        if not isinstance(node, dict) or not node.get("type"):
            err(f"{where}: `type` is required (slack, email, webhook, feishu, dingtalk, wecom, console, file)",
                loc_in(sinks_raw, name))
            continue
        settings = SinkSettings(str(name), str(node["type"]),
                                {k: v for k, v in node.items() if k not in SINK_DELIVERY_KEYS})
        for key in ("give_up_after", "retry_initial", "retry_max"):
            if key in node:
                try:
                    setattr(settings, key, parse_duration(node[key]))
                except ValueError as exc:
                    err(f"{where}: `{key}`: {exc}", loc_in(node, key))
        if "fallback" in node:
            settings.fallback = str(node["fallback"])
        sinks[str(name)] = settings
    for s in sinks.values():
        if s.fallback and s.fallback not in sinks:
            err(f"sink '{s.name}': fallback sink '{s.fallback}' is not defined", loc_in(sinks_raw.get(s.name), "fallback"),
                hint=f"defined sinks: {', '.join(sorted(sinks))}")
        if s.fallback == s.name:
            err(f"sink '{s.name}': a sink cannot be its own fallback", loc_in(sinks_raw.get(s.name), "fallback"))
    if routes_raw in (None, {}):
        root = Route("default", sinks=sorted(sinks))  # no routes: every alert to every sink
        return Routing(root, sinks, intervals, inhibit_rules), issues
    if not isinstance(routes_raw, dict):
        err("`routes` must be a mapping (the root route)", loc_in(routes_raw))
        return Routing(Route("default", sinks=sorted(sinks)), sinks, intervals, inhibit_rules), issues
    root = _parse_route(routes_raw, None, "default", sinks, err, check_keys, intervals)
    if not root.sinks:
        err("the root route needs `sinks`: it is the default for alerts no other route takes",
            loc_in(routes_raw), hint="e.g. `sinks: [ops_email]`")
    return Routing(root, sinks, intervals, inhibit_rules), issues


def _parse_route(node: dict, parent: Route | None, name: str, sinks: dict, err, check_keys: bool = True,
                 intervals: dict | None = None) -> Route:
    where = f"route '{node.get('name', name)}'"
    for key in (node if check_keys else ()):
        if key not in ROUTE_KEYS:
            err(f"{where}: unknown field `{key}`", getattr(node, "key_locs", {}).get(key) or loc_in(node),
                hint=f"route fields: {', '.join(sorted(ROUTE_KEYS))}")
    route = Route(str(node.get("name", name)))
    if parent is not None:
        route.sinks, route.group_by = list(parent.sinks), list(parent.group_by)
        route.repeat_interval, route.send_resolved = parent.repeat_interval, parent.send_resolved
    names = node.get("sinks", node.get("sink"))
    if names is not None:
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list):
            err(f"{where}: `sinks` must be a list of sink names", loc_in(node, "sinks"))
            names = []
        for s in names:
            if str(s) not in sinks:
                err(f"{where}: unknown sink '{s}'", loc_in(node, "sinks" if "sinks" in node else "sink"),
                    hint=f"defined sinks: {', '.join(sorted(sinks)) or 'none (add a sinks: section)'}")
        route.sinks = [str(s) for s in names if str(s) in sinks]
    if "group_by" in node:
        gb = node["group_by"]
        gb = [gb] if isinstance(gb, str) else gb
        if not isinstance(gb, list):
            err(f"{where}: `group_by` must be a list of labels, e.g. [rule]", loc_in(node, "group_by"))
        else:
            route.group_by = [str(g) for g in gb]
    if "repeat_interval" in node:
        try:
            route.repeat_interval = parse_duration(node["repeat_interval"])
        except ValueError as exc:
            err(f"{where}: `repeat_interval`: {exc}", loc_in(node, "repeat_interval"))
    for key, attr in (("send_resolved", "send_resolved"), ("continue", "continue_")):
        if key in node:
            if not isinstance(node[key], bool):
                err(f"{where}: `{key}` must be true or false", loc_in(node, key))
            else:
                setattr(route, attr, node[key])
    route.matchers = _route_matchers(node, where, err)
    if parent is not None and not route.matchers:
        err(f"{where}: a child route needs `match` or `matchers` (otherwise it takes every alert)", loc_in(node),
            hint="e.g. `match: {severity: critical}` or `matchers: ['region=~\"east|west\"']`")
    for key in ("mute_time_intervals", "active_time_intervals"):
        if key not in node:
            continue
        names = [node[key]] if isinstance(node[key], str) else node[key]
        if not isinstance(names, list):
            err(f"{where}: `{key}` is a list of time interval names", loc_in(node, key))
            continue
        for n in names:
            if str(n) not in (intervals or {}):
                close = difflib.get_close_matches(str(n), sorted(intervals or {}), n=1)
                err(f"{where}: `{key}`: unknown time interval '{n}'", loc_in(node, key),
                    hint=f"did you mean '{close[0]}'?" if close else
                    f"defined in `time_intervals:`: {', '.join(sorted(intervals or {})) or 'none'}")
        setattr(route, key, [str(n) for n in names])
    children = node.get("routes", [])
    if not isinstance(children, list):
        err(f"{where}: `routes` must be a list of child routes", loc_in(node, "routes"))
        children = []
    for i, child in enumerate(children):
        if not isinstance(child, dict):
            err(f"{where}: child route {i + 1} must be a mapping", loc_in(children, i))
            continue
        route.children.append(_parse_route(child, route, f"{route.name}/{i + 1}", sinks, err, check_keys,
                                           intervals))
    return route


def _route_matchers(node: dict, where: str, err) -> list[Matcher]:
    """``match`` (equality, a list is "any of"), ``match_re`` (anchored regexes) and ``matchers`` strings."""
    out: list[Matcher] = []
    match = node.get("match", {})
    if not isinstance(match, dict):
        err(f"{where}: `match` must map labels to a value or a list of values", loc_in(node, "match"))
    else:
        out += from_mapping(match)
    match_re = node.get("match_re", {})
    if not isinstance(match_re, dict):
        err(f"{where}: `match_re` must map labels to regular expressions", loc_in(node, "match_re"))
    else:
        for k, v in match_re.items():
            try:
                out.append(Matcher.make(str(k), "=~", str(v)))
            except MatcherError as exc:
                err(f"{where}: `match_re`: {exc}", loc_in(match_re, k))
    if "matchers" in node:
        out += parse_node(node["matchers"], f"{where} `matchers`", err,
                          lambda n, k: loc_in(n, k) if k is not None else loc_in(node, "matchers"))
    return out


def load_routing(project) -> Routing:
    routing, issues = parse_routing(project.section("sinks"), project.section("routes"),
                                    intervals_raw=project.section("time_intervals"),
                                    inhibit_raw=project.section("inhibit_rules"))
    if issues:
        raise SpecError(issues)
    return routing


def build_sink(settings: SinkSettings):
    """An instance of the sink plugin for ``settings`` (secrets stay inside the sink)."""
    cls = default_registry().sink_type(settings.type)
    return cls(settings.name, settings.options)
