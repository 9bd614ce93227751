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
``labels`` and each dimension value (``region: east``). A list means "any of".
Children inherit ``sinks``, ``group_by``, ``repeat_interval`` and ``send_resolved``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..errors import SpecError, SpecIssue
from ..plugins import default_registry
from ..spec.limits import MAX_DURATION_SECONDS
from .locations import loc_in

SINK_DELIVERY_KEYS = ("type", "fallback", "give_up_after", "retry_initial", "retry_max")
ROUTE_KEYS = {"name", "match", "sinks", "sink", "group_by", "repeat_interval", "send_resolved",
              "continue", "routes"}
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
    matchers: dict[str, list[str]] = field(default_factory=dict)
    sinks: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=lambda: ["rule"])
    repeat_interval: timedelta = timedelta(hours=24)
    send_resolved: bool = True
    continue_: bool = False
    children: list["Route"] = field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(str(labels.get(k)) in values for k, values in self.matchers.items())


@dataclass
class Routing:
    root: Route
    sinks: dict[str, SinkSettings]

    def routes_for(self, labels: dict[str, str]) -> list[Route]:
        """The routes an alert goes to: deepest matching routes, else the root (Alertmanager's walk)."""
        found = _walk(self.root, labels)
        return found or [self.root]


def _walk(route: Route, labels: dict[str, str]) -> list[Route]:
    out: list[Route] = []
    for child in route.children:
        if child.matches(labels):
            deeper = _walk(child, labels)
            out.extend(deeper or [child])
            if not child.continue_:
                break
    return out


def parse_routing(sinks_raw: Any, routes_raw: Any, *, check_keys: bool = True) -> tuple[Routing, list[SpecIssue]]:
    issues: list[SpecIssue] = []

    def err(msg, loc, hint=None):
        issues.append(SpecIssue(msg, loc, hint=hint, code="alerting"))

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
        return Routing(root, sinks), issues
    if not isinstance(routes_raw, dict):
        err("`routes` must be a mapping (the root route)", loc_in(routes_raw))
        return Routing(Route("default", sinks=sorted(sinks)), sinks), issues
    root = _parse_route(routes_raw, None, "default", sinks, err, check_keys)
    if not root.sinks:
        err("the root route needs `sinks`: it is the default for alerts no other route takes",
            loc_in(routes_raw), hint="e.g. `sinks: [ops_email]`")
    return Routing(root, sinks), issues


def _parse_route(node: dict, parent: Route | None, name: str, sinks: dict, err, check_keys: bool = True) -> Route:
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
    match = node.get("match", {})
    if parent is not None and not match:
        err(f"{where}: a child route needs `match` (otherwise it takes every alert)", loc_in(node),
            hint="e.g. `match: {severity: critical}`")
    if not isinstance(match, dict):
        err(f"{where}: `match` must map labels to a value or a list of values", loc_in(node, "match"))
        match = {}
    route.matchers = {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in match.items()}
    children = node.get("routes", [])
    if not isinstance(children, list):
        err(f"{where}: `routes` must be a list of child routes", loc_in(node, "routes"))
        children = []
    for i, child in enumerate(children):
        if not isinstance(child, dict):
            err(f"{where}: child route {i + 1} must be a mapping", loc_in(children, i))
            continue
        route.children.append(_parse_route(child, route, f"{route.name}/{i + 1}", sinks, err, check_keys))
    return route


def load_routing(project) -> Routing:
    routing, issues = parse_routing(project.section("sinks"), project.section("routes"))
    if issues:
        raise SpecError(issues)
    return routing


def build_sink(settings: SinkSettings):
    """An instance of the sink plugin for ``settings`` (secrets stay inside the sink)."""
    cls = default_registry().sink_type(settings.type)
    return cls(settings.name, settings.options)
