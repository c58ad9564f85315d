"""Inbound: a raw message from another operator is stored encrypted and delivered like local mail."""

from __future__ import annotations

import hashlib
import io

import pytest

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from tests.messaging.helpers import body_of, subject_of

pytestmark = pytest.mark.django_db

RAW = (
    "From: =?utf-8?q?Dr_L=C3=A9a_Dupont?= <lea.dupont@hopital-b.mssante.fr>\r\n"
    "To: alice.martin@demo.mssante.fr\r\n"
    "Subject: =?utf-8?q?Compte_rendu_d=27hospitalisation?=\r\n"
    "Message-ID: <cr-123@hopital-b.mssante.fr>\r\n"
    "Date: Sun, 22 Nov 2026 08:00:00 +0100\r\n"
    "X-MSS-NIL: DEV935997\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Chère consœur, voici le compte rendu.\r\n"
    '--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="cr.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
).encode()


def _deliver_all(message: Message) -> None:
    for pk in Delivery.objects.filter(message=message, state=DeliveryState.QUEUED).values_list(
        "pk", flat=True
    ):
        do_deliver(pk)


def test_it_stores_and_delivers_a_received_message(alice_bal):
    message = do_receive_message(
        raw=io.BytesIO(RAW),
        envelope_sender="lea.dupont@hopital-b.mssante.fr",
        recipients=["Alice.Martin@demo.mssante.fr"],
        peer="CN=hopital-b",
        idempotency_key="smtp:1",
    )
    assert message is not None and message.sha256 == hashlib.sha256(RAW).hexdigest()
    assert message.mss_headers == {"X-MSS-NIL": "DEV935997"} and message.sender_name == "Dr Léa Dupont"
    _deliver_all(message)
    copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    assert subject_of(copy) == "Compte rendu d'hospitalisation"
    assert "voici le compte rendu" in body_of(copy)
    assert message.attachments.get().size == len(b"%PDF-1.4\n")


def test_it_is_idempotent_per_spool_entry(alice_bal):
    args = {
        "envelope_sender": "x@hopital-b.mssante.fr",
        "recipients": [alice_bal.address],
        "idempotency_key": "smtp:7",
    }
    first = do_receive_message(raw=io.BytesIO(RAW), **args)
    second = do_receive_message(raw=io.BytesIO(RAW), **args)
    assert first == second and Message.objects.count() == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Subject: =?unknown-8bit?q?caf=E9?=\r\n\r\nbody",
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xe9t\xe9",
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n--never-closed\r\nhello',
        b"From: <<<@@@>>>\r\nDate: not a date\r\nMessage-ID: no brackets\r\n\r\n",
    ],
)
def test_it_never_crashes_on_malformed_mime(alice_bal, raw):
    message = do_receive_message(raw=io.BytesIO(raw), envelope_sender="", recipients=[alice_bal.address])
    assert message is not None
    _deliver_all(message)
    assert MessageCopy.objects.filter(mailbox=alice_bal, message=message).exists()


def test_an_inbound_ihe_xdm_package_tags_the_message_with_its_patient(alice_bal):
    import base64

    from tests.messaging.test_xdm import METADATA, xdm_zip

    package = xdm_zip(METADATA.replace("248000000000000", "279035121518989"))
    raw = (
        "From: <cr@hopital-b.mssante.fr>\r\nTo: alice.martin@demo.mssante.fr\r\n"
        "Subject: XDM/1.0/DDM+Compte rendu BERNARD Paul 19790312\r\nMessage-ID: <xdm-1@hopital-b>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCompte rendu\r\n"
        '--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename="IHE_XDM.ZIP"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(package).decode() + "--b--\r\n"
    ).encode()
    message = do_receive_message(raw=io.BytesIO(raw), envelope_sender="", recipients=[alice_bal.address])
    assert message is not None
    message.refresh_from_db()
    assert message.patient_ins == "279035121518989"
