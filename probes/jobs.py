"""RQ entry points of the probes app."""

from __future__ import annotations


def probe_update() -> None:
    """probe:update (periodic). Placeholder until the probe missions land."""
