import sys

from django.core.management.base import BaseCommand

from galactic.events import queue
from galactic.events.cli import one_line_redis_errors
from galactic.events.reconcile import ReconcileResult, reconcile


class Command(BaseCommand):
    help = "Re-enqueue every pending game event that Redis does not hold (after a Redis wipe, say)."

    @one_line_redis_errors
    def handle(self, *args, **options) -> None:
        show_progress = sys.stderr.isatty() and options["verbosity"] > 0

        def progress(result: ReconcileResult) -> None:
            if show_progress:
                sys.stderr.write(f"\rchecked {result.pending} pending events, enqueued {result.enqueued}")

        queue.get_connection().ping()  # say so now when Redis is out of reach, even with nothing pending
        result = reconcile(progress=progress)
        if show_progress:
            sys.stderr.write("\n")
        self.stdout.write(f"{result.enqueued} of {result.pending} pending events enqueued")
