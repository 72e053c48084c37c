"""Moved to galactic.events.jobs. This alias keeps the old dotted path working for what Redis and
deployments may still name (see the README's "Upgrading"); it goes in the next release."""

import sys

from galactic.events import jobs

sys.modules[__name__] = jobs
