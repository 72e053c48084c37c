"""The worker that runs game events: `python manage.py rqworker game_events --with-scheduler`.

django-rq picks this class through settings.RQ["WORKER_CLASS"]. It runs each job in the worker
process itself instead of forking a work horse per job (RQ's fork costs more than a game event),
and keeps RQ's semantics: retries, the failed registry, heartbeats, warm shutdown on SIGTERM.

Two additions:

- Database hygiene: a job that shares the process with the next one must not hand it a broken or
  stale connection, so connections are checked before and after every job, as Django does per
  request.
- Crash recovery within seconds: a background thread keeps this worker's liveness key fresh and
  hands the jobs of dead workers back to the queue (galactic.queue.recover_abandoned). A
  SIGKILLed worker's job runs again on another worker LIVENESS_TTL to 2 x LIVENESS_TTL seconds
  later, instead of after RQ's worker TTL and 10-minute maintenance pass.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections
from redis.exceptions import RedisError
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from galactic import queue

logger = logging.getLogger(__name__)


class GameWorker(SimpleWorker):
    def serialize(self) -> dict:
        # Marks the worker as one that keeps a liveness key (recover_abandoned trusts only those).
        return {**super().serialize(), "liveness": "1"}

    def bootstrap(self, *args, **kwargs) -> None:
        super().bootstrap(*args, **kwargs)
        # alive before the first job can start, so no other worker mistakes it for a dead one
        self.connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
        self._stop_liveness = threading.Event()
        self._liveness = threading.Thread(target=self._keep_alive, name="liveness", daemon=True)
        self._liveness.start()

    def teardown(self) -> None:
        stop = getattr(self, "_stop_liveness", None)
        if stop is not None:
            stop.set()
            self.connection.delete(queue.liveness_key(self.name))
        super().teardown()

    def _keep_alive(self) -> None:
        connection = queue.get_connection()
        beat = queue.LIVENESS_TTL / 3
        while not self._stop_liveness.is_set():
            try:
                connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
                queue.recover_abandoned()
            except RedisError as error:  # Redis down or restarting: keep trying, the worker loop copes
                logger.warning("liveness: %s", error)
            self._stop_liveness.wait(beat)

    def perform_job(self, job: Job, queue: Queue) -> bool:
        close_old_connections()
        try:
            return super().perform_job(job, queue)
        finally:
            close_old_connections()
