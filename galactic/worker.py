"""Moved to galactic.events.worker. This alias keeps the old dotted path working for what Redis and
deployments may still name (see the README's "Upgrading"); it goes in the next release."""

import sys

from galactic.events import worker

sys.modules[__name__] = worker
