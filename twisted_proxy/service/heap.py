# -*- test-case-name: tests.test_heap -*-
"""
What a proxy process does with its heap once it is built: collect the
garbage of building it and freeze the rest (C{gc.freeze}).

Everything a proxy builds to start (its rings, pipeline, plugins, the
modules it imported) lives as long as it does, and CPython's collector
would walk it all again in every full collection: some 60,000 objects,
10 to 20 ms on these machines. Under load such collections are not rare:
each collection of the younger generations promotes the objects of the
requests in flight, and once those promotions add up to a quarter of the
oldest generation the collector walks it all; a proxy serving small GETs
did so every second or two, pausing every request in flight. Frozen
objects are never walked, so a full collection walks only what was made
since; and where the process forks, neither the parent's collector nor
the child's writes to the pages they share.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> None:
    """
    Collect all garbage now, then move every object left out of the
    collector's reach for the rest of the process's life.
    """
    gc.collect()
    gc.freeze()
