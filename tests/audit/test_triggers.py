"""The PostgreSQL guard of migration 0003: the journal is append-only except for sealing and the purge."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AuditAnchor, AuditEvent
from apps.audit.services import do_seal_pending
from tests.audit.support import make_event


def _execute(sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_it_refuses_to_update_a_sealed_event(db):
    event = make_event()
    do_seal_pending()

    with pytest.raises(DatabaseError, match="append-only"):
        _execute("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s", [event.id])
    with pytest.raises(DatabaseError, match="append-only"):
        _execute("UPDATE audit_auditevent SET seal = repeat('a', 64) WHERE id = %s", [event.id])

    event.refresh_from_db()
    assert event.actor_label == ""


def test_it_refuses_to_change_the_content_of_an_unsealed_event(db):
    event = make_event(outcome="failure")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="success")
    with pytest.raises(DatabaseError, match="append-only"):
        # Sealing and rewriting in the same statement is no loophole.
        _execute(
            "UPDATE audit_auditevent SET seal_seq = 99, seal = repeat('b', 64), sealed_at = now(), "
            "details = '{\"forged\": true}' WHERE id = %s",
            [event.id],
        )

    assert AuditEvent.objects.get(pk=event.pk).outcome == "failure"


def test_it_lets_the_sealer_set_the_seal_once(db):
    event = make_event()

    assert do_seal_pending() == 1
    event.refresh_from_db()
    assert event.seal_seq == 1


def test_it_refuses_delete_without_the_purge_flag(db):
    unsealed, sealed = make_event(), make_event()
    do_seal_pending()
    unsealed_later = make_event()

    with pytest.raises(DatabaseError, match="audit_purge"), transaction.atomic():
        AuditEvent.objects.filter(pk=sealed.pk).delete()
    # Even with the flag, only sealed rows may go: an unsealed one was never anchored anywhere.
    with (
        pytest.raises(DatabaseError, match="audit_purge"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL mssante.audit_purge = 'on'")
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [unsealed_later.id])

    assert AuditEvent.objects.filter(pk__in=[unsealed.pk, sealed.pk, unsealed_later.pk]).count() == 3


def test_it_refuses_truncate(db):
    make_event()

    for table in ("audit_auditevent", "audit_auditanchor"):
        with (
            pytest.raises(DatabaseError, match="TRUNCATE"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            # The test suite's own flush is allowed per connection; a real connection has no such setting.
            cursor.execute("SET LOCAL mssante.audit_allow_truncate = 'off'")
            cursor.execute(f"TRUNCATE {table}")

    assert AuditEvent.objects.count() == 1


def test_it_refuses_to_change_or_delete_an_anchor(db):
    anchor = AuditAnchor.objects.create(
        through_seq=5,
        seal="c" * 64,
        purged_count=5,
        purged_before=make_event().occurred_at,
        actor_label="ops",
    )

    with pytest.raises(DatabaseError, match="anchors are permanent"):
        _execute("UPDATE audit_auditanchor SET seal = repeat('d', 64) WHERE id = %s", [anchor.id])
    with pytest.raises(DatabaseError, match="anchors are permanent"):
        _execute("DELETE FROM audit_auditanchor WHERE id = %s", [anchor.id])

    anchor.refresh_from_db()
    assert anchor.seal == "c" * 64
