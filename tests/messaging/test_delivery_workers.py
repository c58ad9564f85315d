"""Deliveries performed by a real `celery worker` subprocess through Redis, end to end.

The test process submits through `do_submit_message` (transactional_db: the commit really happens and the
on-commit enqueue publishes to this test worker's Redis queue); the worker subprocess, with its own Django
and database connection, claims and deposits. Nothing here calls `do_deliver` in-process.
"""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services import do_suspend_mailbox
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy, MessageKind
from apps.messaging.tasks import deliver_message
from tests.messaging.helpers import PDF, pdf_part, send, subject_of
from tests.plugins.throwaway import wait_until

pytestmark = pytest.mark.slow


def _states(message: Message) -> list[str]:
    return sorted(Delivery.objects.filter(message=message).values_list("state", flat=True))


def _all_in(message: Message, state: str) -> bool:
    return set(_states(message)) == {state}


def test_it_delivers_a_submitted_message_through_a_worker_process(
    celery_worker_process, alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address, pharmacy_bal.address],
        deliver=False,
        subject="Ordonnance de sortie",
        text="Bonjour, voici l'ordonnance.",
        attachments=[pdf_part("ordonnance.pdf")],
    )

    wait_until(lambda: _all_in(message, DeliveryState.DELIVERED), timeout=60, what="both deliveries done")
    for mailbox in (cardio_bal, pharmacy_bal):
        copy = MessageCopy.objects.get(mailbox=mailbox, message=message)
        assert copy.folder.role == FolderRole.INBOX and copy.delivery is not None
        assert subject_of(copy) == "Ordonnance de sortie"
        assert copy.search_tokens  # indexed by the worker, under the recipient BAL's key
    assert Message.objects.get(pk=message.pk).transit_key_wrap is None
    assert AuditEvent.objects.filter(action="message.delivered", target_id=str(message.pk)).count() == 2
    size = Message.objects.get(pk=message.pk).size
    assert size > len(PDF)
    assert Mailbox.objects.get(pk=cardio_bal.pk).used_bytes == size


def test_it_makes_no_second_copy_when_the_task_runs_twice(
    celery_worker_factory, alice_bal, cardio_bal, dr_alice
):
    # One child: tasks run in queue order, so once the marker message is delivered the duplicate has run.
    celery_worker_factory(concurrency=1)
    first = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Premier", text="…")
    wait_until(lambda: _all_in(first, DeliveryState.DELIVERED), timeout=60, what="first delivery")
    delivery = Delivery.objects.get(message=first)

    deliver_message.delay(delivery.pk)  # a duplicate: retried task, sweeper re-queue, redelivered message
    marker = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Repère", text="…")
    wait_until(lambda: _all_in(marker, DeliveryState.DELIVERED), timeout=60, what="marker delivery")

    assert MessageCopy.objects.filter(mailbox=cardio_bal, message=first).count() == 1
    assert Delivery.objects.get(pk=delivery.pk).attempts == 1  # the duplicate could not claim it
    assert AuditEvent.objects.filter(action="message.delivered", target_id=str(first.pk)).count() == 1


def test_it_bounces_in_french_when_the_recipient_was_suspended_before_the_worker_ran(
    celery_queue, celery_worker_factory, alice_bal, cardio_bal, dr_alice
):
    message = send(alice_bal, dr_alice, [cardio_bal.address], deliver=False, subject="Bilan", text="…")
    assert [task.name for task in celery_queue.pending()] == ["apps.messaging.tasks.deposit_queued"]
    do_suspend_mailbox(cardio_bal, reason="Départ du service", acting_user=None)

    celery_worker_factory()
    wait_until(lambda: _all_in(message, DeliveryState.FAILED), timeout=60, what="delivery failed")

    delivery = Delivery.objects.get(message=message)
    assert delivery.error_code == "mailbox_suspended" and "suspendue" in delivery.error_text
    assert not MessageCopy.objects.filter(mailbox=cardio_bal, message=message).exists()
    bounce = MessageCopy.objects.get(mailbox=alice_bal, message__kind=MessageKind.BOUNCE)
    assert bounce.folder.role == FolderRole.INBOX
    assert Message.objects.get(pk=message.pk).transit_key_wrap is None
