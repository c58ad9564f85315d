"""Inbound SMTP (another operator, or the national MES hosting the patient domain): the MSS-C rules hold
at deposit, where the headers are known: a remote patient's reply inside a professional's open thread is
delivered; a patient-initiated message or a reply after [FIN] is refused with its French cause; a
professional of another operator closing with X-MSS-MES: FIN closes the thread of our hosted patient."""

from __future__ import annotations

import io

import pytest

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, DeliveryState, MessageCopy
from apps.patients.threads import thread_state
from tests.patients.conftest import PAUL_ADDRESS, stored_message

REMOTE_DOCTOR = "lea.dupont@hopital-b.mssante.fr"


def _raw(sender: str, to: str, subject: str, in_reply_to: str = "", extra: str = "") -> bytes:
    reply = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash((sender, subject, in_reply_to)))}@remote.test>\r\n"
        f"Date: Sun, 22 Nov 2026 08:00:00 +0100\r\n{reply}{extra}MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n"
    ).encode()


def _receive_and_deliver(raw: bytes, sender: str, to: str) -> Delivery:
    message = do_receive_message(raw=io.BytesIO(raw), envelope_sender=sender, recipients=[to])
    assert message is not None
    delivery = Delivery.objects.get(message=message)
    do_deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def remote_patients(settings):
    settings.PATIENT_DOMAIN_HOSTED = False


def test_it_delivers_a_remote_patients_reply_in_an_open_thread(remote_patients, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    raw = _raw(PAUL_ADDRESS, alice_bal.address, "Re: Résultats", in_reply_to=letter.message_id)
    delivery = _receive_and_deliver(raw, PAUL_ADDRESS, alice_bal.address)
    assert delivery.state == DeliveryState.DELIVERED
    assert MessageCopy.objects.filter(mailbox=alice_bal, delivery=delivery).exists()


def test_it_refuses_a_remote_patient_starting_a_thread(remote_patients, alice_bal):
    delivery = _receive_and_deliver(
        _raw(PAUL_ADDRESS, alice_bal.address, "Question"), PAUL_ADDRESS, alice_bal.address
    )
    assert delivery.state == DeliveryState.FAILED and delivery.error_code == "patient_cannot_initiate"
    assert not MessageCopy.objects.filter(mailbox=alice_bal, delivery=delivery).exists()


def test_it_refuses_a_remote_patients_reply_after_fin(remote_patients, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    stored_message(alice_bal.address, [PAUL_ADDRESS], in_reply_to=letter, is_fin=True, from_mailbox=alice_bal)
    raw = _raw(PAUL_ADDRESS, alice_bal.address, "Re: Résultats", in_reply_to=letter.message_id)
    delivery = _receive_and_deliver(raw, PAUL_ADDRESS, alice_bal.address)
    assert delivery.state == DeliveryState.FAILED and delivery.error_code == "patient_thread_closed"


def test_it_closes_our_patients_thread_with_a_remote_x_mss_mes_fin(paul_profile):
    first = _raw(REMOTE_DOCTOR, PAUL_ADDRESS, "Résultats")
    assert _receive_and_deliver(first, REMOTE_DOCTOR, PAUL_ADDRESS).state == DeliveryState.DELIVERED
    letter = MessageCopy.objects.get(mailbox=paul_profile.mailbox).message
    fin = _raw(
        REMOTE_DOCTOR,
        PAUL_ADDRESS,
        "Re: Résultats",
        in_reply_to=letter.message_id,
        extra="X-MSS-MES: FIN\r\n",
    )
    assert _receive_and_deliver(fin, REMOTE_DOCTOR, PAUL_ADDRESS).state == DeliveryState.DELIVERED

    state = thread_state(
        patient_address=PAUL_ADDRESS,
        in_reply_to=letter.message_id,
        patient_mailbox_id=paul_profile.mailbox_id,
    )
    assert state.professionals == {REMOTE_DOCTOR} and state.closed
