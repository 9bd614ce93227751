"""Pausing the collector while a spec is built loses no garbage and keeps others' frozen objects."""
from __future__ import annotations

import gc
import weakref

from kpiengine.spec.gcpause import paused_gc


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_cycles_dropped_during_a_pause_are_collected_later():
    with paused_gc():
        assert not gc.isenabled()
        ref = weakref.ref(Node())
        kept = Node()
    assert gc.isenabled() and ref() is not None  # not freed while paused
    gc.collect()
    assert ref() is None and kept.me is kept


def test_a_pause_leaves_objects_frozen_by_someone_else_frozen():
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            Node()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_nested_pauses_resume_collection_once_at_the_end():
    with paused_gc():
        with paused_gc():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
