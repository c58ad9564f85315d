"""Read receipts to senders at other operators (issue 20, point 1): the first read of a message received
over SMTP that asks for one returns an MDN to the remote sender, once, journaled; never against the reader's
preference, and never automatically when Disposition-Notification-To is not the Return-Path (RFC 8098)."""

from __future__ import annotations

import io

import pytest

from apps.audit.models import AuditEvent
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, Message, MessageCopy, MessageKind
from apps.messaging.webmail.services import do_mark_read
from tests.gateway.conftest import PEER_DOMAIN, list_domain

pytestmark = pytest.mark.django_db
REMOTE = f"dr.voisin@{PEER_DOMAIN}"


@pytest.fixture(autouse=True)
def routed(pki, settings):
    list_domain(PEER_DOMAIN, pki.peer.dn)
    settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:9"]  # the MDN's delivery is only queued here


def _raw(notify: str = REMOTE) -> bytes:
    return (
        f"From: Dr Voisin <{REMOTE}>\r\nTo: alice.martin@demo.mssante.fr\r\nSubject: Avis\r\n"
        f"Message-ID: <avis-20@{PEER_DOMAIN}>\r\nDisposition-Notification-To: {notify}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n"
    ).encode()


def _received_copy(alice_bal, raw: bytes) -> MessageCopy:
    message = do_receive_message(raw=io.BytesIO(raw), envelope_sender=REMOTE, recipients=[alice_bal.address])
    assert message is not None
    do_deliver(Delivery.objects.get(message=message).pk)
    return MessageCopy.objects.select_related("message", "mailbox").get(mailbox=alice_bal, message=message)


def _read(copy, user, capture) -> None:
    with capture(execute=True):
        do_mark_read(copy, user=user, read=True)


def test_the_first_read_sends_one_mdn_to_the_remote_sender_and_journals_it(
    alice_bal, dr_alice, eager_tasks, django_capture_on_commit_callbacks
):
    copy = _received_copy(alice_bal, _raw())
    _read(copy, dr_alice, django_capture_on_commit_callbacks)
    report = Message.objects.get(kind=MessageKind.REPORT)
    delivery = Delivery.objects.get(message=report)
    assert delivery.recipient == REMOTE and not delivery.is_local and report.return_path == ""
    event = AuditEvent.objects.get(action="message.read_receipt_sent")
    assert event.details["to"] == REMOTE and event.actor_id == dr_alice.pk
    # Unread, read again: still one MDN, one journal entry.
    do_mark_read(copy, user=dr_alice, read=False)
    copy.refresh_from_db()
    _read(copy, dr_alice, django_capture_on_commit_callbacks)
    assert Message.objects.filter(kind=MessageKind.REPORT).count() == 1
    assert AuditEvent.objects.filter(action="message.read_receipt_sent").count() == 1


def test_a_reader_who_never_returns_receipts_sends_none(
    alice_bal, dr_alice, eager_tasks, django_capture_on_commit_callbacks
):
    dr_alice.read_receipt_policy = "never"
    dr_alice.save(update_fields=["read_receipt_policy"])
    copy = _received_copy(alice_bal, _raw())
    _read(copy, dr_alice, django_capture_on_commit_callbacks)
    assert not Message.objects.filter(kind=MessageKind.REPORT).exists()


def test_no_automatic_mdn_when_the_notification_address_is_not_the_return_path(
    alice_bal, dr_alice, eager_tasks, django_capture_on_commit_callbacks
):
    copy = _received_copy(alice_bal, _raw(notify=f"secretariat@{PEER_DOMAIN}"))
    _read(copy, dr_alice, django_capture_on_commit_callbacks)
    assert not Message.objects.filter(kind=MessageKind.REPORT).exists()
    withheld = AuditEvent.objects.get(action="message.read_receipt_withheld")
    assert withheld.details["to"] == f"secretariat@{PEER_DOMAIN}"
    assert "Return-Path" in withheld.details["reason"]
