"""Silences (mute matching alerts for a while) and inhibition (critical hides warning).

A silence is a set of matchers over alert labels (``kpi``, ``rule``,
``severity``, rule labels, dimension values; ``=``, ``!=``, ``=~``, ``!~`` as in
Alertmanager, see matchers.py) and a time window. Silenced alerts
still change state and still show in ``kpi alerts``; they just send nothing.
When a silence ends while the alert still fires, the next check notifies.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable

from .machine import SEVERITY_RANK, AlertState
from .matchers import Matcher, describe, from_json, from_mapping, matches_all


@dataclass
class Silence:
    id: int
    matcher_list: list[Matcher]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str | None = None
    expired_at: float | None = None

    def active(self, now: float) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matcher_list, labels)

    @property
    def matchers(self) -> dict[str, str] | list[str]:
        """``{label: value}`` when every matcher is an equality (as before), else matcher strings."""
        if all(m.op == "=" for m in self.matcher_list):
            return {m.name: m.value for m in self.matcher_list}
        return [str(m) for m in self.matcher_list]

    def describe(self) -> str:
        return describe(self.matcher_list)


def _stored(matchers: list[Matcher]) -> str:
    if all(m.op == "=" for m in matchers) and len({m.name for m in matchers}) == len(matchers):
        return json.dumps({m.name: m.value for m in matchers}, sort_keys=True)  # the older format
    return json.dumps([m.to_json() for m in matchers])


def add_silence(con: sqlite3.Connection, matchers: dict[str, str] | list[Matcher], duration_s: float, reason: str,
                created_by: str | None = None, now: float | None = None) -> Silence:
    """A silence over ``matchers``: ``{label: value}`` (equality) or a list of :class:`Matcher`."""
    matcher_list = from_mapping(matchers) if isinstance(matchers, dict) else list(matchers)
    if not matcher_list:
        raise ValueError("a silence needs at least one matcher (e.g. --kpi conversion)")
    if not reason.strip():
        raise ValueError("a silence needs a reason (--reason), so the next person knows why")
    now = time.time() if now is None else now
    cur = con.execute(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, reason, created_by, created_at) "
        "VALUES (?,?,?,?,?,?)", (_stored(matcher_list), now, now + duration_s, reason, created_by, now))
    return Silence(cur.lastrowid, matcher_list, now, now + duration_s, reason, created_by)


def silence_from_row(r) -> Silence:
    """A row of ``alert_silences`` (either matcher format) as a :class:`Silence`."""
    return Silence(r["id"], from_json(json.loads(r["matchers"])), r["starts_at"], r["ends_at"], r["reason"],
                   r["created_by"], r["expired_at"])


def list_silences(con: sqlite3.Connection, *, include_expired: bool = False, now: float | None = None) -> list[Silence]:
    now = time.time() if now is None else now
    out = []
    for r in con.execute("SELECT * FROM alert_silences ORDER BY id"):
        s = silence_from_row(r)
        if include_expired or s.active(now):
            out.append(s)
    return out


def expire_silence(con: sqlite3.Connection, silence_id: int, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    cur = con.execute("UPDATE alert_silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL",
                      (now, silence_id))
    return cur.rowcount == 1


def silenced_by(labels: dict[str, str], silences: Iterable[Silence], now: float) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.matches(labels)), None)


def inhibited(states: Iterable[tuple[AlertState, str]]) -> set[tuple[str, str]]:
    """(rule, key) of alerts hidden by a more severe firing alert on the same KPI and dimension values.

    ``states`` yields (state, kpi). A critical on conversion/east hides a warning
    on conversion/east from any rule, not a warning on conversion/west.
    """
    states = list(states)
    worst: dict[tuple[str, str], int] = {}
    for st, kpi in states:
        if st.state == "firing":
            k = (kpi, st.key)
            worst[k] = max(worst.get(k, -1), SEVERITY_RANK.get(st.severity or "", 0))
    hidden = set()
    for st, kpi in states:
        if st.state == "firing" and SEVERITY_RANK.get(st.severity or "", 0) < worst[(kpi, st.key)]:
            hidden.add((st.rule, st.key))
    return hidden
