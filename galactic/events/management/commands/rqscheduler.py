"""`python manage.py rqscheduler`: django-rq's command, with the periodic game jobs registered
under fixed ids and a one-second poll (see galactic.events.scheduler)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand
from django_rq.queues import get_connection
from rq_scheduler.utils import setup_loghandlers

from galactic.events import queue
from galactic.events.scheduler import GameScheduler


class Command(BaseCommand):
    help = "Run rq-scheduler for game_events: periodic jobs (probe:update, reconcile) and scheduled jobs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--pid", help="file to write the scheduler's PID into")
        parser.add_argument(
            "--interval",
            "-i",
            type=int,
            default=settings.GAME_SCHEDULER_POLL,
            help="seconds between two polls",
        )
        parser.add_argument("--burst", action="store_true", help="one pass, then exit")
        parser.add_argument("--queue", default=queue.QUEUE_NAME, help="queue of the scheduled jobs")

    def handle(self, *args, **options) -> None:
        if options["pid"]:
            with open(os.path.expanduser(options["pid"]), "w") as pid_file:
                pid_file.write(str(os.getpid()))
        verbosity = options["verbosity"]
        setup_loghandlers("DEBUG" if verbosity >= 2 else "WARNING" if verbosity == 0 else "INFO")
        scheduler = GameScheduler(
            queue_name=options["queue"],
            interval=options["interval"],
            connection=get_connection(options["queue"]),
        )
        scheduler.run(burst=options["burst"])
