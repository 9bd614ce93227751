"""Alert state persisted in the project's SQLite history file.

Every ``kpi check`` reads the states, advances them and records what it
notified inside one ``BEGIN IMMEDIATE`` transaction: SQLite then lets one
writer in at a time, so two checks started together are serialised. The second
sees the first one's states and notification log, finds nothing new, and sends
nothing: no double notification and no lost transition.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .machine import AlertState

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    rule TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, severity TEXT,
    data TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (rule, key));
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL,
    period TEXT, transition TEXT NOT NULL, severity TEXT, value REAL, baseline REAL);
CREATE TABLE IF NOT EXISTS alert_notified (
    route TEXT NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, severity TEXT,
    sent_at REAL NOT NULL, PRIMARY KEY (route, rule, key));
CREATE TABLE IF NOT EXISTS alert_silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, matchers TEXT NOT NULL, starts_at REAL NOT NULL,
    ends_at REAL NOT NULL, reason TEXT NOT NULL, created_by TEXT, created_at REAL NOT NULL,
    expired_at REAL);
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL, sink TEXT NOT NULL,
    route TEXT, payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, next_attempt_at REAL NOT NULL, lease_owner TEXT, lease_until REAL,
    last_error TEXT, delivered_at REAL, fallback_of INTEGER, not_before REAL, UNIQUE (idempotency_key, sink));
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (status, next_attempt_at);
"""


def history_file(project) -> Path:
    """The project's history file (``project.history``, relative to the spec folder)."""
    override = os.environ.get("KPIENGINE_HISTORY")  # the same override the history store honours
    path = Path(os.path.expanduser(override or project.history_path or ".kpiengine/history.db"))
    if not path.is_absolute():
        path = Path(project.folder) / path
    return path


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and a generous busy wait."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA busy_timeout = 60000")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.executescript(SCHEMA)
    _migrate(con)
    return con


def _migrate(con: sqlite3.Connection) -> None:
    """Columns added after the first release, added to history files written before them."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(alert_outbox)")}
    if "not_before" not in columns:  # the receiver's Retry-After: honoured even by the next run
        try:
            con.execute("ALTER TABLE alert_outbox ADD COLUMN not_before REAL")
        except sqlite3.OperationalError as exc:  # a concurrent check added it first
            if "duplicate column" not in str(exc):
                raise


@contextmanager
def immediate(con: sqlite3.Connection, *, rollback: bool = False) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error, or always when ``rollback``: dry runs)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("ROLLBACK" if rollback else "COMMIT")


class AlertStore:
    """Alert states, transition events and the per-route notification log."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    @classmethod
    def open(cls, path) -> "AlertStore":
        return cls(connect(path))

    def close(self) -> None:
        self.con.close()

    def states(self, rule: str | None = None) -> dict[tuple[str, str], AlertState]:
        sql, args = "SELECT data FROM alert_state", ()
        if rule is not None:
            sql, args = sql + " WHERE rule = ?", (rule,)
        out = {}
        for row in self.con.execute(sql, args):
            st = AlertState.from_dict(json.loads(row["data"]))
            out[(st.rule, st.key)] = st
        return out

    def save(self, st: AlertState, transition: str | None, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.con.execute(
            "INSERT INTO alert_state (rule, key, state, severity, data, updated_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (rule, key) DO UPDATE SET state=excluded.state, severity=excluded.severity, "
            "data=excluded.data, updated_at=excluded.updated_at",
            (st.rule, st.key, st.state, st.severity, json.dumps(st.to_dict(), ensure_ascii=False, default=str), now))
        if transition:
            self.con.execute(
                "INSERT INTO alert_events (at, rule, key, period, transition, severity, value, baseline) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (now, st.rule, st.key, st.last_period, transition, st.severity, _num(st.value), _num(st.baseline)))

    def events(self, rule: str | None = None, limit: int = 100) -> list[dict]:
        sql = "SELECT * FROM alert_events" + (" WHERE rule = ?" if rule else "") + " ORDER BY id DESC LIMIT ?"
        args = (rule, limit) if rule else (limit,)
        return [dict(r) for r in self.con.execute(sql, args)]

    def notified(self, route: str, rule: str, key: str) -> dict | None:
        row = self.con.execute("SELECT * FROM alert_notified WHERE route=? AND rule=? AND key=?",
                               (route, rule, key)).fetchone()
        return dict(row) if row else None

    def mark_notified(self, route: str, st: AlertState, status: str, now: float) -> None:
        self.con.execute(
            "INSERT INTO alert_notified (route, rule, key, status, severity, sent_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (route, rule, key) DO UPDATE SET status=excluded.status, severity=excluded.severity, "
            "sent_at=excluded.sent_at", (route, st.rule, st.key, status, st.severity, now))

    def forget_rules(self, keep: set[str]) -> None:
        """Drop states of rules no longer in the spec (they can never resolve otherwise)."""
        for (rule,) in self.con.execute("SELECT DISTINCT rule FROM alert_state").fetchall():
            if rule not in keep:
                self.con.execute("DELETE FROM alert_state WHERE rule = ?", (rule,))
                self.con.execute("DELETE FROM alert_notified WHERE rule = ?", (rule,))

    def forget_keys(self, rule: str, keys: list[str]) -> None:
        """Drop some alerts of one rule (those of a `where:` the rule no longer has)."""
        for key in keys:
            self.con.execute("DELETE FROM alert_state WHERE rule = ? AND key = ?", (rule, key))
            self.con.execute("DELETE FROM alert_notified WHERE rule = ? AND key = ?", (rule, key))


def _num(x):
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None
