"""Label matchers with Alertmanager's semantics: ``=``, ``!=``, ``=~``, ``!~``.

Routes, silences and inhibition rules select alerts by their labels (``rule``,
``kpi``, ``severity``, rule labels, dimension values). One matcher language for
all three, so what an Alertmanager user writes means the same here::

    severity="critical"     region!=east     region=~"east|west"     team!~"ops.*"

As in Alertmanager, a label the alert does not have is the empty string (so
``team!=sales`` matches an alert without ``team``, and ``team=""`` selects exactly
those), and regular expressions are anchored: ``=~"east"`` does not match
``northeast``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

OPS = ("=~", "!~", "!=", "=")  # longest first: `=~` is not `=` followed by `~`
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.S)
MAX_REGEX = 1000  # characters: a matcher is a label test, not a program


class MatcherError(ValueError):
    """A matcher that cannot be read; the message says how to write it."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _rx: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> "Matcher":
        if op not in OPS:
            raise MatcherError(f"unknown matcher operator {op!r}: use =, !=, =~ or !~")
        rx = None
        if op in ("=~", "!~"):
            if len(value) > MAX_REGEX:
                raise MatcherError(f"the regular expression for {name} is longer than {MAX_REGEX} characters")
            try:
                rx = re.compile(f"(?:{value})", re.S)
            except re.error as exc:
                raise MatcherError(f"{name}{op}{value!r}: not a regular expression ({exc})") from None
        return cls(name, op, value, rx)

    def matches(self, labels: dict[str, Any]) -> bool:
        have = labels.get(self.name)
        have = "" if have is None else str(have)
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = self._rx.fullmatch(have) is not None  # anchored, as in Alertmanager
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"' if self.op != "=" or not _plain(self.value) \
            else f"{self.name}={self.value}"

    def to_json(self) -> list[str]:
        return [self.name, self.op, self.value]


def _plain(value: str) -> bool:
    return bool(re.fullmatch(r"[\w.:@/-]+", value))


def parse_matcher(text: str) -> Matcher:
    """``region=~"east|west"`` (quotes optional; ``\\"`` inside quotes is a quote)."""
    m = _MATCHER.match(str(text))
    if not m:
        raise MatcherError(f"cannot read matcher {text!r}: write label=value, label!=value, "
                           f'label=~"regex" or label!~"regex"')
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].replace(f"\\{value[0]}", value[0])
    return Matcher.make(name, op, value)


def matches_all(matchers: list[Matcher], labels: dict[str, Any]) -> bool:
    return all(m.matches(labels) for m in matchers)


def from_mapping(match: dict) -> list[Matcher]:
    """``match: {severity: critical, kpi: [revenue, conversion]}``: equality, a list meaning any of."""
    out = []
    for k, v in match.items():
        if isinstance(v, list):
            values = [str(x) for x in v]
            out.append(Matcher.make(str(k), "=~", "|".join(re.escape(x) for x in values)))
        else:
            out.append(Matcher.make(str(k), "=", str(v)))
    return out


def from_json(stored: Any) -> list[Matcher]:
    """Matchers as saved with a silence: ``[[name, op, value], ...]``, or the older ``{name: value}``."""
    if isinstance(stored, dict):
        return [Matcher.make(str(k), "=", str(v)) for k, v in stored.items()]
    return [Matcher.make(str(n), str(op), str(v)) for n, op, v in stored]


def describe(matchers: list[Matcher]) -> str:
    return ", ".join(str(m) for m in matchers)


def parse_node(node: Any, where: str, err, loc_of) -> list[Matcher]:
    """``matchers:`` of a route or inhibition rule: a list of matcher strings (or one string).

    ``err(message, location, hint)`` records a located issue; ``loc_of(node, key)`` finds locations.
    """
    items = [node] if isinstance(node, str) else node
    if not isinstance(items, list):
        err(f"{where}: matchers are a list such as ['severity=critical', 'region=~\"east|west\"']",
            loc_of(node, None), None)
        return []
    out = []
    for i, text in enumerate(items):
        try:
            out.append(parse_matcher(str(text)))
        except MatcherError as exc:
            err(f"{where}: {exc}", loc_of(items, i) or loc_of(node, None),
                'write label=value, label!=value, label=~"regex" or label!~"regex"')
    return out
