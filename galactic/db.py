"""Database helpers the event handlers share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model


def bulk_save(objs: Iterable[Model], fields: Sequence[str]) -> None:
    """Write `fields` of many rows of one model with one UPDATE, in the caller's transaction.

    Django's bulk_update builds a CASE WHEN per field and row, which takes longer to compile than
    the events it saves take to compute. On PostgreSQL this sends one
    `UPDATE ... FROM (VALUES ...)` instead; elsewhere (SQLite, in development) Django's bulk_update.
    Like bulk_update, it sends no signals and runs no pre_save (no auto_now fields here).
    """
    objs = list(objs)
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS v({', '.join(quote(f.column) for f in columns)}) "
        f"WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}"
    )
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
