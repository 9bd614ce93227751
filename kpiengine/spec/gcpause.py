"""Pause the cyclic garbage collector while a spec is built: it made loading 5,000 KPIs twice as slow.

Loading and compiling a large spec allocates hundreds of thousands of small
objects that all stay alive (located YAML values, locations, syntax trees).
Every few hundred allocations the collector walks them again, finding nothing
to free. Reference counting still frees everything as usual while paused; the
collector runs again as soon as the outermost pause ends.

When it ends, the objects allocated meanwhile (a few hundred thousand for a
large spec) would all be walked by the very next young-generation collection,
a fifth of the load time. They are moved to the oldest generation instead
(``gc.freeze()`` then ``gc.unfreeze()``, which moves lists without walking
them): they are examined at the next full collection, as long-lived objects
are, and any garbage cycle among them is freed then. Skipped when something
else froze objects (a server freezing before forking keeps its frozen set).
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
