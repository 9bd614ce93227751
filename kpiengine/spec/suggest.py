"""Did-you-mean suggestions for names a person typed (KPIs, models, dimensions, options)."""
from __future__ import annotations

import difflib
from typing import Iterable

# Names people carry over from other tools' connection settings: the spelling differs, the meaning does not.
SYNONYMS = {
    "database": ("dbname", "database"), "db": ("dbname", "database"), "dbname": ("database",),
    "username": ("user",), "login": ("user",), "usr": ("user",), "pass": ("password",), "passwd": ("password",),
    "pwd": ("password",), "hostname": ("host",), "server": ("host",), "schema": ("search_path", "schema"),
    "file": ("path",), "filename": ("path",), "url": ("dsn", "url"), "webhook": ("url",),
}


def closest(name: object, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``name`` (a known synonym first), or None when nothing is close."""
    candidates = [str(c) for c in candidates]
    for synonym in SYNONYMS.get(str(name).lower(), ()):
        if synonym in candidates and synonym != name:
            return synonym
    close = difflib.get_close_matches(str(name), candidates, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: object, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'visits'?"`` for the closest candidate, or None."""
    guess = closest(name, candidates)
    return f"did you mean '{guess}'?" if guess else None
