"""Database helpers the hot paths share: one UPDATE for many rows, queries compiled once."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Field, ForeignObject, Lookup, Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.transaction import TransactionManagementError
from psycopg.types.json import Jsonb


def trust_connections() -> bool:
    """Mark every open connection that had no error since its last check as checked: its next use
    sends no health check (CONN_HEALTH_CHECKS' SELECT 1). For a caller that knows the connection
    answered a moment ago, and copes with one that died since (galactic.events.worker). True if
    any was marked."""
    trusted = False
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.errors_occurred:
            conn.health_check_done = True
            trusted = True
    return trusted


def bulk_save(objs: Iterable[Model], fields: Sequence[str]) -> None:
    """Write `fields` of many rows of one model with one UPDATE, in the caller's transaction.

    Django's bulk_update builds a CASE WHEN per field and row, which takes longer to compile than
    the events it saves take to compute. On PostgreSQL this sends one
    `UPDATE ... FROM ROWS FROM (<one array per column>)` instead (see _column_arrays): a statement
    of the same text for any number of rows, built once per shape and process, which psycopg
    parses once too (it caches statements of up to 50 parameters; one placeholder per row and
    column would not be); elsewhere (SQLite, in development) Django's bulk_update.
    Like bulk_update, it sends no signals and runs no pre_save (no auto_now fields here).
    """
    objs = list(objs)
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    sql, columns = _bulk_save_sql(model, tuple(fields), len(objs) == 1)
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: `connection` is a proxy, per access
    if len(objs) == 1:  # a plain UPDATE ... WHERE pk: cheaper to send than arrays of one
        params = [prepare(getattr(objs[0], field.attname), conn) for field, prepare in columns]
    else:
        params = [
            prepare_all([getattr(obj, field.attname) for obj in objs], conn) for field, prepare_all in columns
        ]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)


def _int_value(value: object, connection: object) -> int:
    return int(value)


# Django's own integer fields: for a value that is not null, get_db_prep_save() gives int(value),
# through half a dozen calls; a batch of events sends thousands of such values.
_PLAIN_INTEGER_FIELDS = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
    }
)


def _preparer(field: Field) -> Callable[[object, object], object]:
    """How a field's value is made ready to send, `prepare(value, connection)`: the field's own
    get_db_prep_save, or int() for the integer fields that do nothing else with it."""
    if type(field) in _PLAIN_INTEGER_FIELDS and not field.null:
        return _int_value
    return field.get_db_prep_save


@functools.lru_cache(maxsize=64)
def _bulk_save_sql(model: type[Model], fields: tuple[str, ...], one: bool) -> tuple[str, list[tuple]]:
    """bulk_save's statement (PostgreSQL), built once per model, fields and process; its columns
    in the order of its parameters, each with its _preparer."""
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    if one:
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns[1:])
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
        return sql, [(field, _preparer(field)) for field in (*columns[1:], meta.pk)]
    rows, values = _column_arrays(columns)
    assignments = ", ".join(
        f"{quote(field.column)} = {value}" for field, value in zip(columns[1:], values[1:], strict=True)
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
        f"FROM {rows} WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}"
    )
    return sql, [(field, _array_preparer(field)) for field in columns]


def _column_arrays(fields: Sequence[Field]) -> tuple[str, list[str]]:
    """The rows of a bulk statement, one array parameter per column, zipped:
    `ROWS FROM (unnest(%s::bigint[]), ...) AS v(<columns>)`; and the value of each column in a
    row, `v.<column>`.

    A JSON column comes as one jsonb array, `jsonb_array_elements(%s::jsonb)`, not as a jsonb[]:
    psycopg quotes each element of an array parameter in Python: 1.5 ms for 50 values of a battle
    report's size, where one json.dumps of the list takes 0.3 ms (bench/README.md).
    An element that is JSON null stands for Python's None, which Django stores as SQL NULL.
    """
    quote = connection.ops.quote_name
    sources, values = [], []
    for field in fields:
        column = f"v.{quote(field.column)}"
        if isinstance(field, models.JSONField):
            sources.append("jsonb_array_elements(%s::jsonb)")
            values.append(f"NULLIF({column}, 'null'::jsonb)")
        else:
            sources.append(f"unnest(%s::{field.db_type(connection)}[])")
            values.append(column)
    return f"ROWS FROM ({', '.join(sources)}) AS v({', '.join(quote(f.column) for f in fields)})", values


def _array_preparer(field: Field) -> Callable[[list, object], object]:
    """How a column's values become its parameter in _column_arrays, `prepare_all(values,
    connection)`: one jsonb array for a JSON column, else a list of each value made ready."""
    if isinstance(field, models.JSONField):
        dumps = json.dumps if field.encoder is None else functools.partial(json.dumps, cls=field.encoder)
        return lambda values, connection: Jsonb(
            [None if value is None else field.get_prep_value(value) for value in values], dumps=dumps
        )
    prepare = _preparer(field)
    if prepare is _int_value:
        # the array's text form, which the statement casts: psycopg dumps a list of numbers one
        # element at a time in Python (33 µs for 50, against 7 µs for this)
        return lambda values, connection: "{" + ",".join([str(int(value)) for value in values]) + "}"
    return lambda values, connection: [prepare(value, connection) for value in values]


def insert(obj: Model) -> None:
    """Save a new row, as obj.save() does (INSERT, then the key the database gave it), with a
    statement built once per model and process instead of compiled by Django every time.

    For the rows the hot paths create one at a time (a dispatched fleet). Every concrete field is
    written; like bulk_create, it sends no signals (this project has no receivers on them).
    """
    model = type(obj)
    conn = connections[DEFAULT_DB_ALIAS]
    sql, fields = _insert_sql(model, conn.vendor, one=True)
    params = [prepare(field.pre_save(obj, True), conn) for field, prepare in fields]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = conn.alias


def create_all(objs: Sequence[Model]) -> None:
    """bulk_create() for rows of one model, keys set on the objects, with a statement built once
    per model and process (bulk_create compiles its INSERT every time): on PostgreSQL
    `INSERT ... SELECT * FROM unnest(<one array per column>) RETURNING` the keys, in the rows'
    order, as bulk_create does; a single row through insert(); elsewhere bulk_create."""
    conn = connections[DEFAULT_DB_ALIAS]
    if len(objs) == 1:
        insert(objs[0])
    elif objs and conn.vendor != "postgresql":
        type(objs[0]).objects.bulk_create(objs)
    elif objs:
        sql, fields = _insert_sql(type(objs[0]), conn.vendor, one=False)
        params = [
            prepare_all([field.pre_save(obj, True) for obj in objs], conn) for field, prepare_all in fields
        ]
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            keys = [row[0] for row in cursor.fetchall()]
        for obj, key in zip(objs, keys, strict=True):
            obj.pk = key
            obj._state.adding = False
            obj._state.db = conn.alias


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[Model], vendor: str, *, one: bool) -> tuple[str, list[tuple]]:
    """insert()'s statement (one row), or create_all's (many, PostgreSQL); its columns in the
    order of its parameters, each with its _preparer."""
    meta = model._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    if any(hasattr(field, "get_placeholder_sql") or hasattr(field, "get_placeholder") for field in fields):
        raise ValueError(f"{model.__name__} has a field with its own SQL placeholder: use save()")
    quote = connection.ops.quote_name
    if one:
        values = f"VALUES ({', '.join(['%s'] * len(fields))})"
    else:
        rows, columns = _column_arrays(fields)
        values = f"SELECT {', '.join(columns)} FROM {rows}"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"{values} RETURNING {quote(meta.pk.column)}"
    )
    return sql, [(field, _preparer(field) if one else _array_preparer(field)) for field in fields]


@Field.register_lookup
class AnyOf(Lookup):
    """`field__any_of=[1, 2, 3]`: the column is one of the listed integers (keys).

    On PostgreSQL `column = ANY(%s::bigint[])`: the list is one array parameter, so the statement
    has the same text for any number of values (`__in` has a placeholder per value), and a
    CompiledQuery can take a list as an argument. Elsewhere `column IN (%s, ...)`, as `__in`.
    The values are sent as they are (no field conversion): integers only.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> list:
        return list(self.rhs)

    def as_sql(self, compiler, connection) -> tuple[str, tuple]:
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", (*lhs_params, *self.rhs)

    def as_postgresql(self, compiler, connection) -> tuple[str, tuple]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", (*lhs_params, self.rhs)


ForeignObject.register_lookup(AnyOf)  # foreign keys take only the lookups registered on them


class CompiledQuery:
    """A query of one shape, compiled to SQL once per process and database, then run with new
    parameters: for the few queries that every request or event sends.

    Django compiles a queryset to SQL again on every evaluation, which for a row of a few dozen
    columns takes longer than PostgreSQL takes to answer it (about half the CPU of a request of
    this API went there). `build(*args)` makes the queryset; it is called once, with a marker in
    place of each argument, and the markers are found again among the compiled query's parameters.
    So every argument must reach the SQL as a parameter, unchanged (a key, a text, an aware
    datetime, a list of keys through `__any_of`): not through a lookup that transforms it
    (`__contains`, `__in`, a date part). Arguments are of the kinds given: int, str, datetime or
    list (of integers). Datetime and list arguments reach the SQL unchanged on PostgreSQL only:
    elsewhere (SQLite, in development) such a query is built and compiled on every call.

    `fetch(*args)` returns model instances (with their select_related() objects; no deferred
    fields, no annotations), or rows (tuples) for values_list(). The queryset's own conversions of
    column values apply. A select_for_update() query must run inside a transaction, as Django
    requires.
    """

    def __init__(self, build: Callable[..., QuerySet], *kinds: type) -> None:
        self.build = build
        self.markers = tuple(_marker(kind, i) for i, kind in enumerate(kinds))
        self.postgresql_only = any(kind in (datetime, list) for kind in kinds)
        self._compiled: dict[str, _Compiled] = {}

    def fetch(self, *args: object) -> list:
        if len(args) != len(self.markers):
            raise TypeError(f"{len(self.markers)} arguments expected, got {len(args)}")
        args = tuple(_beyond_keys(arg) if isinstance(arg, list) else arg for arg in args)
        if any(isinstance(arg, int) and not -(2**63) <= arg < 2**63 for arg in args):
            return []  # no row has such a key; Django's own lookups answer the same, not an error
        db = DEFAULT_DB_ALIAS
        conn = connections[db]
        if self.postgresql_only and conn.vendor != "postgresql":
            return list(self.build(*args))
        compiled = self._compiled.get(db) or self._compile(db)
        if compiled.for_update and conn.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = [args[p] if isinstance(p, int) else p.value for p in compiled.params]
        with conn.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if rows and len(rows[0]) != compiled.width:
            rows = [row[: compiled.width] for row in rows]
        if compiled.converters:
            rows = [_convert(row, compiled.converters, conn) for row in rows]
        if compiled.model is None:
            return [tuple(row) for row in rows]
        start, end = compiled.model_columns
        instances = []
        for row in rows:
            instance = compiled.model.from_db(db, compiled.fields, row[start:end])
            for related in compiled.related:
                related.populate(row, instance)
            instances.append(instance)
        return instances

    def first(self, *args: object) -> object | None:
        rows = self.fetch(*args)
        return rows[0] if rows else None

    def _compile(self, db: str) -> _Compiled:
        queryset = self.build(*self.markers)
        if queryset.db != db:
            raise ValueError(f"a compiled query runs on {db!r}, this queryset on {queryset.db!r}")
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()  # a select_for_update() outside a transaction raises here
        if queryset._iterable_class is ModelIterable:
            klass = compiler.klass_info
            if queryset._fetch_mode.track_peers:
                raise ValueError("a compiled query does not track peers (fetch mode)")
            if compiler.annotation_col_map:
                raise ValueError("a compiled query returns no annotations")
        elif queryset._iterable_class is ValuesListIterable:
            klass = None  # rows, as values_list() gives them
        else:
            raise ValueError("a compiled query gives model instances or values_list() rows")
        fields, start, end, related = None, 0, 0, []
        if klass is not None:
            start, end = klass["select_fields"][0], klass["select_fields"][-1] + 1
            fields = [column[0].target.attname for column in compiler.select[start:end]]
            # Django's own builders of the select_related() objects (what ModelIterable uses)
            related = get_related_populators(klass, compiler.select, db, queryset._fetch_mode)
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = list(compiler.get_converters(columns).items())
        compiled = _Compiled(
            sql=sql,
            width=compiler.col_count,
            params=self._slots(params),
            model=klass["model"] if klass is not None else None,
            fields=fields,
            model_columns=(start, end),
            related=related,
            converters=converters,
            for_update=bool(queryset.query.select_for_update),
        )
        self._compiled[db] = compiled
        return compiled

    def _slots(self, params: Sequence) -> list:
        """Per parameter of the compiled SQL: the index of the argument it is, or the query's own
        constant (a status, a flag)."""
        slots = []
        for param in params:
            found = [
                i for i, marker in enumerate(self.markers) if type(param) is type(marker) and param == marker
            ]
            slots.append(found[0] if found else _Constant(param))
        missing = set(range(len(self.markers))) - {s for s in slots if isinstance(s, int)}
        if missing:
            raise ValueError(f"arguments {sorted(missing)} do not reach the SQL as parameters")
        return slots


@dataclass(frozen=True)
class _Constant:
    value: object


@dataclass(frozen=True)
class _Compiled:
    sql: str
    width: int  # the columns it returns (a query may select more, for its ordering)
    params: list  # per parameter: the argument's index, or a _Constant of the query itself
    model: type[Model] | None
    fields: list[str] | None
    model_columns: tuple[int, int]  # where the model's own columns are in a row
    related: list  # django.db.models.query.RelatedPopulator, per select_related() relation
    converters: list
    for_update: bool


def _marker(kind: type, index: int) -> object:
    """A value of `kind` that no real argument takes, told apart from the others by `index`."""
    if kind is int:
        return -(2**62) - 7919 * (index + 1)
    if kind is str:
        return f"\x00compiled-query-argument-{index}\x00"
    if kind is datetime:
        return datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=7919 * (index + 1))
    if kind is list:
        return [_marker(int, index)]
    raise TypeError(f"compiled query arguments are int, str, datetime or list, not {kind.__name__}")


def _beyond_keys(values: list) -> list:
    """A list argument without the integers no key column can hold (they match no row anyway)."""
    return [value for value in values if -(2**63) <= value < 2**63]


def _convert(row: tuple, converters: list, conn: object) -> list:
    row = list(row)
    for position, (functions, expression) in converters:
        value = row[position]
        for function in functions:
            value = function(value, expression, conn)
        row[position] = value
    return row
