"""The message's path: submit -> one Delivery per recipient -> deposit, encrypted, audited, idempotent."""

from __future__ import annotations

import email
from email.policy import default

import pytest

from apps.audit.models import AuditEvent
from apps.crypto.envelope import DecryptionError
from apps.mailboxes.keys import destroy_mailbox_key
from apps.messaging.delivery.deliver import claim, do_deliver, do_sweep_deliveries
from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy
from apps.messaging.store import content, storage
from apps.messaging.webmail.services import do_delete_copies, do_mark_read
from tests.messaging.helpers import PDF, body_of, pdf_part, send, subject_of

pytestmark = pytest.mark.django_db


def _raw(message: Message, copy: MessageCopy) -> bytes:
    data_key = content.data_key_of_copy(copy)
    return b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, data_key))


def test_it_stores_once_and_delivers_one_copy_per_recipient(alice_bal, cardio_bal, dr_alice):
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Adressage Mme Durand",
        text="Chère consœur,\nje vous adresse…",
        attachments=[pdf_part()],
    )
    delivery = Delivery.objects.get(message=message)
    assert delivery.state == DeliveryState.DELIVERED and delivery.delivered_at is not None
    inbox_copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    sent_copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    assert inbox_copy.folder.role == FolderRole.INBOX and sent_copy.folder.role == FolderRole.SENT
    assert subject_of(inbox_copy) == "Adressage Mme Durand"
    assert "je vous adresse" in body_of(inbox_copy)
    # The content is ciphertext in the database.
    assert b"Durand" not in bytes(message.subject_enc)
    assert Message.objects.get(pk=message.pk).transit_key_wrap is None  # nothing pending any more
    assert AuditEvent.objects.filter(action="message.submitted", actor_id=dr_alice.pk).exists()


def test_it_keeps_the_sha256_of_the_raw_message_and_a_valid_mime(alice_bal, cardio_bal, dr_alice):
    import hashlib

    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="Résultats",
        text="Voir PDF",
        attachments=[pdf_part("cr é.pdf")],
    )
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    raw = _raw(message, copy)
    assert hashlib.sha256(raw).hexdigest() == message.sha256 and len(raw) == message.size
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["Subject"] == "Résultats" and parsed["Message-ID"] == message.message_id
    attachment = next(parsed.iter_attachments())
    assert attachment.get_filename() == "cr é.pdf" and attachment.get_content() == PDF


def test_it_sends_on_behalf_of_an_organisational_bal(cardio_bal, alice_bal, sec_bob):
    message = send(cardio_bal, sec_bob, [alice_bal.address], subject="Rendez-vous", text="…")
    raw = _raw(message, MessageCopy.objects.get(mailbox=alice_bal, message=message))
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["From"].addresses[0].addr_spec == cardio_bal.address
    assert parsed["Sender"].addresses[0].display_name == "Bob Leroy"
    assert message.sent_by == sec_bob


def test_it_refuses_a_domain_outside_the_liste_blanche_and_stores_nothing(alice_bal, dr_alice):
    with pytest.raises(SubmissionRefused) as caught:
        send(alice_bal, dr_alice, ["someone@gmail.com"], subject="x", text="y")
    assert "gmail.com" in caught.value.refusals["someone@gmail.com"]
    assert not Message.objects.exists()


def test_it_refuses_an_unknown_local_bal(alice_bal, dr_alice):
    with pytest.raises(SubmissionRefused) as caught:
        send(alice_bal, dr_alice, ["personne@demo.mssante.fr"], subject="x", text="y")
    assert "n'existe pas" in caught.value.refusals["personne@demo.mssante.fr"]


def test_it_refuses_a_sender_who_may_not_write_in_the_bal(cardio_bal, alice_bal, charlie):
    with pytest.raises(SubmissionRefused):
        send(cardio_bal, charlie, [alice_bal.address], subject="x", text="y")


def test_it_never_makes_two_copies_when_a_delivery_runs_twice(alice_bal, cardio_bal, dr_alice):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", deliver=False)
    delivery = Delivery.objects.get(message=message)
    assert do_deliver(delivery.pk) == DeliveryState.DELIVERED
    assert do_deliver(delivery.pk) == DeliveryState.DELIVERED
    # A sweeper re-queue of a delivered row is impossible, and a forced re-run still finds the copy.
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.QUEUED)
    Message.objects.filter(pk=message.pk).update(transit_key_wrap=content.wrap_transit(b"k" * 32, message.pk))
    assert do_deliver(delivery.pk) == DeliveryState.DELIVERED
    assert MessageCopy.objects.filter(mailbox=cardio_bal, message=message).count() == 1


def test_it_lets_only_one_claim_win(alice_bal, cardio_bal, dr_alice):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", deliver=False)
    delivery = Delivery.objects.get(message=message)
    assert claim(delivery.pk) is True
    assert claim(delivery.pk) is False


def test_the_sweeper_requeues_a_delivery_whose_worker_died(alice_bal, cardio_bal, dr_alice, settings):
    import datetime as dt

    from django.utils import timezone

    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", deliver=False)
    delivery = Delivery.objects.get(message=message)
    claim(delivery.pk)  # the worker claimed it, then was killed
    assert do_sweep_deliveries() == []  # not stuck yet
    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    assert do_sweep_deliveries(now=later) == [delivery.pk]
    assert do_deliver(delivery.pk) == DeliveryState.DELIVERED
    assert MessageCopy.objects.filter(mailbox=cardio_bal, message=message).count() == 1


def test_a_suspended_recipient_gets_a_french_bounce_in_the_senders_inbox(alice_bal, cardio_bal, dr_alice):
    from apps.mailboxes.services import do_suspend_mailbox

    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Bilan", text="y", deliver=False)
    do_suspend_mailbox(cardio_bal, reason="test", acting_user=None)
    delivery = Delivery.objects.get(message=message)
    assert do_deliver(delivery.pk) == DeliveryState.FAILED
    delivery.refresh_from_db()
    assert "suspendue" in delivery.error_text
    bounce = MessageCopy.objects.get(mailbox=alice_bal, folder__role=FolderRole.INBOX)
    assert subject_of(bounce) == "Non remis : Bilan"
    assert "suspendue" in body_of(bounce) and cardio_bal.address in body_of(bounce)


def test_a_read_receipt_marks_the_senders_timeline(alice_bal, cardio_bal, dr_alice, sec_bob):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", read_receipt=True)
    copy = MessageCopy.objects.select_related("mailbox", "message").get(mailbox=cardio_bal, message=message)
    do_mark_read(copy, user=sec_bob)
    assert Delivery.objects.get(message=message).read_at is not None
    assert copy.reads.filter(user=sec_bob).exists()


def test_a_destroyed_bal_key_shreds_its_copies_while_a_co_recipient_still_reads(
    alice_bal, cardio_bal, pharmacy_bal, dr_alice
):
    message = send(
        alice_bal, dr_alice, [cardio_bal.address, pharmacy_bal.address], subject="Secret", text="y"
    )
    destroy_mailbox_key(cardio_bal.pk)
    with pytest.raises(DecryptionError):
        subject_of(MessageCopy.objects.get(mailbox=cardio_bal, message=message))
    assert subject_of(MessageCopy.objects.get(mailbox=pharmacy_bal, message=message)) == "Secret"


def test_deleting_the_last_copy_deletes_the_message_and_its_blobs(
    alice_bal, cardio_bal, dr_alice, django_capture_on_commit_callbacks
):
    from apps.messaging.store import blobs

    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", attachments=[pdf_part()])
    names = [message.raw_blob, *message.attachments.exclude(blob="").values_list("blob", flat=True)]
    assert names and all(blobs.exists(name) for name in names)  # the attachment is inside the raw message
    received = MessageCopy.objects.select_related("message", "mailbox").filter(message=message)
    with pytest.raises(Exception):  # noqa: B017 — copies of two BALs cannot be deleted together
        do_delete_copies(received, user=dr_alice)
    for copy in received:
        with django_capture_on_commit_callbacks(execute=True):
            do_delete_copies([copy], user=dr_alice)
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not any(blobs.exists(name) for name in names)


def test_it_refuses_a_message_over_the_size_limit(alice_bal, cardio_bal, dr_alice, settings):
    settings.MESSAGE_MAX_BYTES = 50_000
    with pytest.raises(storage.MessageTooLarge) as caught:
        send(
            alice_bal,
            dr_alice,
            [cardio_bal.address],
            subject="x",
            text="y",
            attachments=[pdf_part(body=b"A" * 60_000)],
        )
    assert "taille maximale" in str(caught.value)
    assert not Message.objects.exists()


def test_a_fin_subject_also_sets_the_x_mss_mes_header(alice_bal, cardio_bal, dr_alice):
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Re: Résultats [FIN]", text="Au revoir")
    raw = _raw(message, MessageCopy.objects.get(mailbox=cardio_bal, message=message))
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["X-MSS-MES"] == "FIN" and message.is_fin


def test_an_applicative_bal_receives_what_its_software_will_fetch(alice_bal, lab_bal, dr_alice):
    mailbox, _secret = lab_bal
    message = send(alice_bal, dr_alice, [mailbox.address], subject="Demande d'analyse", text="NFS")
    assert Delivery.objects.get(message=message).state == DeliveryState.DELIVERED
    assert MessageCopy.objects.filter(
        mailbox=mailbox, message=message, folder__role=FolderRole.INBOX
    ).exists()


def test_the_sweeper_bounces_a_delivery_that_keeps_dying(alice_bal, cardio_bal, dr_alice, settings):
    import datetime as dt

    from django.utils import timezone

    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="x", text="y", deliver=False)
    delivery = Delivery.objects.get(message=message)
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.SENDING, attempts=settings.DELIVERY_MAX_ATTEMPTS
    )
    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    assert do_sweep_deliveries(now=later) == []
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.error_code == "expired"
    assert MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX).exists()  # the bounce
