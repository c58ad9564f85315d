"""Spooled messages ingested in batches (issue 17, ADR 0022): one transaction per batch, exactly once.

The worker-kill test imports this module inside the worker subprocess (`include`) with INGEST_GATE_DIR set:
the first batch goes through, the next ones stop inside their transaction (rows claimed, nothing committed)
until the test opens the gate, so the kill always finds a batch in flight. A sleep was not enough: on a busy
machine the worker sometimes ingested every message while the test still waited for its first ping.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.gateway import ingest_batch, services, tasks
from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.services import SpoolEnvelope, do_spool_message
from apps.mailboxes.models import Mailbox
from apps.messaging.delivery import inbound_batch as services_inbound_batch
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from tests.gateway.conftest import PEER_DOMAIN, sample_message
from tests.plugins.throwaway import wait_until

SENDER = f"dr.voisin@{PEER_DOMAIN}"
PEER_DN = "CN=mx.hopital-voisin.fr,OU=318310021300028,O=GIP HOPITAL VOISIN,C=FR"

if os.environ.get("INGEST_GATE_DIR"):  # only inside the worker subprocess of the kill test
    from pathlib import Path

    _receive_many = services_inbound_batch.do_receive_many
    _gate = Path(os.environ["INGEST_GATE_DIR"])
    _passed = 0

    def _gated_receive_many(*args: Any, **kwargs: Any) -> Any:
        global _passed
        if _passed >= 1:  # the first batch commits; the others wait, holding their rows, for the kill
            (_gate / f"parked-{os.getpid()}").touch()
            while not (_gate / "open").exists():
                time.sleep(0.05)
        _passed += 1
        return _receive_many(*args, **kwargs)

    ingest_batch.do_receive_many = _gated_receive_many  # type: ignore[assignment]


def spool(recipients: list[str], n: int = 0) -> InboundMessage:
    envelope = SpoolEnvelope(sender=SENDER, recipients=recipients, peer_dn=PEER_DN, peer_ip="127.0.0.1")
    body = f"Compte rendu {n} ({uuid.uuid4()}).\r\n"  # distinct messages, never taken for resends
    return do_spool_message(sample_message(SENDER, recipients[0], body=body), envelope)


def spool_many(django_capture_on_commit_callbacks: Any, recipients: list[str], count: int) -> list[Any]:
    with django_capture_on_commit_callbacks(execute=False):  # no publish: the test runs the batch itself
        return [spool(recipients, n).pk for n in range(count)]


def assert_exactly_once(spool_ids: list[Any], mailboxes: list[Mailbox]) -> None:
    rows = InboundMessage.objects.filter(pk__in=spool_ids)
    assert set(rows.values_list("state", flat=True)) == {SpoolState.INGESTED}
    message_ids = list(rows.values_list("message_id", flat=True))
    assert Message.objects.filter(idempotency_key__in=[f"smtp:{pk}" for pk in spool_ids]).count() == len(
        spool_ids
    )
    deliveries = Delivery.objects.filter(message_id__in=message_ids)
    copies = MessageCopy.objects.filter(message_id__in=message_ids)
    assert copies.count() == deliveries.filter(state=DeliveryState.DELIVERED).count() == deliveries.count()
    received = AuditEvent.objects.filter(action="message.received", target_id__in=map(str, message_ids))
    delivered = AuditEvent.objects.filter(action="message.delivered", target_id__in=map(str, message_ids))
    assert received.count() == len(spool_ids)
    assert delivered.count() == deliveries.count()
    for mailbox in mailboxes:  # the quota counter saw each message once
        held = Message.objects.filter(copies__mailbox=mailbox, pk__in=message_ids).aggregate(s=Sum("size"))
        assert Mailbox.objects.get(pk=mailbox.pk).used_bytes == held["s"]


def test_a_batch_stores_and_deposits_every_message_in_one_go_with_one_wake(
    alice_bal, cardio_bal, celery_queue, django_capture_on_commit_callbacks
):
    ids = spool_many(django_capture_on_commit_callbacks, [alice_bal.address, cardio_bal.address], 5)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = ingest_batch.do_ingest_batch()

    assert (outcome.claimed, outcome.stored, outcome.set_aside, outcome.corrupt) == (5, 5, [], [])
    assert_exactly_once(ids, [alice_bal, cardio_bal])
    # Every recipient was local and accepted: nothing left queued, no transit key kept, nothing published.
    messages = Message.objects.filter(idempotency_key__in=[f"smtp:{pk}" for pk in ids])
    assert not messages.filter(transit_key_wrap__isnull=False).exists()
    assert [t.name for t in celery_queue.pending()] == []
    # A second run finds nothing left to claim.
    assert ingest_batch.do_ingest_batch().claimed == 0


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(
    alice_bal, django_capture_on_commit_callbacks
):
    spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 2)
    ingest_batch.do_ingest_batch()  # the BAL's key and folders are made once, outside the measure
    spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 2)
    with CaptureQueriesContext(connection) as small:
        assert ingest_batch.do_ingest_batch().stored == 2
    spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 12)
    with CaptureQueriesContext(connection) as large:
        assert ingest_batch.do_ingest_batch().stored == 12

    # Per batch, not per message: the only difference allowed is the stemming round trip for words the
    # process has not seen yet (the small batch's were all known).
    assert len(large.captured_queries) <= len(small.captured_queries) + 1
    # 16 + the resend keys + stemming this batch's new words + the IMAP UIDs of the batch's copies (one
    # UPDATE, where the table's trigger took them one row at a time, unseen here).
    assert len(small.captured_queries) <= 19


def test_recipients_the_batch_cannot_deposit_stay_queued_for_the_usual_pipeline(
    alice_bal, cardio_bal, celery_queue, django_capture_on_commit_callbacks
):
    Mailbox.objects.filter(pk=cardio_bal.pk).update(quota_bytes=10)  # full: refused at deposit
    remote = "dr.ailleurs@autre-operateur.fr"
    ids = spool_many(django_capture_on_commit_callbacks, [alice_bal.address, cardio_bal.address, remote], 1)

    with django_capture_on_commit_callbacks(execute=True):
        assert ingest_batch.do_ingest_batch().stored == 1

    message = Message.objects.get(idempotency_key=f"smtp:{ids[0]}")
    states = dict(Delivery.objects.filter(message=message).values_list("recipient", "state"))
    assert states == {
        alice_bal.address: DeliveryState.DELIVERED,
        cardio_bal.address: DeliveryState.QUEUED,  # the depositor refuses it and bounces, as before
        remote: DeliveryState.QUEUED,
    }
    assert message.transit_key_wrap is not None  # still needed by the queued deliveries
    assert MessageCopy.objects.filter(message=message).count() == 1
    pending = sorted(t.name for t in celery_queue.pending())
    assert pending == ["apps.messaging.tasks.deliver_message", "apps.messaging.tasks.deposit_queued"]


def test_a_failing_batch_is_set_aside_whole_and_each_message_goes_on_alone(
    alice_bal, monkeypatch, eager_tasks, django_capture_on_commit_callbacks
):
    ids = spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 3)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a row the database refuses")

    monkeypatch.setattr(ingest_batch, "do_receive_many", broken)
    with django_capture_on_commit_callbacks(execute=True):
        stored = tasks.ingest_inbound_batch.apply(args=[[str(pk) for pk in ids]]).get()

    assert stored == 3  # each through the per-message path
    assert_exactly_once(ids, [alice_bal])


def test_a_task_whose_rows_are_taken_already_ends_at_once(alice_bal, django_capture_on_commit_callbacks):
    first = spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 3)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest_batch.do_ingest_batch().stored == 3  # a running batch took them
    later = spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 2)

    # The task published for the first rows has nothing left to do: the later rows have tasks of their own.
    assert tasks.ingest_inbound_batch.apply(args=[[str(pk) for pk in first]]).get() == 0
    assert set(InboundMessage.objects.filter(pk__in=later).values_list("state", flat=True)) == {"received"}
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.ingest_inbound_batch.apply(args=[[str(pk) for pk in later]]).get() == 2
    assert_exactly_once(first + later, [alice_bal])


def test_after_a_partial_batch_the_next_claim_lets_the_batch_fill(
    alice_bal, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.GATEWAY_INGEST_FILL_MS = 30
    first = spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 3)
    arriving: list[Any] = []
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # messages arrive while the worker waits
        waits.append(seconds)
        if not arriving:
            arriving.extend(spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 4))

    monkeypatch.setattr(tasks.time, "sleep", sleep)
    with django_capture_on_commit_callbacks(execute=True):
        stored = tasks.ingest_inbound_batch.apply(args=[[str(pk) for pk in first]]).get()

    # 3 (its own rows, a partial batch), a wait, the 4 that arrived meanwhile in one batch, a wait, nothing.
    assert (stored, waits) == (7, [0.03, 0.03])
    assert_exactly_once(first + arriving, [alice_bal])


def test_a_message_already_stored_is_not_stored_twice(alice_bal, django_capture_on_commit_callbacks):
    (spool_id,) = spool_many(django_capture_on_commit_callbacks, [alice_bal.address], 1)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.do_ingest(spool_id)  # the per-message path got there first
    InboundMessage.objects.filter(pk=spool_id).update(state=SpoolState.RECEIVED)  # as if its update was lost

    ingest_batch.do_ingest_batch([str(spool_id)])

    assert InboundMessage.objects.get(pk=spool_id).message_id == first
    assert Message.objects.filter(idempotency_key=f"smtp:{spool_id}").count() == 1
    assert Delivery.objects.filter(message_id=first).count() == 1  # no second set of deliveries either


@pytest.mark.slow
def test_it_loses_and_duplicates_nothing_when_a_worker_is_killed_mid_batch(
    celery_queue, celery_worker_factory, alice_bal, cardio_bal, django_capture_on_commit_callbacks, tmp_path
):
    # 40 messages in batches of 2: one batch commits, the next is held inside its transaction by the gate
    ids = spool_many(django_capture_on_commit_callbacks, [alice_bal.address, cardio_bal.address], 40)
    # Outside a transaction (transactional_db) each spool published its own per-message task at once, which
    # the capture does not hold back: dropped, so that only the batch task below ingests.
    celery_queue.purge()
    tasks.ingest_inbound_batch.apply_async(args=[[str(pk) for pk in ids]])
    worker = celery_worker_factory(
        concurrency=2,
        include=["tests.gateway.test_ingest_batch"],
        extra_env={
            "INGEST_GATE_DIR": str(tmp_path),
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "GATEWAY_INGEST_BATCH_SIZE": "2",  # many small batches, so the kill lands between two of them
        },
    )

    def ingested() -> int:
        return InboundMessage.objects.filter(pk__in=ids, state=SpoolState.INGESTED).count()

    wait_until(lambda: any(tmp_path.glob("parked-*")), timeout=60, what="a second batch held in flight")
    worker.kill(signal.SIGKILL)
    at_kill = ingested()
    assert at_kill == 2  # the first batch committed, the one in flight did not
    assert Message.objects.filter(idempotency_key__in=[f"smtp:{pk}" for pk in ids]).count() == at_kill

    (tmp_path / "open").touch()  # the restarted worker runs freely
    # Recovery: the sweeper re-queues the rows left `received`; Redis redelivers the unacknowledged task.
    later = timezone.now() + dt.timedelta(seconds=300)
    assert services.do_sweep_spool(now=later)
    worker.start()
    wait_until(lambda: ingested() == len(ids), timeout=120, what="every message ingested after restart")
    time.sleep(4)  # the redelivered and duplicated tasks run too: they must be no-ops

    assert_exactly_once(ids, [alice_bal, cardio_bal])
