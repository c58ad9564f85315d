import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from apps.audit.chain import CHAIN_FIELDS, CHAIN_LOCK_ID, GENESIS_SEAL, compute_seal
from apps.audit.models import AuditEvent
from apps.audit.services import do_seal_pending, record_event
from apps.audit.tasks import seal_events


def test_it_chains_events_in_id_order(dr_alice):
    events = [record_event(f"test.action{i}", actor=dr_alice) for i in range(5)]

    assert do_seal_pending(batch_size=2) == 5

    rows = list(
        AuditEvent.objects.order_by("seal_seq").values(*CHAIN_FIELDS, "seal_seq", "seal", "sealed_at")
    )
    assert [row["id"] for row in rows] == [event.id for event in events]
    assert [row["seal_seq"] for row in rows] == [1, 2, 3, 4, 5]
    previous = GENESIS_SEAL
    for row in rows:
        assert row["seal"] == compute_seal(previous, row, row["seal_seq"])
        assert row["sealed_at"] is not None
        previous = row["seal"]


def test_it_continues_the_chain_from_the_head(dr_alice):
    record_event("test.first", actor=dr_alice)
    do_seal_pending()
    head = AuditEvent.objects.get(seal_seq=1)
    late = record_event("test.second", actor=dr_alice)

    assert do_seal_pending() == 1
    assert do_seal_pending() == 0

    late.refresh_from_db()
    row = AuditEvent.objects.filter(pk=late.pk).values(*CHAIN_FIELDS).get()
    assert late.seal_seq == 2
    assert late.seal == compute_seal(head.seal, row, 2)


def test_the_periodic_task_seals_pending_events(dr_alice):
    record_event("test.action", actor=dr_alice)

    assert seal_events.apply().get() == 1
    assert not AuditEvent.objects.filter(seal_seq__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_it_returns_zero_when_another_sealer_holds_the_chain(dr_alice):
    record_event("test.action", actor=dr_alice)
    holding, release = threading.Event(), threading.Event()

    def other_sealer() -> None:
        # Stands for a sealer busy in another process: it holds the chain lock in its own transaction.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_sealer)
    thread.start()
    try:
        assert holding.wait(10)
        assert do_seal_pending() == 0
    finally:
        release.set()
        thread.join()

    assert do_seal_pending() == 1


def test_the_seal_command_reports_what_it_sealed(dr_alice):
    record_event("test.action", actor=dr_alice)
    record_event("test.action", actor=dr_alice)
    out = StringIO()

    call_command("audit_seal", "--batch-size", "1", stdout=out)

    assert out.getvalue().strip() == "2 event(s) sealed."
    assert list(AuditEvent.objects.order_by("id").values_list("seal_seq", flat=True)) == [1, 2]
