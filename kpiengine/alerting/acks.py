"""Acknowledgements: a person records what they did about an alert (``kpi ack``).

Silences say "stop telling me"; an acknowledgement says "I am on it, and this
is what I did". The review counts both, so a KPI whose alerts are always
silenced and never acted on shows up as noise, and one whose alerts lead to
action as a KPI that steers. Acknowledgements live in the history file next
to the alert states and are never sent anywhere.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import date

from . import periods as P

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_acks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, key TEXT NOT NULL, period TEXT NOT NULL,
    note TEXT NOT NULL, created_by TEXT, created_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Ack:
    id: int
    rule: str
    key: str
    period: date  # the period of the alert it acknowledges
    note: str
    created_by: str | None
    created_at: float


def add_ack(con: sqlite3.Connection, rule: str, key: str, period: date, note: str, created_by: str | None = None,
            now: float | None = None) -> Ack:
    if not note.strip():
        raise ValueError("an acknowledgement needs a note (--note): what was done about it")
    con.executescript(SCHEMA)
    now = time.time() if now is None else now
    cur = con.execute("INSERT INTO alert_acks (rule, key, period, note, created_by, created_at) VALUES (?,?,?,?,?,?)",
                      (rule, key, period.isoformat(), note.strip(), created_by, now))
    return Ack(cur.lastrowid, rule, key, period, note.strip(), created_by, now)


def list_acks(con: sqlite3.Connection) -> list[Ack]:
    con.executescript(SCHEMA)
    return [Ack(r["id"], r["rule"], r["key"], P.as_date(r["period"]), r["note"], r["created_by"], r["created_at"])
            for r in con.execute("SELECT * FROM alert_acks ORDER BY id")]
