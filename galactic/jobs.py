"""Periodic upkeep jobs of the queue itself."""

from __future__ import annotations

from galactic import reconcile


def reconcile_events() -> dict[str, int]:
    """Periodic: put back every pending event that Redis lost (see galactic.reconcile)."""
    return reconcile.reconcile().as_dict()
