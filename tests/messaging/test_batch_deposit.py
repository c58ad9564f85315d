"""Local deliveries claimed and deposited in batches (apps.messaging.delivery.batch and .wake)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services import do_suspend_mailbox
from apps.messaging.delivery import batch as services_batch
from apps.messaging.delivery import wake
from apps.messaging.delivery.batch import claim_batch, do_deliver_next_batch
from apps.messaging.delivery.submit import enqueue_deliveries
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy, MessageKind
from apps.messaging.tasks import deposit_queued
from tests.messaging.helpers import body_of, send, subject_of

pytestmark = pytest.mark.django_db


def _queued(count: int, sender, user, to: list[str]) -> list[Message]:
    return [
        send(sender, user, to, deliver=False, subject=f"Compte rendu {n}", text=f"Patient {n}")
        for n in range(count)
    ]


def test_a_batch_deposits_every_claimed_delivery_once_with_its_journal_and_usage(
    alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    messages = _queued(5, alice_bal, dr_alice, [cardio_bal.address, pharmacy_bal.address])

    assert do_deliver_next_batch() == 10
    assert do_deliver_next_batch() == 0  # nothing left, nothing deposited twice

    for message in messages:
        assert set(Delivery.objects.filter(message=message).values_list("state", flat=True)) == {"delivered"}
        assert Message.objects.get(pk=message.pk).transit_key_wrap is None
        for mailbox in (cardio_bal, pharmacy_bal):
            copy = MessageCopy.objects.get(mailbox=mailbox, message=message)
            assert copy.folder.role == FolderRole.INBOX and copy.delivery.recipient_mailbox_id == mailbox.pk
            assert subject_of(copy).startswith("Compte rendu") and body_of(copy).startswith("Patient")
            assert copy.search_tokens
    assert AuditEvent.objects.filter(action="message.delivered").count() == 10
    total = sum(m.size for m in messages)
    assert Mailbox.objects.get(pk=cardio_bal.pk).used_bytes == total
    assert Mailbox.objects.get(pk=pharmacy_bal.pk).used_bytes == total


def test_the_claim_takes_only_due_local_queued_deliveries_up_to_the_limit(alice_bal, cardio_bal, dr_alice):
    messages = _queued(4, alice_bal, dr_alice, [cardio_bal.address])
    later = Delivery.objects.get(message=messages[0])
    later.next_attempt_at = timezone.now() + dt.timedelta(minutes=5)  # in back-off
    later.save(update_fields=["next_attempt_at"])
    held = Delivery.objects.get(message=messages[1])
    held.state = DeliveryState.HELD
    held.save(update_fields=["state"])

    first = claim_batch(limit=1)
    rest = claim_batch(limit=10)

    assert len(first) == 1 and len(rest) == 1 and set(first).isdisjoint(rest)
    claimed = Delivery.objects.filter(pk__in=first + rest)
    assert {(d.state, d.attempts) for d in claimed} == {(DeliveryState.SENDING, 1)}
    assert Delivery.objects.get(pk=later.pk).state == DeliveryState.QUEUED
    assert Delivery.objects.get(pk=held.pk).state == DeliveryState.HELD


@pytest.mark.django_db(transaction=True)
def test_two_depositors_never_claim_the_same_delivery(alice_bal, cardio_bal, dr_alice):
    _queued(6, alice_bal, dr_alice, [cardio_bal.address])
    locked = threading.Event()
    release = threading.Event()
    taken: list[int] = []

    def other_depositor() -> None:
        try:
            with transaction.atomic():
                taken.extend(claim_batch(limit=3))
                locked.set()
                release.wait(10)  # still inside its transaction: its rows stay locked
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_depositor)
    thread.start()
    assert locked.wait(10)
    mine = claim_batch(limit=10)  # SKIP LOCKED: the other depositor's rows are not waited for
    release.set()
    thread.join(10)

    assert len(taken) == 3 and len(mine) == 3 and set(taken).isdisjoint(mine)


def test_a_refused_recipient_fails_alone_and_the_others_of_the_batch_are_delivered(
    alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    message = send(
        alice_bal, dr_alice, [cardio_bal.address, pharmacy_bal.address], deliver=False, subject="Bilan"
    )
    do_suspend_mailbox(pharmacy_bal, reason="Fermeture de l'officine", acting_user=None)

    do_deliver_next_batch()

    assert (
        Delivery.objects.get(message=message, recipient_mailbox=cardio_bal).state == DeliveryState.DELIVERED
    )
    failed = Delivery.objects.get(message=message, recipient_mailbox=pharmacy_bal)
    assert failed.state == DeliveryState.FAILED and "suspendue" in failed.error_text
    assert not MessageCopy.objects.filter(mailbox=pharmacy_bal, message=message).exists()
    assert MessageCopy.objects.filter(mailbox=alice_bal, message__kind=MessageKind.BOUNCE).exists()
    assert Message.objects.get(pk=message.pk).transit_key_wrap is None


def test_deposits_earlier_in_a_batch_count_against_the_quota(alice_bal, cardio_bal, dr_alice):
    first, second = _queued(2, alice_bal, dr_alice, [cardio_bal.address])
    Mailbox.objects.filter(pk=cardio_bal.pk).update(quota_bytes=first.size + second.size // 2)

    do_deliver_next_batch()

    states = dict(Delivery.objects.filter(message__in=[first, second]).values_list("message_id", "state"))
    assert states == {first.pk: DeliveryState.DELIVERED, second.pk: DeliveryState.FAILED}
    assert Delivery.objects.get(message=second).error_code == "quota_full"


def test_a_delivery_taken_back_by_the_sweeper_is_not_deposited_by_the_old_batch(
    alice_bal, cardio_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Lent")
    ids = claim_batch()
    Delivery.objects.filter(pk__in=ids).update(state=DeliveryState.QUEUED)  # the sweeper re-queued it

    services_batch.do_deliver_claimed(ids)

    assert not MessageCopy.objects.filter(mailbox=cardio_bal, message=message).exists()
    assert Delivery.objects.get(message=message).state == DeliveryState.QUEUED


def test_the_transit_key_stays_while_another_delivery_of_the_message_is_pending(
    alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    message = send(
        alice_bal, dr_alice, [cardio_bal.address, pharmacy_bal.address], deliver=False, subject="Deux"
    )
    pending = Delivery.objects.get(message=message, recipient_mailbox=pharmacy_bal)
    Delivery.objects.filter(pk=pending.pk).update(next_attempt_at=timezone.now() + dt.timedelta(minutes=5))

    do_deliver_next_batch()

    assert Message.objects.get(pk=message.pk).transit_key_wrap is not None  # still needed by pharmacy
    Delivery.objects.filter(pk=pending.pk).update(next_attempt_at=timezone.now())
    do_deliver_next_batch()
    assert Message.objects.get(pk=message.pk).transit_key_wrap is None


def test_a_batch_that_fails_hands_its_deliveries_to_the_per_delivery_task(
    alice_bal, cardio_bal, dr_alice, celery_queue
):
    good, bad = _queued(2, alice_bal, dr_alice, [cardio_bal.address])
    Message.objects.filter(pk=bad.pk).update(transit_key_wrap=b"corrupted")  # the whole batch raises

    do_deliver_next_batch()

    deliveries = Delivery.objects.filter(message__in=[good, bad])
    assert {d.state for d in deliveries} == {DeliveryState.QUEUED}  # nothing half-done, nothing lost
    assert all(d.next_attempt_at > timezone.now() for d in deliveries)
    assert not MessageCopy.objects.filter(mailbox=cardio_bal).exists()
    pending = celery_queue.pending()
    assert sorted(t.args[0] for t in pending) == sorted(d.pk for d in deliveries)
    assert {t.name for t in pending} == {"apps.messaging.tasks.deliver_message"}


def test_a_batch_costs_the_same_number_of_queries_for_two_or_twenty_deliveries(
    alice_bal, cardio_bal, pharmacy_bal, dr_alice, django_assert_max_num_queries
):
    def queries_for(count: int) -> int:
        _queued(count, alice_bal, dr_alice, [cardio_bal.address, pharmacy_bal.address])
        with django_assert_max_num_queries(100) as captured:
            assert do_deliver_next_batch() == 2 * count
        return len(captured.captured_queries)

    queries_for(1)  # the first deposit into each BAL also creates its key and folders (cached from then on)
    assert queries_for(10) == queries_for(1)


def test_wake_publishes_once_until_a_depositor_clears_the_flag(celery_queue, alice_bal, cardio_bal, dr_alice):
    wake.wake()
    wake.wake()  # the flag is set: the task already published will see these deliveries
    assert [t.name for t in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"]

    wake.clear()  # what the depositor does before each claim
    wake.wake()
    assert [t.name for t in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"] * 2


def test_enqueue_wakes_the_depositor_for_local_and_publishes_remote_deliveries_one_by_one(
    celery_queue, alice_bal, cardio_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Un")
    local = Delivery.objects.get(message=message)
    remote = Delivery.objects.create(message=message, recipient="dr.x@autre-operateur.fr", is_local=False)

    enqueue_deliveries([local.pk, remote.pk])

    names = sorted((t.name, tuple(t.args)) for t in celery_queue.pending())
    assert names == [
        ("apps.messaging.tasks.deliver_message", (remote.pk,)),
        ("apps.messaging.tasks.deposit_queued", ()),
    ]


def test_the_claim_uses_the_partial_queue_index(alice_bal, cardio_bal, dr_alice):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'delivery_local_queue'")
        (definition,) = cursor.fetchone()
    assert "WHERE" in definition and "queued" in definition and "is_local" in definition


def test_a_depositor_that_found_work_holds_the_flag_so_submitters_do_not_publish(celery_queue):
    wake.hold()
    wake.wake()
    assert celery_queue.pending() == []  # the working depositor claims again: no second task

    wake.clear()
    wake.wake()
    assert [t.name for t in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"]


def test_the_depositor_task_empties_the_queue_batch_after_batch_and_leaves_the_flag_clear(
    settings, celery_queue, alice_bal, cardio_bal, dr_alice
):
    settings.DELIVERY_BATCH_SIZE = 2
    settings.DELIVERY_BATCH_LINGER_MS = 0
    messages = _queued(5, alice_bal, dr_alice, [cardio_bal.address])

    assert deposit_queued.apply().get() == 5

    assert Delivery.objects.filter(message__in=messages, state=DeliveryState.DELIVERED).count() == 5
    wake.wake()  # the flag was left clear: the next submission publishes at once
    assert [t.name for t in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"]


def test_a_database_error_in_a_single_deposit_is_retried_not_left_sending(
    monkeypatch, alice_bal, cardio_bal, dr_alice
):
    from django.db import OperationalError

    from apps.messaging.delivery import deliver as services_delivery
    from apps.messaging.delivery.transports import TemporaryFailure

    message = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Coupure")
    delivery = Delivery.objects.get(message=message)

    def broken(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services_delivery, "do_deposit", broken)
    with pytest.raises(TemporaryFailure):
        services_delivery.do_deliver(delivery.pk)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.QUEUED and delivery.next_attempt_at > timezone.now()
    assert "nouvel essai" in delivery.error_text
    assert not MessageCopy.objects.filter(mailbox=cardio_bal, message=message).exists()
