"""INSERTs and single-row SELECTs for the message pipeline's hot paths, without per-call SQL compilation.

`Model.objects.create()`, `bulk_create()` and `.filter().first()` compile their SQL on every call: 0.3 to
0.6 ms of CPU for one row, ten times what PostgreSQL then spends executing it, and the delivery benchmark
runs several per message (docs/decisions/0014-delivery-hot-path.md). Here the statement is built once per
model (and row count) and the values still go through each field's own `pre_save` and `get_db_prep_save`,
so what is stored is exactly what the ORM would store; instances come back through `Model.from_db`. Use
it only where a profile shows the ORM's cost: everywhere else the ORM is clearer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


def _cursor(connection: Any, *, numbered: bool = False) -> Any:
    """A cursor binding parameters on the server (PostgreSQL): no quoting of every value into the SQL
    text, and psycopg prepares a statement run five times, so PostgreSQL stops re-parsing and re-planning
    the same INSERT. Django's own cursors bind on the client (its default, for the ORM's sake); this one
    still goes through Django's wrappers, so query capture in tests and the debug log see it.

    `numbered`: the SQL has PostgreSQL's own `$1, $2…` placeholders (psycopg's RawCursor), which psycopg
    sends as they are. With `%s` it splits the text to find them, again at every call for a statement
    over 4 KB: a 64-row INSERT cost 5 to 15 ms of CPU in that split alone (profile of issue 17).
    Parameters then go in psycopg's automatic format: binary for bytes, as `%b` did."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    cursor_class = psycopg.RawCursor if numbered else ServerBindingCursor
    raw = cursor_class(connection.connection)  # type: ignore[call-arg]  # psycopg's Cursor(conn)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


@lru_cache(maxsize=64)
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    # The columns the ORM would insert: every concrete field but an auto-incremented primary key.
    return tuple(
        f
        for f in model._meta.local_concrete_fields
        if not isinstance(f, models.AutoField | models.BigAutoField)
    )


@lru_cache(maxsize=256)
def _insert_sql(model: type[models.Model], rows: int, vendor: str) -> str:
    fields = _insert_fields(model)
    quote = connections[router.db_for_write(model)].ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    if vendor == "postgresql":
        # Numbered placeholders (see `_cursor`); bytes (ciphertext) go in binary: no hex escaping.
        width = len(fields)
        values = ", ".join(
            "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")"
            for row in range(rows)
        )
    else:
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * rows)
    returning = _auto_pk(model)
    tail = f" RETURNING {quote(str(returning.column))}" if returning is not None else ""
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {values}{tail}"  # noqa: S608


def _auto_pk(model: type[models.Model]) -> models.Field | None:
    pk = model._meta.pk
    return pk if isinstance(pk, models.AutoField | models.BigAutoField) else None


def insert(objs: Sequence[M]) -> Sequence[M]:
    """INSERT unsaved instances of one model in one statement; sets their auto primary keys."""
    if not objs:
        return objs
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _insert_fields(model)
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    with _cursor(connection, numbered=True) as cursor:
        cursor.execute(_insert_sql(model, len(objs), connection.vendor), params)
        pk = _auto_pk(model)
        if pk is not None:
            for obj, row in zip(objs, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, row[0])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
    return objs


@lru_cache(maxsize=64)
def _select_sql(model: type[models.Model], column: str) -> tuple[str, tuple[str, ...]]:
    quote = connections[router.db_for_read(model)].ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(str(f.column)) for f in fields)
    where = quote(str(_field(model, column).column))
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {where} = %s LIMIT 1"  # noqa: S608
    return sql, tuple(f.attname for f in fields)


def _field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a relation, not a column")
    return field


def get_by(model: type[M], column: str, value: Any) -> M | None:
    """The row whose `column` (a unique field) equals `value`, as a model instance, or None."""
    alias = router.db_for_read(model)
    sql, names = _select_sql(model, column)
    connection = connections[alias]
    with _cursor(connection) as cursor:
        cursor.execute(sql, [_field(model, column).get_db_prep_value(value, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    return model.from_db(alias, list(names), _convert(connection, model, row))


def _converters(connection: Any, model: type[models.Model]) -> list[tuple[int, list[Any], Any]]:
    # Built once per connection and model: asking every field for its converters costs as much as the
    # compilation this module avoids.
    cache = connection.__dict__.setdefault("_fastsql_converters", {})
    if model not in cache:
        found = []
        for index, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if converters:
                found.append((index, converters, column))
        cache[model] = found
    return cache[model]


def _convert(connection: Any, model: type[models.Model], row: Sequence[Any]) -> list[Any]:
    """Apply the backend's and the fields' from-database converters, as the ORM's compiler does."""
    values = list(row)
    for index, converters, column in _converters(connection, model):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return values
