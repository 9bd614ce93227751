"""Results several requests of ``kpi serve`` share for a short while: loaded values, funnel queries.

Switching the breakdown, clicking a process node or asking for another focus KPI is
a new address, so the response cache misses; but most of what the new page needs was
computed a moment ago: the totals, the funnel's total and time-to-convert (which do
not depend on the breakdown), the breakdown values themselves. Each is kept under a
key of its own arguments for as long as a whole response is (``max_age`` seconds,
and only while the spec and history files are unchanged: ``stamp()`` is part of the
key), so no number is older than the response cache would allow. Two requests that
need the same result at the same time wait for one computation.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Callable, Hashable


class SharedResults:
    def __init__(self, stamp: Callable[[], Hashable] = lambda: None, max_age: float = 30.0, entries: int = 256):
        self._stamp = stamp
        self._max_age = max_age
        self._entries = entries
        self._items: OrderedDict = OrderedDict()  # key -> (monotonic time, Future)
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result for ``key``, computed at most once per ``max_age`` and stamp."""
        key = (key, self._stamp())
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self._max_age:
                self._items.move_to_end(key)
                future, mine = hit[1], False
            else:
                future, mine = Future(), True
                self._items[key] = (now, future)
                while len(self._items) > self._entries:
                    self._items.popitem(last=False)
        if not mine:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:  # not kept: the next request tries again
            with self._lock:
                if self._items.get(key, (None, None))[1] is future:
                    del self._items[key]
            future.set_exception(exc)
            raise
        future.set_result(value)
        return value
