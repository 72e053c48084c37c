"""Periodic upkeep jobs of the queue itself."""

from __future__ import annotations

from galactic.events import queue, reconcile


def reconcile_events() -> dict[str, int]:
    """Periodic: hand back jobs of dead workers, and put back every pending event Redis lost."""
    recovered = queue.recover_abandoned()
    return {**reconcile.reconcile().as_dict(), "recovered": recovered}
