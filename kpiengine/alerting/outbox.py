"""The persistent outbox: a notification is written down before it is sent.

Life of a row: ``pending`` -> ``delivered`` (Sink.send returned) or ``failed``
(permanent error, or retries gave up after the sink's ``give_up_after``; then a
copy goes to the sink's ``fallback`` sink when one is set).

* Retryable errors back off exponentially with jitter (``retry_initial`` doubling
  up to ``retry_max``), or wait exactly ``retry_after`` when the receiver said so.
* A row is leased before sending (owner host:pid:nonce, lease_until) inside a
  ``BEGIN IMMEDIATE`` transaction: two processes never send the same row at once.
  A lease held by a dead process on this host is taken over at once; others expire.
* Killed at any point, nothing is lost: the next run sends what is still pending.
  The idempotency key is fixed when the row is written, so a resend after a crash
  between send and "delivered" carries the same key (receivers that de-duplicate
  show it once).
"""
from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..errors import KpiEngineError, PermanentSinkError, RetryableSinkError
from ..sinks import AlertItem, Notification
from .routing import SinkSettings
from .state import immediate

LEASE_SECONDS = 300.0
#: a send left running at the deadline keeps its row leased this long (a dead process's lease is taken at once)
IN_FLIGHT_LEASE = 60.0


class _InFlight(Exception):
    """The send was still running when the delivery deadline came."""


def _describe(row) -> str:
    what = f"notification {row['id']} to sink '{row['sink']}'"
    if row["lease_owner"]:
        return what + " (being sent by another process)"
    if row["last_error"]:
        return what + f" (attempt {row['attempts']} failed: {row['last_error']})"
    return what


def _clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S UTC")


def enqueue(con: sqlite3.Connection, notification: Notification, sink: str, now: float,
            fallback_of: int | None = None) -> int | None:
    """Write one outbox row (inside the caller's transaction). Returns its id, None if already there."""
    payload = json.dumps(notification.payload(), ensure_ascii=False, default=str)
    cur = con.execute(
        "INSERT OR IGNORE INTO alert_outbox (idempotency_key, sink, route, payload, created_at, next_attempt_at, "
        "fallback_of) VALUES (?,?,?,?,?,?,?)",
        (notification.idempotency_key, sink, notification.route, payload, now, now, fallback_of))
    return cur.lastrowid if cur.rowcount else None


def notification_from_payload(payload: str) -> Notification:
    data = json.loads(payload)
    items = [AlertItem(**item) for item in data.pop("items", [])]
    return Notification(items=items, **data)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lease_is_stale(owner: str | None, lease_until: float | None, now: float) -> bool:
    if owner is None or lease_until is None or lease_until <= now:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # what the run waited for, or left for the next one


class Outbox:
    def __init__(self, con: sqlite3.Connection, sinks: dict[str, SinkSettings],
                 sink_factory: Callable[[SinkSettings], object], *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, lease_seconds: float = LEASE_SECONDS,
                 progress: Callable[[str], None] | None = None):
        self.con = con
        self.sinks = sinks
        self.sink_factory = sink_factory
        self.clock, self.sleep = clock, sleep
        self.rng = rng or random.Random()
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.progress = progress  # called with a line whenever the run waits or leaves something behind
        self._instances: dict[str, object] = {}
        self._in_flight: set[str] = set()  # sinks whose send was left running at the deadline
        self._current_row = 0

    # -- leasing -------------------------------------------------------------------
    def _claim(self) -> sqlite3.Row | None:
        now = self.clock()
        with immediate(self.con):
            rows = self.con.execute(
                "SELECT * FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT 50", (now,)).fetchall()
            for row in rows:
                if _lease_is_stale(row["lease_owner"], row["lease_until"], now):
                    self.con.execute("UPDATE alert_outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                                     (self.owner, now + self.lease_seconds, row["id"]))
                    return row
        return None

    def _finish(self, row_id: int, keep_lease_until: float | None = None, **updates) -> None:
        sets = ", ".join(f"{k} = ?" for k in updates)
        lease = "lease_owner = NULL, lease_until = NULL" if keep_lease_until is None else "lease_until = ?"
        args = () if keep_lease_until is None else (keep_lease_until,)
        with immediate(self.con):
            # only the lease holder may record the outcome
            self.con.execute(f"UPDATE alert_outbox SET {sets}, {lease} WHERE id = ? AND lease_owner = ?",
                             (*updates.values(), *args, row_id, self.owner))

    # -- delivery ------------------------------------------------------------------
    def pending_count(self) -> int:
        return self.con.execute("SELECT count(*) FROM alert_outbox WHERE status = 'pending'").fetchone()[0]

    def next_due(self) -> float | None:
        """When a pending row may next be tried: a row leased by another live process waits for its lease,
        so a second deliverer leaves instead of polling while the first one is sending."""
        row = self.con.execute(
            "SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM alert_outbox "
            "WHERE status = 'pending'").fetchone()
        return row[0]

    def deliver(self, budget: float = 30.0) -> DeliveryReport:
        """Send due rows, retrying within ``budget`` seconds; later runs pick up what remains.

        ``budget`` is a hard limit on the whole delivery, a request in flight
        included: a send still running at the deadline is left behind (the row
        stays pending, leased for a short while; the next run resends it with
        the same key). Rows an earlier run backed off are due at once: the time
        between two checks is their backoff. Only a receiver's ``Retry-After``
        (``not_before``) is waited for across runs.
        """
        report = DeliveryReport()
        deadline = self.clock() + budget
        send_deadline = deadline if budget > 0 else float("inf")  # 0: what is due, once, no waiting
        self._due_now()
        tried: set[int] = set()
        while True:
            row = self._claim() if self.clock() < send_deadline else None
            if row is not None:
                if budget <= 0 and row["id"] in tried:  # no budget: one attempt per row
                    self._finish(row["id"], attempts=row["attempts"])
                    break
                tried.add(row["id"])
                if not self._attempt(row, report, send_deadline):
                    break  # a send was still in flight at the deadline
                continue
            waiting = self._next_waiting()
            if waiting is None:
                break
            now = self.clock()
            due = waiting["due"]
            if due <= now and now >= deadline:
                self._say(report, f"{_describe(waiting)} was not tried: --delivery-timeout ran out; "
                                  f"the next `kpi check` sends it first")
                break
            if due > deadline:
                self._say(report, f"{_describe(waiting)} waits until {_clock_time(due)} "
                                  f"(after --delivery-timeout); the next `kpi check` sends it")
                break
            if due - now >= 1.0:  # say why the check is quiet instead of leaving the terminal silent
                self._say(report, f"{_describe(waiting)} is retried in {due - now:.0f}s")
            self.sleep(max(0.0, min(due, deadline) - now) + 0.01)
        report.pending = [r[0] for r in self.con.execute("SELECT id FROM alert_outbox WHERE status = 'pending'")]
        for name, inst in self._instances.items():
            if name in self._in_flight:
                continue  # still used by the send left behind
            try:
                inst.close()
            except Exception:
                pass
        self._instances.clear()
        return report

    def _due_now(self) -> None:
        """Make rows backed off by an earlier run due now (never before a receiver's Retry-After)."""
        now = self.clock()
        with immediate(self.con):
            self.con.execute("UPDATE alert_outbox SET next_attempt_at = max(?, coalesce(not_before, 0)) "
                             "WHERE status = 'pending' AND next_attempt_at > ?", (now, now))

    def _next_waiting(self) -> sqlite3.Row | None:
        return self.con.execute(
            "SELECT id, sink, attempts, last_error, lease_owner, max(next_attempt_at, coalesce(lease_until, 0)) "
            "AS due FROM alert_outbox WHERE status = 'pending' ORDER BY due, id LIMIT 1").fetchone()

    def _say(self, report: DeliveryReport, message: str) -> None:
        report.waiting.append(message)
        if self.progress is not None:
            self.progress(message)

    def _sink(self, name: str):
        if name not in self._instances:
            self._instances[name] = self.sink_factory(self.sinks[name])
        return self._instances[name]

    def _send_within(self, sink, notification: Notification, deadline: float) -> None:
        """``sink.send`` in a worker thread, waited for until ``deadline``; raises :class:`_InFlight` after it.

        A sink's own timeouts bound one request, not the run: a receiver that
        trickles bytes, or a connect and read timeout longer than what is left,
        would carry the check past ``--delivery-timeout``.
        """
        outcome: list[BaseException | None] = []
        abandoned = threading.Event()
        lock = threading.Lock()
        path = self.con.execute("PRAGMA database_list").fetchone()[2]
        row_id = self._current_row

        def run():
            try:
                sink.send(notification)
                result = None
            except BaseException as exc:  # handed to the caller's thread as is
                result = exc
            with lock:
                outcome.append(result)
                late = abandoned.is_set()
            if late and path:
                self._record_late(path, row_id, result)

        worker = threading.Thread(target=run, name=f"kpi-send-{sink.name}", daemon=True)
        worker.start()
        worker.join(None if deadline == float("inf") else max(0.0, deadline - self.clock()))
        with lock:
            if not outcome:
                abandoned.set()
                raise _InFlight()
        if outcome and outcome[0] is not None:
            raise outcome[0]

    def _record_late(self, path: str, row_id: int, result: BaseException | None) -> None:
        """A send left behind at the deadline has ended: record it (delivered), or free the row for a retry."""
        try:
            con = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                if result is None:
                    con.execute("UPDATE alert_outbox SET status = 'delivered', delivered_at = ?, last_error = NULL, "
                                "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? "
                                "AND status = 'pending'", (time.time(), row_id, self.owner))
                else:
                    con.execute("UPDATE alert_outbox SET lease_owner = NULL, lease_until = NULL "
                                "WHERE id = ? AND lease_owner = ?", (row_id, self.owner))
            finally:
                con.close()
        except sqlite3.Error:  # the lease then simply expires
            pass

    def _attempt(self, row: sqlite3.Row, report: DeliveryReport, deadline: float = float("inf")) -> bool:
        """One send of ``row``; False when it was still in flight at ``deadline``."""
        self._current_row = row["id"]
        settings = self.sinks.get(row["sink"])
        attempts = row["attempts"] + 1
        if settings is None:
            self._give_up(row, attempts, f"sink '{row['sink']}' is no longer in the spec", report)
            return True
        try:
            sink = self._sink(row["sink"])
            self._send_within(sink, notification_from_payload(row["payload"]), deadline)
        except _InFlight:
            self._in_flight.add(row["sink"])
            now = self.clock()
            # keep the lease a while: the abandoned send may still be talking to the receiver
            self._finish(row["id"], keep_lease_until=now + IN_FLIGHT_LEASE, attempts=attempts, next_attempt_at=now,
                         last_error="still sending when the delivery timeout ran out; resent by the next run "
                                    "with the same idempotency key")
            self._say(report, f"notification {row['id']} to sink '{row['sink']}' was still in flight when "
                              f"--delivery-timeout ran out; it stays pending")
            return False
        except RetryableSinkError as exc:
            now = self.clock()
            delay = self._backoff(settings, attempts, exc.retry_after)
            if now + delay - row["created_at"] > settings.give_up_after.total_seconds():
                self._give_up(row, attempts, str(exc), report)
                return True
            not_before = now + delay if exc.retry_after is not None and exc.retry_after >= 0 else None
            self._finish(row["id"], attempts=attempts, next_attempt_at=now + delay, not_before=not_before,
                         last_error=str(exc))
            report.errors.append(f"{exc} (attempt {attempts}, retry in {delay:.1f}s)")
        except (PermanentSinkError, KpiEngineError) as exc:
            self._give_up(row, attempts, str(exc), report)
        except Exception as exc:  # a sink bug: treat as permanent so the fallback still hears of it
            self._give_up(row, attempts, f"sink '{row['sink']}' crashed: {type(exc).__name__}: {exc}", report)
        else:
            self._finish(row["id"], attempts=attempts, status="delivered", delivered_at=self.clock(),
                         last_error=None, not_before=None)
            report.delivered.append(row["id"])
        return True

    def _backoff(self, settings: SinkSettings, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after >= 0:
            return float(retry_after)
        base = settings.retry_initial.total_seconds() * (2 ** (attempts - 1))
        capped = min(settings.retry_max.total_seconds(), base)
        return capped * (0.5 + self.rng.random() / 2)  # "equal jitter": spread retries of many checks apart

    def _give_up(self, row: sqlite3.Row, attempts: int, error: str, report: DeliveryReport) -> None:
        settings = self.sinks.get(row["sink"])
        fallback = settings.fallback if settings else None
        now = self.clock()
        said = ""
        with immediate(self.con):
            self.con.execute("UPDATE alert_outbox SET status = 'failed', attempts = ?, last_error = ?, "
                             "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                             (attempts, error, row["id"], self.owner))
            if fallback and row["fallback_of"] is None and fallback in self.sinks:
                said = self._to_fallback(row, fallback, error, now)
            elif fallback and row["fallback_of"] is None:
                said = f"; its fallback sink '{fallback}' is not in the spec: NOT delivered anywhere"
        report.failed.append(row["id"])
        report.errors.append(f"gave up on notification {row['id']}: {error}{said}")

    def _to_fallback(self, row: sqlite3.Row, fallback: str, error: str, now: float) -> str:
        """Queue the fallback copy (inside the caller's transaction); returns what the report says.

        The fallback sink may already hold a row for this notification (it is on
        the route too, or two failing sinks share it). A plain insert was then
        ignored while the report said "sent to fallback": the news of the failure
        was lost. Now a copy still queued there gets the failure note added; one
        already sent or failed gets a separate copy with a key of its own.
        """
        why = f"(delivery to sink '{row['sink']}' failed: {error})"
        n = notification_from_payload(row["payload"])
        existing = self.con.execute("SELECT id, status, payload FROM alert_outbox WHERE idempotency_key = ? "
                                    "AND sink = ?", (n.idempotency_key, fallback)).fetchone()
        if existing is None:
            n.text = f"{why}\n\n{n.text}"
            enqueue(self.con, n, fallback, now, fallback_of=row["id"])
            return f"; sent to fallback sink '{fallback}'"
        if existing["status"] == "pending":
            queued = notification_from_payload(existing["payload"])
            queued.text = f"{why}\n{queued.text}" if queued.text.startswith("(delivery to") else \
                f"{why}\n\n{queued.text}"
            self.con.execute("UPDATE alert_outbox SET payload = ? WHERE id = ?",
                             (json.dumps(queued.payload(), ensure_ascii=False, default=str), existing["id"]))
            return f"; added to the copy already queued for fallback sink '{fallback}' (notification {existing['id']})"
        n.text = f"{why}\n\n{n.text}"
        n.idempotency_key = f"{n.idempotency_key}-via-{row['sink']}"
        new_id = enqueue(self.con, n, fallback, now, fallback_of=row["id"])
        if new_id is None:
            return f"; fallback sink '{fallback}' already has a copy of it from sink '{row['sink']}'"
        return (f"; sent to fallback sink '{fallback}' as a separate copy (notification {new_id}): "
                f"it had this notification already ({existing['status']})")


def outbox_rows(con: sqlite3.Connection, status: str | None = None) -> list[dict]:
    sql = "SELECT id, idempotency_key, sink, route, status, attempts, created_at, last_error, delivered_at, " \
          "fallback_of FROM alert_outbox" + (" WHERE status = ?" if status else "") + " ORDER BY id"
    return [dict(r) for r in con.execute(sql, (status,) if status else ())]
