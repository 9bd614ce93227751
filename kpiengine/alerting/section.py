"""The ``rules:``, ``sinks:``, ``routes:``, ``inhibit_rules:`` and ``time_intervals:`` spec sections.

They are registered by alerting as an internal plugin.

They run after the funnels section, whose steps become KPIs that rules may
watch. Routes name sinks, so both are checked together, with the sinks.
"""
from __future__ import annotations

import urllib.parse
from typing import Any, Iterable

import jsonschema

from ..errors import PluginError, SpecIssue
from ..hookspecs import hookimpl
from ..plugins import default_registry
from ..sections import LIST, SINGLE, CheckContext, SpecSection
from ..spec.yamlsrc import expand_env
from .locations import loc_in
from .routing import Routing, parse_routing
from .rules import parse_rules
from .schema import ALERTING_SCHEMA_DEFS


class RulesSection(SpecSection):
    name = "rules"
    description = "alert rules: thresholds, changes, targets and anomalies on KPIs"
    order = 80

    def schema(self) -> dict[str, Any]:
        return ALERTING_SCHEMA_DEFS["rules"]

    def check(self, project, context: CheckContext) -> Iterable[SpecIssue]:
        # unknown keys were reported by the JSON Schema: say each mistake once
        rules, issues = parse_rules(project.section("rules"), project, check_keys=False)
        return issues + change_sign_warnings(rules, project.section("rules"))


class SinksSection(SpecSection):
    name = "sinks"
    description = "where notifications go: a sink plugin type and its options"
    order = 81

    def schema(self) -> dict[str, Any]:
        return ALERTING_SCHEMA_DEFS["sinks"]

    def build(self, project, value: Any, issues: list[SpecIssue]) -> None:
        if value is not None:  # sink options hold tokens: ${VAR} from the environment
            issues.extend(literal_secret_warnings(value, default_registry()))
            project.sections[self.name] = expand_env(value, issues)

    def check(self, project, context: CheckContext) -> Iterable[SpecIssue]:
        sinks_raw = project.section("sinks")
        routing, issues = parse_routing(sinks_raw, project.section("routes"), check_keys=False,
                                        intervals_raw=project.section("time_intervals"),
                                        inhibit_raw=project.section("inhibit_rules"))
        return issues + sink_option_issues(routing, sinks_raw, context.registry)


class RoutesSection(SpecSection):
    name = "routes"
    merge = SINGLE
    description = "the routing tree: which notifications go to which sinks, grouped and repeated how"
    order = 82  # checked with the sinks it names (SinksSection)

    def schema(self) -> dict[str, Any]:
        return ALERTING_SCHEMA_DEFS["routes"]


class InhibitRulesSection(SpecSection):
    name = "inhibit_rules"
    merge = LIST
    description = "which firing alerts hide which (source matchers, target matchers, equal labels)"
    order = 83  # checked with the sinks and routes (SinksSection)

    def schema(self) -> dict[str, Any]:
        return ALERTING_SCHEMA_DEFS["inhibit_rules"]


class TimeIntervalsSection(SpecSection):
    name = "time_intervals"
    description = "named times (weekdays, times of day) that routes mute or are active in"
    order = 84  # checked with the routes that name them (SinksSection)

    def schema(self) -> dict[str, Any]:
        return ALERTING_SCHEMA_DEFS["time_intervals"]


def sink_option_issues(routing: Routing, sinks_raw: Any, registry) -> list[SpecIssue]:
    """Unknown sink types and options their plugin rejects, located at the sink."""
    issues = []
    for name, settings in routing.sinks.items():
        node = sinks_raw.get(name) if isinstance(sinks_raw, dict) else None
        try:
            cls = registry.sink_type(settings.type)
        except PluginError as exc:
            issues.append(SpecIssue(f"sink '{name}': {exc}", loc_in(node, "type"), code="alerting",
                                    hint="`kpi plugins` lists the installed sink types"))
            continue
        schema = getattr(cls, "options_schema", None) or {"type": "object"}
        for err in jsonschema.Draft202012Validator(schema).iter_errors(dict(settings.options)):
            field = ".".join(str(p) for p in err.absolute_path)
            # the message names the option, never its value: options hold webhook tokens and passwords
            described = err.schema.get("description") if isinstance(err.schema, dict) else None
            if err.validator in ("required", "additionalProperties"):
                what = err.message
            elif err.validator == "pattern" and described:  # a regex says little; its description says what
                what = f"option `{field}` is invalid: expected a {described}"
            else:
                what = f"option `{field}` is invalid ({err.validator} {err.validator_value!r})"
            issues.append(SpecIssue(f"sink '{name}' ({settings.type}): {what}",
                                    loc_in(node, err.absolute_path[0]) if err.absolute_path else loc_in(node),
                                    code="alerting", hint=f"see the {settings.type} sink options in docs/plugins.md"))
    return issues


def change_sign_warnings(rules: dict, raw: Any) -> list[SpecIssue]:
    """A change rule `below: 50%` fires on anything short of a rise of half: a drop is written `-50%`."""
    found = []
    for rule in rules.values():
        if rule.type != "change" or rule.change != "percent":
            continue
        for severity, cond in rule.conditions:
            node = raw.get(rule.name, {}).get(severity) if isinstance(raw, dict) else None
            if cond.op == "below" and cond.high is not None and cond.high > 0:
                found.append(SpecIssue(
                    f"rule '{rule.name}' {severity}: `below: {cond.high * 100:g}%` on a change fires whenever the "
                    f"KPI rose less than {cond.high * 100:g}% (or fell)", loc_in(node, "below"), code="alerting",
                    severity="warning", hint=f"a drop of {cond.high * 100:g}% is `below: -{cond.high * 100:g}%`"))
            elif cond.op == "above" and cond.low is not None and cond.low < 0:
                found.append(SpecIssue(
                    f"rule '{rule.name}' {severity}: `above: {cond.low * 100:g}%` on a change fires whenever the "
                    f"KPI fell less than {-cond.low * 100:g}% (or rose)", loc_in(node, "above"), code="alerting",
                    severity="warning", hint=f"a rise of {-cond.low * 100:g}% is `above: {-cond.low * 100:g}%`"))
    return found


def literal_secret_warnings(sinks_raw: Any, registry) -> list[SpecIssue]:
    """A webhook URL, token or password written into the spec: it belongs in the environment."""
    found = []
    for name, body in (sinks_raw.items() if isinstance(sinks_raw, dict) else ()):
        if not isinstance(body, dict):
            continue
        cls = registry.sink_types.get(body.get("type")) if isinstance(body.get("type"), str) else None
        secret = getattr(cls, "secret_options", None) or ("password", "token", "secret", "url", "webhook_url")
        for key, value in body.items():
            if key in secret and isinstance(value, str) and value and "${" not in value and not _loopback(value):
                var = f"KPI_{name}_{key}".upper()
                found.append(SpecIssue(
                    f"sink '{name}': `{key}` is written in the spec; it is a secret (a webhook URL is a password)",
                    loc_in(body, key), code="alerting", severity="warning",
                    hint=f"write `{key}: ${{{var}}}` and `export {var}=...` where kpi runs; specs are shared and "
                         "versioned, the environment is not"))
    return found


def _loopback(value: str) -> bool:
    """A URL of a receiver on this machine (a local relay, a test server) is an address, not a shared secret."""
    host = urllib.parse.urlsplit(value).hostname if "://" in value else None
    return host in ("localhost", "::1") or bool(host and host.startswith("127."))


def validate_alerting(project, registry=None) -> list[SpecIssue]:
    """Every problem of the rules, sinks and routes sections at once (what ``kpi validate`` reports of them)."""
    context = CheckContext(registry=registry or default_registry())
    return [*RulesSection().check(project, context), *SinksSection().check(project, context)]


@hookimpl
def kpiengine_spec_sections() -> list[SpecSection]:
    return [RulesSection(), SinksSection(), RoutesSection(), InhibitRulesSection(),
            TimeIntervalsSection()]
