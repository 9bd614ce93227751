"""What the next incremental run keeps: every value of a request as of its last run, one text per period.

An incremental run takes the periods before its restart point from here and
computes the rest (:mod:`kpiengine.run.incremental`). The values were one JSON
text for the whole request, so a run after one new day parsed every value
and encoded and wrote every value again, the 51 weeks it kept with the one it
computed: most of the run's time outside the warehouse. With a text per
period, a run deletes and writes only the periods from its restart point on
(nothing at all when nothing changed) and reads only the ones before it.

``incremental_kept`` says which run the periods hold the values of; the
history of an older kpiengine has instead one text per request in
``incremental_values``, read once and then replaced by periods.

The texts are read and written with orjson: parsing a year of weekly values
was half of reading them with the standard library's decoder. A text orjson
refuses (an integer past 64 bits, a ``NaN`` an older kpiengine wrote) goes
through the standard library instead, so nothing stored becomes unreadable.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import date
from itertools import groupby
from operator import itemgetter

import orjson

from ..results import KpiValue

SCHEMA = """
CREATE TABLE IF NOT EXISTS incremental_kept (
    signature TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id)
);
CREATE TABLE IF NOT EXISTS incremental_periods (
    signature TEXT NOT NULL,
    period_start TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (signature, period_start)
);
"""


def kept_run(con: sqlite3.Connection, signature: str) -> int | None:
    """The run whose values are kept for the request (in periods, or in an older kpiengine's one text)."""
    row = con.execute("SELECT run_id FROM incremental_kept WHERE signature = ?", (signature,)).fetchone()
    if row is None:
        row = con.execute("SELECT run_id FROM incremental_values WHERE signature = ?", (signature,)).fetchone()
    return None if row is None else row[0]


def read(con: sqlite3.Connection, signature: str, run_id: int, before: date | None
         ) -> dict[str, list[KpiValue]] | None:
    """The kept values of periods starting before ``before`` (all: None), per KPI (in the order they were
    computed: the run's result groups a KPI's values, the next run appends its fresh ones to each);
    None when history holds none for ``run_id``."""
    row = con.execute("SELECT run_id FROM incremental_kept WHERE signature = ?", (signature,)).fetchone()
    if row is None:
        return _read_one_text(con, signature, run_id, before)
    if row[0] != run_id:
        return None
    sql = "SELECT period_start, payload FROM incremental_periods WHERE signature = ?"
    params: list = [signature]
    if before is not None:
        sql += " AND period_start < ?"
        params.append(before.isoformat())
    out: dict[str, list[KpiValue]] = {}
    for period, payload in con.execute(sql + " ORDER BY period_start", params):
        day = date.fromisoformat(period)
        chunk = _loads(payload)
        dims = chunk["dimensions"]
        # a period's rows come KPI by KPI: each run of them goes to its KPI's list at once. Positional:
        # keywords doubled the cost of building the thousands of values a run keeps
        for kpi, rows in groupby(chunk["rows"], key=itemgetter(0)):
            values = out.get(kpi)
            if values is None:
                values = out[kpi] = []
            values += [KpiValue(kpi, grain, day, dims[d].copy(), value) for _, grain, d, value in rows]
    return out


def _loads(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity, which the standard library writes and reads
        return json.loads(text)


def write(con: sqlite3.Connection, signature: str, run_id: int, rows: list[KpiValue],
          base: tuple[int, date | None] | None, fresh: list[KpiValue] | None) -> None:
    """Keep ``rows``, every value of the request as of ``run_id``.

    ``base`` (kept run, restart): the run kept the periods before ``restart`` of that run's values
    (None: all of them, nothing was recomputed), and ``fresh`` are the rows of the periods from ``restart``
    on (given whenever ``base`` is). When those are the periods stored, only the periods
    from ``restart`` on are replaced (a period that lost all its values is deleted with them);
    otherwise every period is written again.
    """
    stored = con.execute("SELECT run_id FROM incremental_kept WHERE signature = ?", (signature,)).fetchone()
    if base is not None and stored is not None and stored[0] == base[0]:
        restart = base[1]
        if restart is not None:
            con.execute("DELETE FROM incremental_periods WHERE signature = ? AND period_start >= ?",
                        (signature, restart.isoformat()))
            _insert(con, signature, fresh)
    else:
        con.execute("DELETE FROM incremental_periods WHERE signature = ?", (signature,))
        _insert(con, signature, rows)
    con.execute("INSERT OR REPLACE INTO incremental_kept (signature, run_id) VALUES (?,?)", (signature, run_id))
    con.execute("DELETE FROM incremental_values WHERE signature = ?", (signature,))  # an older kpiengine's text


def _insert(con: sqlite3.Connection, signature: str, rows: list[KpiValue]) -> None:
    by_period = sorted(rows, key=lambda r: r.period_start)  # stable: each period keeps the result's order
    con.executemany("INSERT INTO incremental_periods (signature, period_start, payload) VALUES (?,?,?)",
                    ((signature, period.isoformat(), _encode(list(group)))
                     for period, group in groupby(by_period, key=lambda r: r.period_start)))


def _encode(rows: list[KpiValue]) -> str:
    """One period's values as compact JSON: ints stay ints, each combination of dimensions is written once."""
    seen: dict[tuple, int] = {}  # a period repeats few combinations: each is encoded once
    texts: dict[str, int] = {}
    objects: list[dict] = []
    out = []
    for r in rows:
        try:
            key = tuple(r.dimensions.items())
            index = seen.get(key)
        except TypeError:  # an unhashable value: encoded each time
            key, index = None, None
        if index is None:
            text = json.dumps(r.dimensions, ensure_ascii=False, default=str)
            index = texts.get(text)
            if index is None:
                index = texts[text] = len(objects)
                # as it reads back (values encoded as text stay text), in the breakdown's order as the
                # engine gives it: sorted keys made kept rows print {"a", "zone"} and fresh ones {"zone", "a"}
                objects.append(json.loads(text))
            if key is not None:
                seen[key] = index
        value = r.value if r.value is None or type(r.value) in (int, float) else float(r.value)
        out.append([r.kpi, r.grain, index, value])
    payload = {"dimensions": objects, "rows": out}
    try:
        return orjson.dumps(payload).decode()
    except (orjson.JSONEncodeError, TypeError):  # an integer past 64 bits: the standard library writes it
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _read_one_text(con: sqlite3.Connection, signature: str, run_id: int, before: date | None
                   ) -> dict[str, list[KpiValue]] | None:
    """The one text per request an older kpiengine kept: ``{"dimensions": [texts], "rows": [...]}``."""
    row = con.execute("SELECT payload FROM incremental_values WHERE signature = ? AND run_id = ?",
                      (signature, run_id)).fetchone()
    if row is None:
        return None
    payload = json.loads(row[0])
    dims = [json.loads(d) for d in payload["dimensions"]]
    cut = before.isoformat() if before is not None else None
    days: dict[str, date] = {}
    out: dict[str, list[KpiValue]] = {}
    for kpi, grain, period, d, value in payload["rows"]:
        if cut is not None and period >= cut:
            continue
        day = days.get(period) or days.setdefault(period, date.fromisoformat(period))
        out.setdefault(kpi, []).append(KpiValue(kpi=kpi, grain=grain, period_start=day, dimensions=dict(dims[d]),
                                                value=value))
    return out
