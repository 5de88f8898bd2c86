"""Garbage-collector settings for a batch audit, set once everything long-lived is loaded.

An audit allocates many short-lived, mostly acyclic objects (DNS messages, facts, findings), and by
default CPython runs a young-generation collection every 700 net allocations, each of which also
walks the long-lived objects promoted so far (modules, compiled rules, the catalogue) when an
older generation is due. Freezing what is loaded moves it out of the collector's sight for good, and
a larger young-generation threshold makes collections rarer; cyclic garbage is still collected.
Measured with gc.callbacks at N=2,000 (one process): 0.58 s of collection without this, 0.26 s with it.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
"""Net allocations between young-generation collections (CPython's default is 700)."""


def settle_for_batch() -> None:
    """Freeze the objects alive now and collect less often; call after loading, before auditing."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
