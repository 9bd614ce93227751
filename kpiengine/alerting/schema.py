"""JSON Schema fragments for the ``rules``, ``sinks`` and ``routes`` sections.

The sections in section.py contribute these to the spec schema (``kpi schema``), so
editors complete and check alert rules as they are typed. Deeper checks
(a recovery on the safe side, known KPIs and sinks, templates) are in rules.py
and routing.py, with file:line:column locations.
"""
from __future__ import annotations

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_number = {"type": ["number", "string"], "pattern": r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*%?\s*$",
           "description": "a number, or a percent such as -20% (= -0.2)"}
_band = {"type": "array", "items": _number, "minItems": 2, "maxItems": 2}
_duration = {"type": ["number", "string"], "pattern": r"^\s*\d+(\.\d+)?\s*[smhdw]?\s*$",
             "description": "seconds, or 30m, 4h, 2d, 1w"}
_condition = {
    "oneOf": [
        {"type": "object",
         "properties": {"above": _number, "below": _number, "outside": _band, "inside": _band,
                        "sensitivity": {"oneOf": [{"enum": ["low", "medium", "high"]}, _number]},
                        "recovery": {"oneOf": [_number, _band]}},
         "additionalProperties": False, "minProperties": 1},
        {"type": "number", "description": "anomaly rules: the sensitivity (robust z-score)"},
    ],
    "description": "one of above, below, outside [lo, hi], inside [lo, hi] (anomaly: sensitivity); "
                   "optional recovery level so a value hovering at the line does not flap",
}
_policy = {"enum": ["alert", "keep_state", "ignore"]}
_str_list = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

RULE = {
    "type": "object",
    # a KPI rule names its KPI; a freshness rule (`type: freshness`) names a model instead
    "if": {"properties": {"type": {"const": "freshness"}}, "required": ["type"]},
    "then": {"required": ["model"]},
    "else": {"required": ["kpi"]},
    "properties": {
        "kpi": {"type": "string", "description": "the KPI this rule watches"},
        "type": {"enum": ["static", "change", "target", "anomaly", "freshness"], "default": "static"},
        "model": {"type": "string", "description": "freshness rules: the model whose data must be recent"},
        "max_delay": {"type": ["string", "number"], "description": "freshness rules: how far the data may lag "
                      "behind now (default: the model's max_delay)"},
        "on_maturing": {"enum": ["ignore", "alert"], "default": "ignore", "description": "funnel cohorts younger "
                        "than their window: ignore them (keep the alert's state) or alert on them"},
        "description": {"type": "string"},
        "grain": {"enum": ["day", "week", "month", "quarter", "year"], "default": "week"},
        "by": _str_list,
        "info": _condition, "warning": _condition, "critical": _condition,
        "severity": {"enum": ["info", "warning", "critical"], "description": "anomaly rules: severity used "
                     "with the rule-level sensitivity"},
        "recovery": {"oneOf": [_number, _band]},
        "compare": {"enum": ["previous", "last_week", "last_year", "average"], "default": "previous"},
        "periods": {"type": "integer", "minimum": 1, "description": "compare: average of the last N periods"},
        "change": {"enum": ["percent", "absolute"], "default": "percent"},
        "target": {"oneOf": [_number, {"type": "object", "maxProperties": 1,
                                        "additionalProperties": {"type": "object", "additionalProperties": _number}}]},
        "window": {"type": "integer", "minimum": 3, "description": "anomaly: trailing periods"},
        "min_periods": {"type": "integer", "minimum": 2},
        "seasonality": {"type": "boolean", "description": "anomaly on daily data: compare same weekdays"},
        "sensitivity": {"oneOf": [{"enum": ["low", "medium", "high"]}, _number]},
        "direction": {"enum": ["both", "up", "down"]},
        "min_sample": {"type": "number", "minimum": 0},
        "sample": {"type": "string", "description": "KPI giving the sample size (default: the ratio's denominator)"},
        "significance": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
        "for": {"type": "integer", "minimum": 1, "description": "consecutive breaching periods before firing"},
        "keep_firing_for": {"type": "integer", "minimum": 0},
        "no_data": {**_policy, "default": "ignore"},
        "on_error": {**_policy, "default": "keep_state"},
        "labels": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "message": {"type": "string"},
        "title": {"type": "string"},
        "enabled": {"type": "boolean"},
        "explain": {"type": "boolean", "description": "add the top drivers of the change to the message"},
        "where": {"type": "string", "description": "a filter over dimension names, as `kpi run --where`: the rule "
                                                  "judges the KPI computed under it"},
        "flapping": {"type": "object", "required": ["changes", "periods"], "additionalProperties": False,
                     "properties": {"changes": {"type": "integer", "minimum": 1},
                                    "periods": {"type": "integer", "minimum": 2}},
                     "description": "more than `changes` state changes within `periods` periods: flapping, "
                                    "notifications held"},
    },
    "additionalProperties": False,
}

SINK = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "description": "a sink plugin: console, file, slack, email, webhook, feishu, "
                                                   "dingtalk, wecom, ..."},
        "fallback": {"type": "string", "description": "sink used when delivery here gives up"},
        "give_up_after": _duration,
        "retry_initial": _duration,
        "retry_max": _duration,
    },
    "additionalProperties": True,  # the plugin's own options (checked against its options_schema)
}

ROUTE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "match": {"type": "object", "additionalProperties": {
            "oneOf": [{"type": ["string", "number", "boolean"]}, {"type": "array"}]}},
        "sinks": _str_list, "sink": {"type": "string"},
        "group_by": _str_list,
        "repeat_interval": _duration,
        "send_resolved": {"type": "boolean"},
        "continue": {"type": "boolean"},
        "match_re": {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "labels to anchored regular expressions"},
        "matchers": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                     "description": "Alertmanager matchers: label=value, label!=value, label=~\"re\", label!~\"re\""},
        "mute_time_intervals": _str_list,
        "active_time_intervals": _str_list,
    },
    "additionalProperties": False,
}

_matchers = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
             "description": "label=value, label!=value, label=~\"regex\", label!~\"regex\""}
_match_map = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
              "description": "Alertmanager's older form: labels to values (equality)"}
INHIBIT_RULE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "source_matchers": _matchers, "target_matchers": _matchers,
                   "source_match": _match_map, "target_match": _match_map, "equal": _str_list},
    "additionalProperties": False,
}
_range_list = {"type": "array", "items": {"type": ["string", "integer"]}}
INTERVAL_ENTRY = {
    "type": "object",
    "properties": {
        "times": {"type": "array", "items": {
            "type": "object", "required": ["start_time", "end_time"], "additionalProperties": False,
            "properties": {"start_time": {"type": "string"}, "end_time": {"type": "string"}}}},
        "weekdays": _range_list, "days_of_month": _range_list, "months": _range_list, "years": _range_list,
        "location": {"type": "string", "description": "a time zone; default: project.timezone"},
    },
    "additionalProperties": False,
}


def _route(depth: int) -> dict:
    """A route whose children nest ``depth`` levels deeper (no $ref: the fragment stays self-contained)."""
    children = {"type": "array", "items": _route(depth - 1) if depth > 1 else {"type": "object"}}
    return {**ROUTE, "properties": {**ROUTE["properties"], "routes": children}}


ALERTING_SCHEMA_DEFS: dict = {
    "rules": {"type": "object", "propertyNames": {"type": "string", "pattern": NAME}, "additionalProperties": RULE},
    "sinks": {"type": "object", "propertyNames": {"type": "string", "pattern": NAME}, "additionalProperties": SINK},
    "routes": _route(5),
    "inhibit_rules": {"type": "array", "items": INHIBIT_RULE},
    "time_intervals": {"type": "object", "propertyNames": {"type": "string", "pattern": NAME},
                       "additionalProperties": {"type": "array", "items": INTERVAL_ENTRY}},
}
