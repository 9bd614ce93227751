"""The outbox against real local servers: retries, Retry-After, hangs, refused connections,
give-up and fallback, idempotency keys, and leases between concurrent deliverers."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from kpiengine.alerting.outbox import Outbox, enqueue, outbox_rows
from kpiengine.alerting.routing import SinkSettings, build_sink
from kpiengine.alerting.state import connect
from kpiengine.sinks import AlertItem, Notification
from kpiengine.testing import RecordingHTTPServer, Reply, SMTPTestServer, closed_port

from alerting_helpers import FakeClock


def note(key: str = "kpi-test-1", label: str = "轉化率 Conversion") -> Notification:
    item = AlertItem(rule="conversion_drop", kpi="conversion", kpi_label=label, severity="critical",
                     status="firing", period_start="2026-10-26", dimensions={"region": "east"}, value=0.085,
                     baseline=0.205, change=-0.585, threshold=0.123, unit="percent",
                     process_path=["Sales", "Closing"], message="conversion in east fell to 8.5 %")
    return Notification(idempotency_key=key, title=f"{label}: 1 alert firing", severity="critical",
                         status="firing", text="1 firing", items=[item], route="pager",
                         created_at="2026-11-02T08:00:00+00:00")


def hook(name: str, url: str, **delivery) -> SinkSettings:
    s = SinkSettings(name, "webhook", {"url": url, "timeout": 0.5, "connect_timeout": 0.5})
    for k, v in delivery.items():
        setattr(s, k, v)
    return s


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "h.db")
    yield c
    c.close()


def write(con, n: Notification, sink: str, now: float) -> int:
    con.execute("BEGIN IMMEDIATE")
    row_id = enqueue(con, n, sink, now)
    con.execute("COMMIT")
    return row_id


def keys(server) -> list[str]:
    return [r.header("Idempotency-Key") for r in server.requests]


def test_500_then_ok_is_retried_with_the_same_key(con):
    with RecordingHTTPServer() as server:
        server.script(Reply.error(500), Reply.error(503), Reply.ok())
        sinks = {"hook": hook("hook", server.url_for("/h"), retry_initial=timedelta(seconds=0.05))}
        write(con, note(), "hook", time.time())
        report = Outbox(con, sinks, build_sink).deliver(budget=10)
        assert len(report.delivered) == 1 and not report.pending
        assert keys(server) == ["kpi-test-1"] * 3
        assert server.requests[-1].json()["items"][0]["kpi_label"] == "轉化率 Conversion"
        [row] = outbox_rows(con)
        assert (row["status"], row["attempts"]) == ("delivered", 3)


def test_429_retry_after_is_honoured(con):
    clock = FakeClock()
    with RecordingHTTPServer() as server:
        server.script(Reply.rate_limited(retry_after=120), Reply.ok())
        sinks = {"hook": hook("hook", server.url_for("/h"))}
        write(con, note(), "hook", clock.t)
        t0 = clock.t
        short = Outbox(con, sinks, build_sink, clock=clock, sleep=clock.sleep).deliver(budget=60)
        assert short.pending and len(server.requests) == 1  # 120 s is beyond this run's budget
        [row] = outbox_rows(con)
        assert row["status"] == "pending" and "429" in row["last_error"]
        nxt = con.execute("SELECT next_attempt_at FROM alert_outbox").fetchone()[0]
        assert nxt == pytest.approx(t0 + 120)  # exactly what the receiver asked for, no own backoff
        clock.t = t0 + 119
        assert Outbox(con, sinks, build_sink, clock=clock, sleep=clock.sleep).deliver(budget=0).pending
        assert len(server.requests) == 1  # not yet due: not sent
        clock.t = t0 + 121
        later = Outbox(con, sinks, build_sink, clock=clock, sleep=clock.sleep).deliver(budget=0)
        assert later.delivered and keys(server) == ["kpi-test-1", "kpi-test-1"]


def test_hanging_receiver_times_out_and_is_retried(con):
    with RecordingHTTPServer() as server:
        server.script(Reply.hang_for(3), Reply.ok())
        sinks = {"hook": hook("hook", server.url_for("/h"), retry_initial=timedelta(seconds=0.05))}
        write(con, note(), "hook", time.time())
        t = time.monotonic()
        report = Outbox(con, sinks, build_sink).deliver(budget=10)
        assert report.delivered and time.monotonic() - t < 3  # the sink's 0.5 s timeout cut the hang
        assert len(server.requests) == 2


def test_refused_connection_gives_up_then_falls_back(con):
    clock = FakeClock()
    with RecordingHTTPServer() as backup:
        sinks = {
            "hook": hook("hook", f"http://127.0.0.1:{closed_port()}/h", give_up_after=timedelta(minutes=10),
                         fallback="backup"),
            "backup": hook("backup", backup.url_for("/b")),
        }
        write(con, note(), "hook", clock.t)
        report = Outbox(con, sinks, build_sink, clock=clock, sleep=clock.sleep,
                        rng=__import__("random").Random(7)).deliver(budget=3600)
        rows = {r["sink"]: r for r in outbox_rows(con)}
        assert rows["hook"]["status"] == "failed" and rows["hook"]["attempts"] > 3
        assert rows["backup"]["status"] == "delivered" and rows["backup"]["fallback_of"] == rows["hook"]["id"]
        [req] = backup.requests
        assert req.json()["text"].startswith("(delivery to sink 'hook' failed:")
        assert req.header("Idempotency-Key") == "kpi-test-1"
        assert clock.t - 1_800_000_000.0 <= 10 * 60 + 1  # gave up within give_up_after
        assert any("sent to fallback sink 'backup'" in e for e in report.errors)


def test_backoff_grows_exponentially_with_jitter(con):
    from kpiengine.alerting.outbox import Outbox as O

    s = SinkSettings("x", "webhook", {}, retry_initial=timedelta(seconds=2), retry_max=timedelta(seconds=60))
    box = O(con, {}, build_sink, rng=__import__("random").Random(1))
    delays = [box._backoff(s, n, None) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        base = min(60, 2 * 2 ** (n - 1))
        assert base / 2 <= d <= base
    assert box._backoff(s, 3, 7.0) == 7.0


def test_permanent_error_goes_straight_to_fallback(con):
    with RecordingHTTPServer() as server:
        server.respond(Reply.error(400, "bad payload"))
        sinks = {"hook": hook("hook", server.url_for("/h"), fallback="backup"),
                 "backup": hook("backup", server.url_for("/b"))}
        write(con, note(), "hook", time.time())
        Outbox(con, sinks, build_sink).deliver(budget=5)
        assert [r.path for r in server.requests] == ["/h", "/b"]  # no retry of a 400
        statuses = {r["sink"]: r["status"] for r in outbox_rows(con)}
        assert statuses == {"hook": "failed", "backup": "failed"}  # the backup also answers 400


def test_secrets_do_not_leak_into_errors(con):
    sinks = {"hook": hook("hook", f"http://127.0.0.1:{closed_port()}/services/T000/SECRETTOKEN",
                          give_up_after=timedelta(seconds=0))}
    write(con, note(), "hook", time.time())
    report = Outbox(con, sinks, build_sink).deliver(budget=1)
    assert report.failed
    assert "SECRETTOKEN" not in "\n".join(report.errors)
    assert "SECRETTOKEN" not in (outbox_rows(con)[0]["last_error"] or "")


def test_two_deliverers_never_send_a_row_twice(tmp_path):
    with RecordingHTTPServer(default=Reply(200, b"ok", hang=0.02)) as server:
        sinks = {"hook": hook("hook", server.url_for("/h"))}
        c0 = connect(tmp_path / "h.db")
        now = time.time()
        for i in range(30):
            write(c0, note(f"kpi-{i}"), "hook", now)
        c0.close()
        reports = []

        def work():
            c = connect(tmp_path / "h.db")
            reports.append(Outbox(c, sinks, build_sink).deliver(budget=20))
            c.close()

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent = keys(server)
        assert sorted(sent) == sorted(f"kpi-{i}" for i in range(30))  # each exactly once
        assert sum(len(r.delivered) for r in reports) == 30
        assert sum(1 for r in reports if r.delivered) >= 2  # the work really was shared


def test_email_through_smtp_with_temporary_failure(con):
    with SMTPTestServer() as smtp:
        smtp.script("451 4.3.0 try again later")
        sinks = {"mail": SinkSettings("mail", "email", {"host": smtp.host, "port": smtp.port,
                                                         "from": "kpi@example.com", "to": ["ops@example.com"],
                                                         "timeout": 5},
                                      retry_initial=timedelta(seconds=0.05))}
        write(con, note(), "mail", time.time())
        report = Outbox(con, sinks, build_sink).deliver(budget=10)
        assert report.delivered
        [mail] = smtp.messages
        msg = mail.message
        assert "轉化率 Conversion" in msg["Subject"]
        body = msg.get_body(("plain",)).get_content()
        assert "region=east" in body and "8.5 %" in body and "20.5 %" in body
