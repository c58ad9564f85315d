"""Fence for `fastsql` (hand-built INSERTs and one-row SELECTs, ADR 0014): for every model the hot paths
write with it, its statement is the ORM's for the same operation, and the row it stores (read back raw from
PostgreSQL) is the row the ORM stores for the same instance. A Django upgrade that changes how the ORM writes
or converts a column fails here rather than silently diverging.

The instances are the real ones: a message submitted and delivered through the services (attachment, inline
blob, delivery, sent and inbox copies, journal events), each re-inserted once by the ORM and once by
`fastsql` inside savepoints that are rolled back.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, models, transaction

from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox
from apps.messaging.models import Attachment, Delivery, Message, MessageCopy, StoredBlob
from mssante_lib import fastsql
from tests.messaging.helpers import pdf_part, send

pytestmark = pytest.mark.django_db


@contextmanager
def _statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement run on the default connection in the block, as (sql, params) before binding."""
    seen: list[tuple[str, Any]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def _normalised(sql: str, table: str) -> str:
    # The ORM qualifies columns with the table name; fastsql sends bytea as binary (%b) and numbers its
    # placeholders ($1, $2…: psycopg then does not re-split a 64-row statement): the same statement.
    sql = sql.replace(f"{connection.ops.quote_name(table)}.", "").replace("%b", "%s")
    return re.sub(r"\$\d+\b", "%s", sql)


def _raw_row(model: type[models.Model], pk: Any) -> dict[str, Any]:
    """The row as PostgreSQL stores it (bytea as hex, jsonb normalised, timestamps in full)."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT to_jsonb(t) FROM {table} t WHERE t.{column} = %s", [pk])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None, f"{model.__name__} {pk} was not stored"
    return json.loads(row[0]) if isinstance(row[0], str) else row[0]


def _is_auto(model: type[models.Model]) -> bool:
    return isinstance(model._meta.pk, models.AutoField | models.BigAutoField)


def _insert_both_ways(objs: list[models.Model], replaces: list[models.Model] = ()) -> dict[str, Any]:
    """Insert copies of `objs` with the ORM then with fastsql, each in a savepoint rolled back (after
    deleting `replaces`, rows whose unique columns the copies reuse); the statements and stored rows."""
    model = type(objs[0])
    found: dict[str, Any] = {}
    for way, insert in (("orm", model._default_manager.bulk_create), ("fast", fastsql.insert)):
        fresh = [copy.copy(obj) for obj in objs]
        for obj in fresh:
            obj._state = copy.copy(obj._state)
            obj._state.adding, obj._state.db = True, None
        with transaction.atomic():
            for old in replaces:
                with connection.cursor() as cursor:
                    table, pk = connection.ops.quote_name(model._meta.db_table), model._meta.pk.column
                    cursor.execute(f"DELETE FROM {table} WHERE {pk} = %s", [old.pk])  # noqa: S608
            with _statements() as seen:
                insert(fresh)
            found[way] = {
                "sql": [sql for sql, _ in seen],
                "rows": [_raw_row(model, obj.pk) for obj in fresh],
                "objs": fresh,
            }
            transaction.set_rollback(True)
    return found


def _without_auto_pk(model: type[models.Model], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = model._meta.pk.column if _is_auto(model) else None
    return [{k: v for k, v in row.items() if k != drop} for row in rows]


@pytest.fixture
def delivered(alice_bal, cardio_bal, dr_alice, settings) -> Message:
    settings.MESSAGE_INLINE_MAX_BYTES = 512 * 1024  # the attachment's blob is a StoredBlob row
    return send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Compte rendu — Mme Durand",
        text="Chère consœur,\nci-joint le compte rendu.",
        html="<p>Chère consœur, <b>ci-joint</b>.</p>",
        attachments=[pdf_part("cr é.pdf")],
    )


def _cases(message: Message) -> dict[str, tuple[list[models.Model], list[models.Model]]]:
    """name -> (instances to insert, rows they replace): the fastsql call sites' models, from real rows."""
    fresh_message = copy.copy(message)
    fresh_message.pk = uuid.uuid4()
    attachment = copy.copy(Attachment.objects.filter(message=message).first())
    attachment.pk, attachment.position = None, 99
    deliveries = [copy.copy(Delivery.objects.get(message=message)) for _ in range(3)]
    for delivery in deliveries:
        delivery.pk = None
    sent = copy.copy(MessageCopy.objects.get(message=message, is_outgoing=True))
    sent.pk = None
    inbox = MessageCopy.objects.get(message=message, is_outgoing=False)
    assert inbox.delivery_id is not None and inbox.search_tokens
    fresh_inbox = copy.copy(inbox)
    fresh_inbox.pk = None  # fastsql, like its callers, lets PostgreSQL number the row
    blob = copy.copy(StoredBlob.objects.get(name=message.raw_blob))
    blob.name = f"fence-{uuid.uuid4().hex}"
    events = [copy.copy(e) for e in AuditEvent.objects.order_by("id")[:2]]
    for event in events:
        event.pk = None
        event.ip, event.user_agent = "2001:db8::1", "Mozilla/5.0 (fence) é"
        event.details = {**event.details, "nested": {"liste": [1, "deux", None]}, "é": "ü"}
    return {
        "message": ([fresh_message], []),
        "attachment": ([attachment], []),
        "delivery": ([deliveries[0]], []),
        "deliveries (3 rows)": (deliveries, []),
        "sent copy": ([sent], []),
        "inbox copy (delivery, search tokens)": ([fresh_inbox], [inbox]),
        "stored blob": ([blob], []),
        "journal events (2 rows)": (events, []),
    }


def test_it_inserts_what_the_orm_inserts_for_every_hot_path_model(delivered):
    cases = _cases(delivered)
    assert all(objs for objs, _ in cases.values())
    for name, (objs, replaces) in cases.items():
        model = type(objs[0])
        both = _insert_both_ways(objs, replaces)
        table = model._meta.db_table
        fast_rows, orm_rows = (_without_auto_pk(model, both[way]["rows"]) for way in ("fast", "orm"))
        assert fast_rows == orm_rows, f"{name}: stored rows differ"
        (fast_sql,) = both["fast"]["sql"]
        (orm_sql,) = (
            both["orm"]["sql"] if len(objs) == 1 else _insert_both_ways(objs[:1], replaces)["orm"]["sql"]
        )
        orm_sql = _normalised(orm_sql, table)
        if len(objs) > 1:  # the ORM sends several rows through UNNEST; fastsql repeats its one-row VALUES
            head, values, tail = re.fullmatch(r"(.* VALUES )(\(.*?\))(.*)", orm_sql).groups()
            orm_sql = head + ", ".join([values] * len(objs)) + tail
        assert _normalised(fast_sql, table) == orm_sql, f"{name}: statements differ"
        for obj in both["fast"]["objs"]:
            assert obj.pk is not None and obj._state.adding is False and obj._state.db == "default", name


def _lookups(message: Message) -> list[tuple[type[models.Model], str, Any]]:
    """(model, unique column, value): the BAL lookup of the recipient check, and rows with JSON, bytea, UUID
    and inet columns, whose values the ORM converts on the way out."""
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None
    return [
        (Mailbox, "address", message.from_mailbox.address),
        (Message, "id", message.pk),
        (AuditEvent, "id", event.pk),
    ]


def test_it_selects_what_the_orm_selects_and_converts_each_column(delivered):
    for model, column, value in _lookups(delivered):
        with _statements() as fast_seen:
            found = fastsql.get_by(model, column, value)
        with _statements() as orm_seen:
            (expected,) = model._default_manager.filter(**{column: value}).order_by()[:1]
        table = model._meta.db_table
        assert [_normalised(sql, table) for sql, _ in fast_seen] == [
            _normalised(sql, table) for sql, _ in orm_seen
        ]
        assert [list(params) for _, params in fast_seen] == [list(params) for _, params in orm_seen]
        assert found is not None and found._state.adding is False and found._state.db == "default"
        for field in model._meta.concrete_fields:
            mine, theirs = getattr(found, field.attname), getattr(expected, field.attname)
            assert (mine, type(mine)) == (theirs, type(theirs)), f"{model.__name__}.{field.name}"
    assert fastsql.get_by(Mailbox, "address", "personne@demo.mssante.fr") is None
