"""For the hostile-input tests: a small universe, with alice (the one who probes the API), bob (whose
objects she must never see or move) and carol (a bystander), each with finished and pending
missions, reports and notices; and a real server (gunicorn as deployed) to send raw requests to."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from combat.models import Report
from combat.services import npc_seed
from fleets.models import Fleet
from fleets.services import fleet_arrive, fleet_dispatch
from galactic.models import Planet
from galactic.services import NewPlayer
from galactic.ships import SHIPS
from probes.models import Notice, ProbeMission
from probes.services import probe_dispatch, probe_missions_advance
from tests.conftest import Processes, process_env, wait_for

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
NO_SHIPS = dict.fromkeys(SHIPS, 0)


@dataclass
class Objects:
    """One player's things, by kind."""

    planets: list[int] = field(default_factory=list)
    fleets: list[int] = field(default_factory=list)
    probes: list[int] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


@dataclass
class World:
    alice: NewPlayer
    bob: NewPlayer
    carol: NewPlayer
    npc: Planet
    mine: Objects  # alice's
    theirs: Objects  # bob's (and the report of bob's unseen spy on carol)


def _attack(player: NewPlayer, target: Planet, *, arrive: bool) -> Fleet:
    fleet = fleet_dispatch(
        player=player.player,
        origin_id=player.home.pk,
        target_id=target.pk,
        mission="attack",
        ships={"light_fighter": 2},
        cargo={},
    )
    if arrive:
        fleet_arrive(fleet_id=fleet.pk)
        fleet.refresh_from_db()
    return fleet


def _spy(player: NewPlayer, target: Planet) -> ProbeMission:
    mission = probe_dispatch(player=player.player, origin_id=player.home.pk, target_id=target.pk, count=1)
    probe_missions_advance(now=mission.arrive_at)
    mission.refresh_from_db()
    return mission


@pytest.fixture
def world(make_player, redis_conn, settings) -> World:
    settings.GAME_SPEED = 1  # every mission made here stays where the fixture leaves it
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION, **NO_SHIPS)  # no ships: never discovers a spy
    npc = npc_seed(count=1)[0].planet
    colony = Planet.objects.create(
        name="bob's colony", galaxy=9, system=499, position=15, owner=bob.player, resources_at=timezone.now()
    )

    # bob: a finished raid on the NPC base, a raid on alice that has landed (alice may read its
    # report: it is about her planet), one still in flight, a spy alice discovered (her notice)
    # and an unseen spy on carol.
    raid = _attack(bob, npc, arrive=True)
    on_alice = _attack(bob, alice.home, arrive=True)
    flying = _attack(bob, npc, arrive=False)
    seen = _spy(bob, alice.home)
    unseen = _spy(bob, carol.home)
    assert seen.discovered and not unseen.discovered
    # alice: a finished raid, one in flight and a spy on the NPC base.
    mine_raid = _attack(alice, npc, arrive=True)
    mine_flying = _attack(alice, npc, arrive=False)
    mine_spy = _spy(alice, npc)

    theirs = Objects(
        planets=[bob.home.pk, colony.pk],
        fleets=[raid.pk, on_alice.pk, flying.pk],
        probes=[seen.pk, unseen.pk],
        reports=[raid.report_id, unseen.report_id],  # not about alice's planets
        notices=list(Notice.objects.filter(player=bob.player).values_list("pk", flat=True)),
    )
    mine = Objects(
        planets=[alice.home.pk],
        fleets=[mine_raid.pk, mine_flying.pk],
        probes=[mine_spy.pk],
        reports=[mine_raid.report_id, mine_spy.report_id, on_alice.report_id, seen.report_id],
        notices=list(Notice.objects.filter(player=alice.player).values_list("pk", flat=True)),
    )
    assert mine.notices and None not in mine.reports + theirs.reports
    assert Report.objects.count() == 6
    return World(alice=alice, bob=bob, carol=carol, npc=npc, mine=mine, theirs=theirs)


# --------------------------------------------------------------------------------------------------
# A real server: gunicorn as deployed (sync workers, DEBUG off), on the test database and Redis.


@dataclass
class Server:
    port: int
    process: object
    processes: object

    def request(
        self, head: str, body: bytes = b"", *, half_close: bool = False, timeout: float = 30
    ) -> RawAnswer:
        """Send `head` (request line and headers, without the blank line) and `body` as they are,
        then read the answer to the end (gunicorn's sync workers close every connection)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(head.encode() + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" + body)
            if half_close:
                conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return RawAnswer.parse(b"".join(chunks))

    def log(self) -> str:
        return self.processes.logs(tail=None)


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def parse(cls, raw: bytes) -> RawAnswer:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = _unchunk(body)
        return cls(status=int(lines[0].split()[1]), headers=headers, body=body)

    def json(self) -> object:
        return json.loads(self.body)


def _unchunk(raw: bytes) -> bytes:
    body = b""
    while raw:
        size, _, raw = raw.partition(b"\r\n")
        length = int(size, 16)
        if not length:
            break
        body, raw = body + raw[:length], raw[length + 2 :]
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Server]:
    """gunicorn with 2 sync workers, DEBUG off and production's password hasher, for the tests of
    one module (starting it costs seconds); stopped at the end."""
    processes = Processes(tmp_path_factory.mktemp("web"))
    port = free_port()
    with django_db_blocker.unblock():
        env = process_env(
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            SECURE_COOKIES="false",  # plain HTTP on loopback
            LOGIN_FAILURE_LIMIT="5",
        )
    proc = processes.start(
        "-m",
        "gunicorn",
        "galactic.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        env=env,
        name="web",
    )
    server = Server(port=port, process=proc, processes=processes)

    def answers() -> bool:
        try:
            return server.request("GET /health HTTP/1.1", timeout=2).status in (200, 503)
        except OSError:
            return False

    try:
        wait_for(answers, timeout=30)
        yield server
    finally:
        processes.stop_all()


@pytest.fixture
def server(live: Server, transactional_db, redis_conn) -> Server:
    """The module's server, on a database this test's data is committed to (and then flushed)."""
    return live
