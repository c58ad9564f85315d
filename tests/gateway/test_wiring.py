"""The gateway's hooks into messaging: remote DSNs/MDNs update the timeline, read receipts and DSNs go back
to remote senders, inbound S/MIME is opened and its signature recorded."""

from __future__ import annotations

import io
from email import policy
from email.parser import BytesParser

import pytest

from apps.gateway import reports, smime
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy, MessageKind
from apps.messaging.store import content, storage
from apps.messaging.webmail.services import do_mark_read
from tests.gateway import smime_certs
from tests.gateway.conftest import PEER_DOMAIN, list_domain
from tests.messaging.helpers import body_of, send

pytestmark = pytest.mark.django_db
REMOTE = f"dr.voisin@{PEER_DOMAIN}"


@pytest.fixture(autouse=True)
def listed(pki):
    list_domain(PEER_DOMAIN, pki.peer.dn)


def _raw_of(copy: MessageCopy) -> bytes:
    message = copy.message
    return b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, content.data_key_of_copy(copy)))


def test_a_remote_dsn_fails_the_delivery_and_bounces_in_french(alice_bal, dr_alice, settings):
    settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:9"]  # never reached: the delivery stays queued
    message = send(alice_bal, dr_alice, [REMOTE], subject="Bilan", text="x", deliver=False)
    sent = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    original = BytesParser(policy=policy.default).parsebytes(_raw_of(sent))
    dsn = reports.build_dsn(
        original,
        [
            reports.RecipientStatus(
                final_recipient=REMOTE, status="5.1.1", diagnostic="550 5.1.1 User unknown"
            )
        ],
        to=alice_bal.address,
        reporting_mta=f"mx.{PEER_DOMAIN}",
        postmaster=f"postmaster@{PEER_DOMAIN}",
    )
    consumed = do_receive_message(
        raw=io.BytesIO(dsn.as_bytes(policy=policy.SMTP)), envelope_sender="", recipients=[alice_bal.address]
    )
    assert consumed is None  # applied to the timeline, not filed as a message
    delivery = Delivery.objects.get(message=message)
    assert delivery.state == DeliveryState.FAILED and "n'existe pas" in delivery.error_text
    bounce = MessageCopy.objects.get(mailbox=alice_bal, folder__role=FolderRole.INBOX)
    assert REMOTE in body_of(bounce)


RAW = (
    f"From: Dr Voisin <{REMOTE}>\r\nTo: alice.martin@demo.mssante.fr\r\nSubject: Avis\r\n"
    f"Message-ID: <avis-1@{PEER_DOMAIN}>\r\nDisposition-Notification-To: {REMOTE}\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n"
).encode()


def _receive(alice_bal, raw: bytes = RAW) -> Message:
    message = do_receive_message(raw=io.BytesIO(raw), envelope_sender=REMOTE, recipients=[alice_bal.address])
    assert message is not None
    for pk in Delivery.objects.filter(message=message).values_list("pk", flat=True):
        do_deliver(pk)
    return message


def test_reading_a_remote_message_returns_an_mdn_with_a_null_sender(alice_bal, dr_alice, settings):
    settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:9"]
    message = _receive(alice_bal)
    copy = MessageCopy.objects.select_related("message", "mailbox").get(mailbox=alice_bal, message=message)
    from django.db import transaction

    with transaction.atomic():
        do_mark_read(copy, user=dr_alice)
    # on_commit hooks do not run inside the test transaction: call the registered sender as commit would.
    from apps.messaging.delivery.transports import get_transport

    get_transport().send_read_receipt(copy, dr_alice)
    report = Message.objects.get(kind=MessageKind.REPORT)
    assert report.return_path == "" and Delivery.objects.get(message=report).recipient == REMOTE
    assert not Delivery.objects.get(message=report).is_local


def test_a_message_that_cannot_be_deposited_gets_a_dsn_to_its_return_path(alice_bal, settings):
    from apps.mailboxes.services import do_suspend_mailbox

    settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:9"]
    message = do_receive_message(raw=io.BytesIO(RAW), envelope_sender=REMOTE, recipients=[alice_bal.address])
    assert message is not None
    do_suspend_mailbox(alice_bal, reason="test", acting_user=None)
    do_deliver(Delivery.objects.get(message=message).pk)
    dsn = Message.objects.get(kind=MessageKind.REPORT)
    delivery = Delivery.objects.get(message=dsn)
    assert delivery.recipient == REMOTE and dsn.return_path == ""


def test_an_inbound_signed_message_is_verified_and_labelled(alice_bal, settings, tmp_path):
    ca = smime_certs.make_ca()
    signer = smime_certs.issue(ca, "Dr Voisin", REMOTE)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    settings.SMIME_CA_FILES = [str(tmp_path / "ca.pem")]
    signed = smime.sign_message(RAW, smime.Credentials.from_pem(signer.cert_pem(), signer.key_pem()))
    message = _receive(alice_bal, signed)
    message.refresh_from_db()
    assert message.signature_state == "valid" and "Dr Voisin" in message.signature_signer
    copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    assert body_of(copy).strip() == "Bonjour"
    tampered = signed.replace(b"Bonjour", b"Bonsoir")
    other = _receive(alice_bal, tampered.replace(b"avis-1@", b"avis-2@"))
    other.refresh_from_db()
    assert other.signature_state == "invalid"
