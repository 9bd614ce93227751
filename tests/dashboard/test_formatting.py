"""Numbers formatted by unit, changes by unit, tone by direction."""
from __future__ import annotations

import math

from kpiengine.dashboard.formatting import change, format_short, format_value, tone


def test_values_by_unit():
    assert format_value(0.125, "percent") == "12.5%"
    assert format_value(1234567, "count") == "1,234,567"
    assert format_value(1234567.891, "currency") == "1,234,568"
    assert format_value(12.5, "currency") == "12.50"
    assert format_value(90061, "duration") == "1d 1h"  # 1 day, 1 hour, 1 minute, 1 second
    assert format_value(3725, "duration") == "1h 02m"
    assert format_value(42, "duration") == "42s"
    assert format_value(6.95, "number") == "6.95"
    assert format_value(None, "count") == "—"
    assert format_value(math.nan, "percent") == "—"
    assert format_value(0.5, "percent", "{:.0%}") == "50%"  # the spec's own format wins
    assert format_value(0.5, "percent", "{:.0%") == "50.0%"  # a broken format falls back


def test_short_forms_for_tiles():
    assert format_short(6_106_557, "currency") == "6.1M"
    assert format_short(45_210, "count") == "45.2k"
    assert format_short(5_053, "count") == "5,053"
    assert format_short(0.174, "percent") == "17.4%"


def test_change_of_a_rate_is_in_points_of_a_volume_in_percent():
    assert change(0.085, 0.218, "percent")["text"] == "-13.3 pp"
    c = change(440, 500, "count")
    assert c["text"] == "-12.0%" and c["rel"] == -0.12 and c["abs"] == -60
    assert change(5, 0, "count")["text"] == "+5"  # no percentage of zero
    assert change(5, None, "count")["text"] == "no previous value"
    assert change(None, None, "count")["text"] == "no data"


def test_tone_reads_the_direction():
    drop = change(0.085, 0.218, "percent")
    assert tone(drop, "higher", "percent") == "bad"  # conversion falling
    assert tone(drop, "lower", "percent") == "good"  # churn falling
    assert tone(change(1000, 1001, "count"), "higher", "count") == "flat"  # -0.1 % is noise
    assert tone(change(None, 3, "count"), "higher", "count") == "flat"
