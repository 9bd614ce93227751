"""Silences (mute matching alerts for a while) and inhibition (critical hides warning).

A silence is a set of matchers over alert labels (``kpi``, ``rule``,
``severity``, rule labels, dimension values) and a time window. Silenced alerts
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


@dataclass
class Silence:
    id: int
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str | None = None
    expired_at: float | None = None

    def active(self, now: float) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(str(labels.get(k)) == str(v) for k, v in self.matchers.items())


def add_silence(con: sqlite3.Connection, matchers: dict[str, str], duration_s: float, reason: str,
                created_by: str | None = None, now: float | None = None) -> Silence:
    if not matchers:
        raise ValueError("a silence needs at least one matcher (e.g. --kpi conversion)")
    if not reason.strip():
        raise ValueError("a silence needs a reason (--reason), so the next person knows why")
    now = time.time() if now is None else now
    cur = con.execute(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, reason, created_by, created_at) "
        "VALUES (?,?,?,?,?,?)", (json.dumps(matchers, sort_keys=True), now, now + duration_s, reason, created_by, now))
    return Silence(cur.lastrowid, dict(matchers), now, now + duration_s, reason, created_by)


def list_silences(con: sqlite3.Connection, *, include_expired: bool = False, now: float | None = None) -> list[Silence]:
    now = time.time() if now is None else now
    out = []
    for r in con.execute("SELECT * FROM alert_silences ORDER BY id"):
        s = Silence(r["id"], json.loads(r["matchers"]), r["starts_at"], r["ends_at"], r["reason"],
                    r["created_by"], r["expired_at"])
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
