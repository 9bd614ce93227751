"""Rendering of notifications: numbers formatted as people read them, in every format."""
from __future__ import annotations

import pytest

from kpiengine.render import (format_change, format_dimensions, format_value, to_html, to_markdown, to_text,
                              truncate, truncate_utf8)


@pytest.mark.parametrize("value, unit, expected", [
    (0.125, "percent", "12.5 %"), (1.0, "percent", "100.0 %"), (1234567, "count", "1,234,567"),
    (381782.69, "currency", "381,783"), (12.5, "currency", "12.50"), (None, "percent", "n/a"),
    (float("nan"), None, "n/a"), (42.0, None, "42"), (3.14159, "number", "3.142"), (0.012345, None, "0.01235"),
    (-2500.4, "number", "-2,500"), (90, "duration", "1.5m"), (5400, "duration", "1.5h"), (172800, "duration", "2.0d"),
    (42, "duration", "42s"),
])
def test_format_value(value, unit, expected):
    assert format_value(value, unit) == expected


@pytest.mark.parametrize("change, expected", [(0.18, "+18.0 %"), (-0.052, "-5.2 %"), (0.0, "+0.0 %"), (None, "n/a")])
def test_format_change(change, expected):
    assert format_change(change) == expected


def test_format_dimensions_shows_null_as_none():
    assert format_dimensions({"region": "華東", "channel": None}) == "region=華東, channel=(none)"


def test_text_rendering_exact(notification):
    assert to_text(notification) == (
        "🔴 CRITICAL: 轉化率下降 Conversion dropped\n"
        "\n"
        "1 alert firing / 1 條告警\n"
        "\n"
        "🔴 轉化率 Conversion (region=華東 · 2026-01-05)\n"
        "  轉化率下降 conversion dropped\n"
        "  KPI: 轉化率 Conversion\n"
        "  Value: 12.5 %\n"
        "  Baseline: 15.0 %\n"
        "  Change: -16.7 %\n"
        "  Threshold: 13.0 %\n"
        "  Dimensions: region=華東\n"
        "  Period: 2026-01-05\n"
        "  Process: 銷售體系 Sales > 成交 Closing\n"
        "  Owner: sales@example.com\n"
        "  Playbook: 檢查報價流程 Check the quote process\n")


def test_markdown_rendering_exact(notification):
    assert to_markdown(notification) == (
        "### 🔴 CRITICAL: 轉化率下降 Conversion dropped\n"
        "\n"
        "1 alert firing / 1 條告警\n"
        "\n"
        "**🔴 轉化率 Conversion (region=華東 · 2026-01-05)**\n"
        "\n"
        "轉化率下降 conversion dropped\n"
        "\n"
        "- KPI: 轉化率 Conversion\n"
        "- Value: 12.5 %\n"
        "- Baseline: 15.0 %\n"
        "- Change: -16.7 %\n"
        "- Threshold: 13.0 %\n"
        "- Dimensions: region=華東\n"
        "- Period: 2026-01-05\n"
        "- Process: 銷售體系 Sales > 成交 Closing\n"
        "- Owner: sales@example.com\n"
        "\n"
        "> Playbook: 檢查報價流程 Check the quote process")


def test_html_escapes_everything(notification_factory, item_factory):
    item = item_factory(kpi_label="<script>alert(1)</script>", playbook="a & b")
    page = to_html(notification_factory(items=[item], title="x < y"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "x &lt; y" in page and "a &amp; b" in page and "<td>12.5 %</td>" in page


def test_grouped_notification_is_capped(notification_factory, item_factory):
    items = [item_factory(dimensions={"region": f"r{i}"}) for i in range(25)]
    text = to_text(notification_factory(items=items), max_items=20)
    assert text.count("  Value: 12.5 %") == 20 and text.rstrip().endswith("… and 5 more alert(s)")


def test_truncation_never_splits_characters():
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"
    cut = truncate_utf8("轉化率轉化率", 10)  # 3 bytes per character; "…" is 3 bytes
    assert cut == "轉化…" and len(cut.encode("utf-8")) <= 10
