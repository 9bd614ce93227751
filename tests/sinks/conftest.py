"""Shared fixtures for sink tests: a sample notification with Chinese labels and local servers."""
from __future__ import annotations

import pytest

from kpiengine.sinks import AlertItem, Notification
from kpiengine.testing import RecordingHTTPServer

# Values chosen so the rendered numbers are easy to compute by hand:
# 0.125 -> "12.5 %", 0.15 -> "15.0 %", change (0.125 - 0.15) / 0.15 = -1/6 -> "-16.7 %".
VALUE, BASELINE, THRESHOLD = 0.125, 0.15, 0.13
CHANGE = (VALUE - BASELINE) / BASELINE


def make_item(**overrides) -> AlertItem:
    fields = dict(rule="conversion_drop", kpi="conversion", kpi_label="轉化率 Conversion", severity="critical",
                  status="firing", period_start="2026-01-05", dimensions={"region": "華東"},
                  value=VALUE, baseline=BASELINE, change=CHANGE, threshold=THRESHOLD, unit="percent",
                  process_path=["銷售體系 Sales", "成交 Closing"], owner="sales@example.com",
                  playbook="檢查報價流程 Check the quote process", message="轉化率下降 conversion dropped")
    fields.update(overrides)
    return AlertItem(**fields)


def make_notification(items=None, **overrides) -> Notification:
    fields = dict(idempotency_key="route-default:conversion_drop:2026-01-05:華東", title="轉化率下降 Conversion dropped",
                  severity="critical", status="firing", text="1 alert firing / 1 條告警",
                  items=[make_item()] if items is None else items, route="default",
                  created_at="2026-01-12T08:00:00Z")
    fields.update(overrides)
    return Notification(**fields)


@pytest.fixture
def notification() -> Notification:
    return make_notification()


@pytest.fixture
def http_server():
    with RecordingHTTPServer() as server:
        yield server


@pytest.fixture
def item_factory():
    return make_item


@pytest.fixture
def notification_factory():
    return make_notification
