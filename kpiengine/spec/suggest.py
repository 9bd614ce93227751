"""Did-you-mean suggestions for names a person typed (KPIs, models, dimensions, options)."""
from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: object, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``name``, or None when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: object, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'visits'?"`` for the closest candidate, or None."""
    guess = closest(name, candidates)
    return f"did you mean '{guess}'?" if guess else None
