"""galactic.db.CompiledQuery: a query compiled once gives what the plain queryset gives, every time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from combat.models import Report
from fleets.models import Fleet
from galactic import selectors
from galactic.db import CompiledQuery, bulk_save, create_all, insert
from galactic.models import Planet, hash_token

pytestmark = pytest.mark.django_db


def test_the_same_instances_as_the_queryset_with_new_arguments_each_call(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    query = CompiledQuery(lambda pk, owner: Planet.objects.filter(pk=pk, owner_id=owner), int, int)
    for new in (alice, bob):
        [planet] = query.fetch(new.home.pk, new.player.pk)
        expected = Planet.objects.get(pk=new.home.pk)
        assert type(planet) is Planet and planet.pk == expected.pk
        assert {f.attname: getattr(planet, f.attname) for f in Planet._meta.concrete_fields} == {
            f.attname: getattr(expected, f.attname) for f in Planet._meta.concrete_fields
        }
        assert not planet._state.adding  # a row from the database: save() updates it
    assert query.fetch(alice.home.pk, bob.player.pk) == []  # not bob's planet
    assert query.first(alice.home.pk, bob.player.pk) is None


def test_compiled_once_then_only_the_query_itself_is_sent(make_player):
    alice = make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.filter(pk=pk), int)
    query.fetch(alice.home.pk)
    with CaptureQueriesContext(connection) as captured:
        query.fetch(alice.home.pk)
        query.fetch(alice.home.pk + 1000)
    assert len(captured.captured_queries) == 2
    assert all('FROM "galactic_planet"' in q["sql"] for q in captured.captured_queries)


def test_what_a_connection_sends_again_and_again_is_prepared_once(make_player):
    """settings: server-side binding, and a statement prepared once a connection sent it
    DATABASE_PREPARE_THRESHOLD times; PostgreSQL then only executes it."""
    alice = make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.filter(pk=pk), int)
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    assert threshold >= 1

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if 'FROM "galactic_planet"' in row[0]]

    assert prepared() == []
    for _ in range(threshold + 1):
        [planet] = query.fetch(alice.home.pk)
        assert planet.pk == alice.home.pk
    assert len(prepared()) == 1


def test_values_list_rows_and_column_conversions(make_player):
    """A JSON column comes back decoded, as the queryset gives it."""
    alice, bob = make_player("alice"), make_player("bob")
    fleet = fleet_between(alice, bob, "transport", {"small_cargo": 2})
    query = CompiledQuery(lambda pk: Fleet.objects.filter(pk=pk).values_list("pk", "ships"), int)
    assert query.fetch(fleet.pk) == [(fleet.pk, {"small_cargo": 2})]
    assert query.fetch(fleet.pk) == list(Fleet.objects.filter(pk=fleet.pk).values_list("pk", "ships"))
    [instance] = CompiledQuery(lambda pk: Fleet.objects.filter(pk=pk), int).fetch(fleet.pk)
    assert instance.ships == {"small_cargo": 2} and instance.arrive_at == fleet.arrive_at


def test_a_list_of_keys_and_a_datetime_as_arguments(make_player):
    """One statement for any number of keys (`__any_of`), the rows `__in` gives."""
    players = [make_player(name) for name in ("alice", "bob", "carol")]
    homes = [new.home for new in players]
    query = CompiledQuery(
        lambda ids, at: Planet.objects.filter(pk__any_of=ids, resources_at__lte=at).order_by("pk"),
        list,
        datetime,
    )
    later = max(home.resources_at for home in homes) + timedelta(seconds=1)
    cases = ([], [homes[0].pk], [home.pk for home in homes], [homes[2].pk, 2**63, homes[0].pk])
    expected = [[p.pk for p in Planet.objects.filter(pk__in=ids, resources_at__lte=later)] for ids in cases]
    with CaptureQueriesContext(connection) as captured:
        got = [[p.pk for p in query.fetch(ids, later)] for ids in cases]
        assert query.fetch([home.pk for home in homes], homes[0].resources_at - timedelta(seconds=1)) == []
    assert got == [sorted(pks) for pks in expected]
    assert len({q["sql"].split(" WHERE ")[0] for q in captured.captured_queries}) == 1
    assert all("= ANY(" in q["sql"] for q in captured.captured_queries)
    # on foreign keys too
    owned = CompiledQuery(
        lambda owners: Planet.objects.filter(owner_id__any_of=owners).values_list("pk"), list
    )
    assert owned.fetch([players[1].player.pk]) == [(homes[1].pk,)]


def test_a_key_beyond_the_column_finds_nothing_as_django_does(make_player):
    make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.filter(pk=pk), int)
    assert query.fetch(2**63) == [] and query.fetch(-(2**63) - 1) == []
    assert list(Planet.objects.filter(pk=2**63)) == []


def test_a_locking_query_locks(make_player):
    alice = make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.select_for_update(no_key=True).filter(pk=pk), int)
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            [planet] = query.fetch(alice.home.pk)
        assert planet.pk == alice.home.pk
        assert "FOR NO KEY UPDATE" in captured.captured_queries[0]["sql"]


def test_refuses_what_it_cannot_compile_faithfully():
    with pytest.raises(ValueError, match="do not reach the SQL"):
        CompiledQuery(lambda name: Planet.objects.filter(name__contains=name), str).fetch("x")
    with pytest.raises(ValueError, match="values_list"):
        CompiledQuery(lambda pk: Planet.objects.filter(pk=pk).values("name"), int).fetch(1)
    with pytest.raises(TypeError, match="2 arguments expected"):
        CompiledQuery(lambda a, b: Planet.objects.filter(pk=a, owner_id=b), int, int).fetch(1)
    with pytest.raises(TypeError, match="int, str, datetime or list"):
        CompiledQuery(lambda at: Planet.objects.filter(resources_at=at), float)


def test_the_token_lookup_ignores_inactive_users(make_player):
    alice = make_player("alice")
    assert selectors.player_by_token(hash_token(alice.token)).pk == alice.player.pk
    assert selectors.player_by_token(hash_token("not a token")) is None
    get_user_model().objects.filter(pk=alice.player.user_id).update(is_active=False)
    assert selectors.player_by_token(hash_token(alice.token)) is None


@pytest.mark.django_db(transaction=True)
def test_a_locking_query_outside_a_transaction_is_refused_as_django_refuses_it(make_player):
    alice = make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.select_for_update(no_key=True).filter(pk=pk), int)
    for _ in range(2):  # when it compiles, and once compiled
        with pytest.raises(TransactionManagementError):
            query.fetch(alice.home.pk)
        with transaction.atomic():
            assert query.first(alice.home.pk).pk == alice.home.pk


def test_insert_writes_the_row_save_would_write(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    at = alice.home.resources_at
    made = {
        "owner": alice.player,
        "mission": "attack",
        "origin": alice.home,
        "target": bob.home,
        "ships": {"cruiser": 3},
        "metal": 5,
        "fuel": 7,
        "speed": 50,
        "depart_at": at,
        "arrive_at": at,
        "return_at": at,
    }
    fleet = Fleet(**made)
    insert(fleet)
    assert fleet.pk is not None and not fleet._state.adding
    reference = Fleet.objects.create(**made)
    columns = [f.attname for f in Fleet._meta.concrete_fields if f.attname != "id"]
    assert list(Fleet.objects.filter(pk=fleet.pk).values(*columns)) == list(
        Fleet.objects.filter(pk=reference.pk).values(*columns)
    )
    fleet.status = "returning"
    fleet.save(update_fields=["status"])  # a saved row: save() updates it
    assert Fleet.objects.get(pk=fleet.pk).status == "returning"


def fleet_between(sender, receiver, mission: str = "attack", ships: dict | None = None) -> Fleet:
    """A saved fleet (one cruiser unless told) from one make_player() player's home to another's."""
    at = sender.home.resources_at
    return Fleet.objects.create(
        owner=sender.player,
        mission=mission,
        origin=sender.home,
        target=receiver.home,
        ships=ships or {"cruiser": 1},
        fuel=1,
        speed=100,
        depart_at=at,
        arrive_at=at,
        return_at=at,
    )


def test_bulk_save_writes_each_rows_own_values_of_every_column_type(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    at = alice.home.resources_at
    fleets = [fleet_between(alice, bob) for _ in range(3)]
    for n, fleet in enumerate(fleets):
        fleet.status = ("returning", "destroyed", "completed")[n]
        fleet.ships = {"cruiser": n, "battleship": 10 * n} if n else {}
        fleet.metal = 10**12 - n
        fleet.return_at = at + timedelta(seconds=n, microseconds=5)
        fleet.report = None  # a column of nothing but NULLs
    bulk_save(fleets, ("status", "ships", "metal", "return_at", "report"))
    for fleet in fleets:
        saved = Fleet.objects.get(pk=fleet.pk)
        assert (saved.status, saved.ships, saved.metal, saved.return_at, saved.report_id) == (
            fleet.status,
            fleet.ships,
            fleet.metal,
            fleet.return_at,
            None,
        )


def test_select_related_objects_come_with_the_row(make_player):
    alice = make_player("alice")
    query = CompiledQuery(lambda pk: Planet.objects.select_related("owner__user").filter(pk=pk), int)
    [planet] = query.fetch(alice.home.pk)
    with CaptureQueriesContext(connection) as captured:
        assert planet.owner.pk == alice.player.pk and planet.owner.user.username == "alice"
    assert captured.captured_queries == []  # loaded with the planet, not lazily


def test_bulk_save_of_one_row(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice.home.metal, alice.home.cruiser = 123, 4
    bulk_save([alice.home], ("metal", "cruiser"))
    assert Planet.objects.filter(pk=alice.home.pk).values_list("metal", "cruiser").get() == (123, 4)
    assert Planet.objects.get(pk=bob.home.pk).metal == bob.home.metal  # no other row


def test_create_all_sets_the_keys_of_one_row_or_many(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    at = alice.home.resources_at

    def report(n: int) -> Report:
        return Report(kind="delivery", at=at, attacker=alice.player, target=bob.home, data={"n": n})

    one, many = [report(0)], [report(1), report(2)]
    create_all(one)
    create_all(many)
    create_all([])
    for made in (*one, *many):
        assert made.pk is not None and Report.objects.get(pk=made.pk).data == made.data


def test_create_all_writes_the_rows_bulk_create_would_write(make_player):
    """Every column type of a report, NULLs among values of the same column, and JSON of any shape."""
    alice, bob = make_player("alice"), make_player("bob")
    at = alice.home.resources_at

    def reports() -> list[Report]:
        return [
            Report(
                kind="battle",
                at=at,
                attacker=alice.player,
                defender=bob.player,
                target=bob.home,
                data={"round_log": [1, 2]},
                forces={"attacker": {}},
                attacker_read_at=at,
            ),
            Report(
                kind="delivery",
                at=at + timedelta(microseconds=1),
                attacker=bob.player,
                defender=None,
                target=alice.home,
                data={},
                forces=None,
                defender_read_at=at,
            ),
            Report(kind="espionage", at=at, attacker=alice.player, target=bob.home, data={"s": "é\"'{}"}),
            Report(kind="transport", at=at, attacker=bob.player, target=bob.home, data=["x", None, 3.5]),
            Report(
                kind="battle", at=at, attacker=bob.player, target=alice.home, data="text", forces={"a": None}
            ),
        ]

    made, reference = reports(), Report.objects.bulk_create(reports())
    create_all(made)
    assert [r.pk for r in made] == sorted(r.pk for r in made) and not any(r._state.adding for r in made)
    columns = [f.attname for f in Report._meta.concrete_fields if f.attname != "id"]
    written = [Report.objects.filter(pk=r.pk).values(*columns).get() for r in made]
    assert written == [Report.objects.filter(pk=r.pk).values(*columns).get() for r in reference]
    # None is SQL NULL, as bulk_create writes it, not JSON null (values() reads both as None)
    sql_null = [r.pk for r in made if Report.objects.filter(pk=r.pk, forces__isnull=True).exists()]
    assert sql_null == [r.pk for r in made if r.forces is None] and len(sql_null) == 3


def test_bulk_writes_refuse_none_for_a_json_column_that_is_not_nullable(make_player):
    """As bulk_create and bulk_update do: NULL is not written as JSON null instead."""
    alice, bob = make_player("alice"), make_player("bob")
    at = alice.home.resources_at
    reports = [
        Report(kind="delivery", at=at, attacker=alice.player, target=bob.home, data=None) for _ in "ab"
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        create_all(reports)
    fleets = [fleet_between(alice, bob) for _ in "ab"]
    fleets[1].ships = None
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_save(fleets, ("ships",))
    assert [f.ships for f in Fleet.objects.order_by("pk")] == [{"cruiser": 1}, {"cruiser": 1}]
