"""Console and file sinks."""
from __future__ import annotations

import json
import threading

import pytest

from kpiengine.errors import PermanentSinkError
from kpiengine_plugins.console_sink import ConsoleSink
from kpiengine_plugins.file_sink import FileSink


def test_console_prints_readable_text_to_stdout(capsys, notification):
    ConsoleSink("console", {}).send(notification)
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "🔴 CRITICAL: 轉化率下降 Conversion dropped"
    assert "  Value: 12.5 %" in lines and "  Change: -16.7 %" in lines


def test_console_stderr_and_markdown(capsys, notification):
    ConsoleSink("console", {"stream": "stderr", "format": "markdown"}).send(notification)
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("### 🔴 CRITICAL: 轉化率下降 Conversion dropped\n")


def test_console_rejects_unknown_options():
    with pytest.raises(PermanentSinkError, match="stream"):
        ConsoleSink("console", {"stream": "stdlog"})


def test_file_appends_one_json_line_per_notification(tmp_path, notification, notification_factory):
    path = tmp_path / "deep" / "er" / "alerts.jsonl"  # parent folders do not exist yet
    sink = FileSink("audit", {"path": str(path)})
    sink.send(notification)
    sink.send(notification_factory(idempotency_key="second", status="resolved"))
    raw = path.read_bytes()
    assert "華東".encode("utf-8") in raw  # readable UTF-8, not \\u escapes
    first, second = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert first["idempotency_key"] == "route-default:conversion_drop:2026-01-05:華東"
    assert first["items"][0]["value"] == 0.125 and first["items"][0]["kpi_label"] == "轉化率 Conversion"
    assert second["idempotency_key"] == "second" and second["status"] == "resolved"


def test_file_concurrent_writers_never_interleave(tmp_path, notification_factory, item_factory):
    path = tmp_path / "alerts.jsonl"
    big = [item_factory(dimensions={"region": f"r{i}"}) for i in range(50)]  # ~30 kB lines

    def writer(w):
        sink = FileSink("audit", {"path": str(path), "fsync": False})
        for i in range(10):
            sink.send(notification_factory(idempotency_key=f"{w}-{i}", items=big))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = sorted(json.loads(line)["idempotency_key"] for line in path.read_text("utf-8").splitlines())
    assert keys == sorted(f"{w}-{i}" for w in range(4) for i in range(10))


def test_file_path_that_is_a_folder_is_permanent(tmp_path, notification):
    with pytest.raises(PermanentSinkError, match="fix `path`"):
        FileSink("audit", {"path": str(tmp_path)}).send(notification)


def test_file_needs_a_path():
    with pytest.raises(PermanentSinkError, match="'path' is a required property"):
        FileSink("audit", {})
