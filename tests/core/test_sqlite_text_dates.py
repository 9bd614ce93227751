"""SQLite reads text dates with SQL that grows linearly with the format, and reads them right.

Values are run on a real SQLite database and compared with dates written by
hand; the size of the SQL is compared field by field.
"""
from __future__ import annotations

import sqlite3

import pytest
from sqlglot import exp

from kpiengine.sql.periods import PeriodError, text_to_timestamp

CASES = [  # (format, text, expected timestamp or None)
    ("%d-%m-%Y %H:%M", "05-01-2026 10:30", "2026-01-05 10:30:00"),
    ("%d-%m-%Y %H:%M", " 5-1-2026 7:05 ", "2026-01-05 07:05:00"),
    ("%d-%m-%Y %H:%M", "31-12-1999 23:59", "1999-12-31 23:59:00"),
    ("%d-%m-%Y %H:%M", "29-02-2024 00:00", "2024-02-29 00:00:00"),
    ("%d-%m-%Y %H:%M", "29-02-2025 00:00", None),  # no such day: not rolled over to March
    ("%d-%m-%Y %H:%M", "05-01-2026", None),  # fields missing
    ("%d-%m-%Y %H:%M", "05-01-2026 10:30:00", None),  # a field too many
    ("%d-%m-%Y %H:%M", "05--01-2026 10:30", None),  # empty field
    ("%d-%m-%Y %H:%M", "-05-01-2026 10:30", None),
    ("%d-%m-%Y %H:%M", "05-01-2026 10:", None),
    ("%d-%m-%Y %H:%M", "05/01/2026 10:30", None),  # other separators
    ("%d-%m-%Y %H:%M", "05-01-2026 10:3x", None),
    ("%d-%m-%Y %H:%M", 'ab"c-01-2026 10:30', None),  # quotes never reach JSON_EXTRACT
    ("%d-%m-%Y %H:%M", "25-13-2026 10:30", None),  # month 13
    ("%d-%m-%Y %H:%M", "", None),
    ("%d-%m-%Y %H:%M", None, None),
    ("%Y/%m/%d", "2026/3/9", "2026-03-09 00:00:00"),
    ("%Y/%m/%d", "2026/03/09/", None),
    ("%m.%d.%Y %H:%M:%S", "12.31.2026 23:59:58", "2026-12-31 23:59:58"),
    ("%m.%d.%Y %H:%M:%S", "12.31.2026 24:00:00", None),
    ("%Y%m%d", "20260309", None),  # no separators: on SQLite a format must separate its fields
]


@pytest.mark.parametrize("fmt,text,expected", CASES)
def test_values(fmt, text, expected):
    try:
        sql = text_to_timestamp(exp.column("t"), fmt, "sqlite").sql("sqlite")
    except PeriodError:
        assert expected is None and fmt == "%Y%m%d"
        return
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE x (t TEXT)")
    con.execute("INSERT INTO x VALUES (?)", (text,))
    assert con.execute(f"SELECT {sql} FROM x").fetchone()[0] == expected


def test_sql_grows_linearly_with_the_fields():
    formats = ["%d-%m-%Y", "%d-%m-%Y %H", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S"]
    sizes = [len(text_to_timestamp(exp.column("created_at"), f, "sqlite").sql("sqlite")) for f in formats]
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    # a bounded size per field (the nested split doubled per field: 4 KB, 9 KB, 18 KB, 37 KB)
    assert max(steps) < 800, sizes
    assert sizes[2] < 3000, sizes


def test_a_digit_as_separator_is_refused():
    with pytest.raises(PeriodError, match="separator cannot be a digit"):
        text_to_timestamp(exp.column("t"), "%d1%m1%Y", "sqlite")
