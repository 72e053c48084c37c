"""bench.noop.record_effect as the GameWorker runs game events that come in crowds: in batches.

A module of its own, because declaring the batch needs Django (galactic.events.queue), and stock RQ
must run bench.noop without it.
"""

from __future__ import annotations

from bench import noop
from galactic.events import queue

ID_PREFIX = "effect-"


def record_effect(event: str) -> str:
    return noop.record_effect(event)


queue.batchable(record_effect, id_prefix=ID_PREFIX, run_many=noop.record_effects)
