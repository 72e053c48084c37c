"""The worker that runs game events: `python manage.py rqworker game_events --with-scheduler`.

django-rq picks this class through settings.RQ["WORKER_CLASS"]. It runs each job in the worker
process itself instead of forking a work horse per job (RQ's fork costs more than a game event),
and keeps RQ's semantics: retries, the failed registry, heartbeats, warm shutdown on SIGTERM.

A job that shares the process with the next one must not hand it a broken or stale database
connection, so connections are checked before and after every job, as Django does per request.
"""

from __future__ import annotations

from django.db import close_old_connections
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker


class GameWorker(SimpleWorker):
    def perform_job(self, job: Job, queue: Queue) -> bool:
        close_old_connections()
        try:
            return super().perform_job(job, queue)
        finally:
            close_old_connections()
