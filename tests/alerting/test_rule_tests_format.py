"""The `kpi test` file format: series notation and series names."""
from __future__ import annotations

import pytest

from kpiengine.alerting.unittest import parse_series, parse_series_key


def test_series_notation():
    assert parse_series("0.2x3 8% _ 1e2") == [0.2, 0.2, 0.2, 0.08, None, 100.0]
    assert parse_series([1, None, "_", 2.5]) == [1.0, None, None, 2.5]
    assert parse_series(7) == [7.0]
    with pytest.raises(ValueError, match="series token 'lots'"):
        parse_series("1 lots")


def test_series_names():
    assert parse_series_key("conversion") == ("conversion", {})
    assert parse_series_key("conversion{region=east, channel = web}") == \
        ("conversion", {"region": "east", "channel": "web"})
    assert parse_series_key('revenue{rep="Anna Schmidt"}') == ("revenue", {"rep": "Anna Schmidt"})
    with pytest.raises(ValueError):
        parse_series_key("1conversion")
