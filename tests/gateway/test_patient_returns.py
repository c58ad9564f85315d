"""Automatic returns for patient addresses: an unknown or invalid INS hosted here gets the MSS-C cause, and a
remote patient domain's DSN (the national MES) maps to the same French causes on the sender's timeline."""

from __future__ import annotations

import io
from email import policy
from email.parser import BytesParser

import pytest

from apps.gateway import reports
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import Delivery, DeliveryState, MessageCopy
from apps.messaging.store import content, storage
from tests.messaging.helpers import send

pytestmark = pytest.mark.django_db
UNKNOWN = "279035121518989@patient.mssante.fr"  # a valid INS nobody holds here
BAD_KEY = "279035121518988@patient.mssante.fr"


def test_an_unknown_or_invalid_patient_address_gets_the_mss_c_cause(alice_bal, dr_alice):
    with pytest.raises(SubmissionRefused) as caught:
        send(alice_bal, dr_alice, [UNKNOWN, BAD_KEY], subject="Résultats", text="x")
    assert "patient non trouvé" in caught.value.refusals[UNKNOWN]
    assert "adresse invalide" in caught.value.refusals[BAD_KEY]


def test_a_remote_patient_domain_dsn_becomes_the_same_french_return(alice_bal, dr_alice, settings):
    settings.PATIENT_DOMAIN_HOSTED = False  # the national MES hosts the patients
    settings.GATEWAY_ROUTES = ["patient.mssante.fr=localhost:9"]
    message = send(alice_bal, dr_alice, [UNKNOWN], subject="Résultats", text="x", deliver=False)
    delivery = Delivery.objects.get(message=message)
    assert not delivery.is_local
    sent = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    raw = b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, content.data_key_of_copy(sent)))
    dsn = reports.build_dsn(
        BytesParser(policy=policy.default).parsebytes(raw),
        [
            reports.RecipientStatus(
                final_recipient=UNKNOWN, status="5.2.1", diagnostic="550 5.2.1 Mailbox closed"
            )
        ],
        to=alice_bal.address,
        reporting_mta="mx.patient.mssante.fr",
        postmaster="postmaster@patient.mssante.fr",
    )
    assert (
        do_receive_message(
            raw=io.BytesIO(dsn.as_bytes(policy=policy.SMTP)),
            envelope_sender="",
            recipients=[alice_bal.address],
        )
        is None
    )
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and "messagerie fermée" in delivery.error_text
