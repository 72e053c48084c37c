"""Long operator commands show progress to a person at a terminal, and print only their result
(stdout) when run from a script, a cron job or a log-collecting service."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core.management import call_command
from django.utils import timezone

from combat.models import NpcBase
from galactic.models import Planet


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def seed(npcs: int, stderr: io.StringIO, **options: object) -> str:
    out = io.StringIO()
    call_command("seed_galaxy", npcs=npcs, stdout=out, stderr=stderr, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_galaxy_prints_the_same_json_with_and_without_progress_and_creates_nothing_twice():
    on_terminal = Terminal()
    first = seed(4, on_terminal)
    assert [npc["tier"] for npc in json.loads(first)["npcs"]] == [1, 2, 3, 1]
    assert "created 1/4" in on_terminal.getvalue() and "created 4/4" in on_terminal.getvalue()
    assert on_terminal.getvalue().endswith("\n")  # the prompt starts on a line of its own
    counts = (NpcBase.objects.count(), Planet.objects.count())

    piped = io.StringIO()
    assert seed(4, piped) == first
    assert piped.getvalue() == ""
    again_on_terminal = Terminal()
    assert seed(4, again_on_terminal) == first
    assert again_on_terminal.getvalue() == ""  # nothing created, nothing to report
    assert (NpcBase.objects.count(), Planet.objects.count()) == counts


@pytest.mark.django_db
def test_seed_galaxy_counts_only_the_bases_it_creates():
    seed(2, io.StringIO())
    on_terminal = Terminal()
    seed(5, on_terminal)
    assert on_terminal.getvalue().split("\r")[1:] == [
        "created 1/3 NPC bases",
        "created 2/3 NPC bases",
        "created 3/3 NPC bases\n",
    ]
    quiet = Terminal()
    seed(6, quiet, verbosity=0)
    assert quiet.getvalue() == "" and NpcBase.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_seed_galaxy_writes_nothing_but_the_json_into_a_log(processes):
    result = processes.run("manage.py", "seed_galaxy", "--npcs", "3")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(json.loads(result.stdout)["npcs"]) == 3


@pytest.mark.django_db
def test_reconcile_events_shows_progress_on_a_terminal_only(redis_conn, monkeypatch):
    seed(1, io.StringIO())
    NpcBase.objects.update(state="defeated", defeated_at=timezone.now(), respawn_at=timezone.now())
    outputs = []
    for stderr, verbosity in ((Terminal(), 1), (io.StringIO(), 1), (Terminal(), 0)):
        redis_conn.flushdb()  # the respawn job is missing each time
        monkeypatch.setattr(sys, "stderr", stderr)  # reconcile_events writes to the process's stderr
        out = io.StringIO()
        call_command("reconcile_events", stdout=out, verbosity=verbosity)
        outputs.append((out.getvalue(), stderr.getvalue()))
    (out_tty, err_tty), (out_piped, err_piped), (out_quiet, err_quiet) = outputs
    assert out_tty == out_piped == out_quiet == "1 of 1 pending events enqueued\n"
    assert err_tty == "\rchecked 1 pending events, enqueued 1\n"
    assert err_piped == err_quiet == ""
