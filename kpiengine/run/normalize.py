"""Driver values made comparable: the same Python value whatever engine returned it.

PostgreSQL gives Decimal, MariaDB bytes, Spark datetime, SQLite text; values
from different models meet on (period, dimensions) only when each becomes the
same Python value first. The engine, funnels and history all read results
through these functions.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..errors import KpiEngineError


def sort_key(key: tuple) -> tuple:
    # None sorts last within a dimension; mixed types compare by their text.
    return tuple((v is None, str(v) if not isinstance(v, date) else v.isoformat()) for v in key)


def normalize_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if hasattr(value, "date"):
        return value.date()
    raise KpiEngineError(f"cannot read a period start from {value!r}")


def normalize_number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def normalize_value(value: Any) -> Any:
    """Dimension values: the same Python value whatever driver returned them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
