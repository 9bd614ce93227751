"""The dashboard document, smaller on the wire: chart arrays rounded, ranking internals left out.

By rep a page carries some 300 sparklines and trend lines; written with 17
significant digits (0.3333333333333333) they were half of ``/api/dashboard``.
A chart needs far less: arrays under ``spark`` and ``values`` keep 7
significant digits, which no tooltip or display string of the page can tell
apart (1,316,296.96 -> 1316297; 33.33333 %). So do the numbers of a tile's
breakdown rows (``value``, ``previous``, the change's ``abs`` and ``rel``): by rep
some 1,500 rows, each shown through its own display string; every other number
keeps its full precision. A row's ``state`` when there is none and ``notable``
when false are left out too (the page reads a missing one as either). The breakdown rows' ranking internals (``weight``,
``magnitude``, ``additive``) served only to order the rows, which are sent in
that order, and are left out. A trend series starts at its first value:
``start`` says at which of the view's periods (by rep and day, a rep's line
covers the last 26 days of 182, and 156 leading nulls per line were most of
the document); the page pads it back.
"""
from __future__ import annotations

import math

CHART_ARRAYS = ("spark", "values")
RANKING_ONLY = ("weight", "magnitude", "additive")
ROW_NUMBERS = ("value", "previous")
DIGITS = 7


def chart_number(value):
    if isinstance(value, float) and math.isfinite(value):
        rounded = float(f"{value:.{DIGITS}g}")
        # a whole number as an integer: JSON numbers have no type, and "98" is two bytes less than "98.0"
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2 ** 53 else rounded
    return value


def compact(doc):
    """A copy of ``doc`` (any JSON-like structure) with chart arrays rounded and ranking fields dropped."""
    if isinstance(doc, dict):
        ranked_row = "notable" in doc and "weight" in doc  # a breakdown row of a tile
        out = {}
        for key, value in doc.items():
            if ranked_row and key in RANKING_ONLY:
                continue
            if ranked_row and ((key == "state" and value is None) or (key == "notable" and value is False)):
                continue
            if ranked_row and key in ROW_NUMBERS:
                out[key] = chart_number(value)
                continue
            if ranked_row and key == "change" and isinstance(value, dict):
                out[key] = {k: chart_number(v) if k in ("abs", "rel") else v for k, v in value.items()}
                continue
            if key in CHART_ARRAYS and isinstance(value, list):
                out[key] = [chart_number(v) for v in value]
                if key == "values" and "dimensions" in doc:  # a trend series: drop its leading gap
                    start = next((i for i, v in enumerate(value) if v is not None), len(value))
                    out[key], out["start"] = out[key][start:], start
            else:
                out[key] = compact(value)
        return out
    if isinstance(doc, list):
        return [compact(v) for v in doc]
    return doc
