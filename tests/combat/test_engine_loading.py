"""A worker loads the compiled battle engine (combat.compiled) at its first idle moment: loaded in a
battle, it would make that event late by about 0.7 s (by about 10 s where the engine was never
compiled); loaded at every start, it would slow down a worker that restarts with work waiting, or
crash-loops on a job that kills it. On the real Redis, a GameWorker in this process. And the
compiled code has a place to live, even where the code itself is read-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from combat import compiled
from galactic.events import queue, rq_compat
from galactic.events.worker import GameWorker


@pytest.fixture
def steps(redis_conn, monkeypatch) -> tuple[GameWorker, list[str]]:
    """A worker, and what it did in order: the jobs it ran, and the engine's load."""
    done: list[str] = []
    monkeypatch.setattr(compiled, "warm_up", lambda: done.append("engine loaded") or 0.0)
    perform = rq_compat.perform
    monkeypatch.setattr(rq_compat, "perform", lambda job: done.append(job.id) or perform(job))
    worker = GameWorker([queue.get_queue()], connection=redis_conn, name="engine-loading-test")
    # RQ's command listener (a pubsub thread) is not this test's business; stopped in this process,
    # it raises in its thread once its connection is closed
    monkeypatch.setattr(worker, "subscribe", lambda: None)
    return worker, done


@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_loads_the_battle_engine(steps):
    worker, done = steps

    worker.work(max_idle_time=1)  # nothing to do: it waits a moment and stops

    assert done == ["engine loaded"]


@pytest.mark.django_db(transaction=True)
def test_an_engine_that_fails_to_load_leaves_the_worker_running(steps, monkeypatch, caplog):
    worker, done = steps

    def broken() -> float:
        raise RuntimeError("cannot cache function '_fight': no locator available")

    monkeypatch.setattr(compiled, "warm_up", broken)
    queue.put(
        "tests.jobs.count_users",
        job_id="after",
        at=datetime.now(UTC) + timedelta(seconds=1.5),
        args=("after",),
    )

    worker.work(max_idle_time=3)

    assert done == ["after"]  # idle first (the load failed, logged), then its job
    assert "no locator available" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_work_waiting_runs_it_first(steps):
    worker, done = steps
    for job_id in ("first", "second"):
        queue.put(
            "tests.jobs.count_users",
            job_id=job_id,
            at=datetime.now(UTC) - timedelta(seconds=1),
            args=(job_id,),
        )

    worker.work(max_idle_time=1)

    assert done == ["first", "second", "engine loaded"]


def test_the_engine_is_compiled_code_once_loaded():
    took = compiled.warm_up()

    assert took >= 0
    assert len(compiled._fight.signatures) == 1  # one machine-code version, the one every battle uses


def test_read_only_code_keeps_the_compiled_engine_in_the_temporary_directory(monkeypatch):
    # numba refuses to import a module that caches its code when it cannot write where it keeps it:
    # read-only code without NUMBA_CACHE_DIR (checked by hand with a read-only bind mount), or a
    # NUMBA_CACHE_DIR the service cannot write
    monkeypatch.setattr(compiled.os, "access", lambda path, mode: False)
    for configured in ("", "/var/cache/galactic/numba"):
        monkeypatch.setattr(compiled.config, "CACHE_DIR", configured)
        assert compiled.fallback_cache_dir().startswith(compiled.tempfile.gettempdir())


def test_numba_keeps_its_own_place_when_it_can_write_there(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled.config, "CACHE_DIR", "")
    assert compiled.fallback_cache_dir() is None  # next to the code: this checkout is writable

    monkeypatch.setattr(compiled.config, "CACHE_DIR", str(tmp_path / "numba"))
    assert compiled.fallback_cache_dir() is None
