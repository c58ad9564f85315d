"""Resends recognised per recipient (issue 17 point 3): same Message-ID, envelope sender and DATA as
received; a recipient who has the message gets no second copy, the others get theirs."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from apps.gateway import ingest_batch, services
from apps.gateway.dedup import data_sha256, do_purge_dedup_keys, resend_key
from apps.gateway.models import InboundDedupKey, InboundMessage, SpoolState
from apps.gateway.services import SpoolEnvelope, do_spool_message
from apps.messaging.models import Delivery, MessageCopy
from tests.gateway.conftest import PEER_DOMAIN, sample_message

SENDER = f"dr.voisin@{PEER_DOMAIN}"


def received(recipients: list[str], body: str = "Compte rendu.\r\n", sender: str = SENDER) -> InboundMessage:
    """Spooled as the gateway spools it: our own trace line (naming a new spool id) in front of the DATA."""
    spool_id = uuid.uuid4()
    trace = (
        f"Received: from mx.hopital-voisin.fr ([127.0.0.1])\r\n\tby mx.demo id {spool_id}; now\r\n".encode()
    )
    raw = trace + sample_message(sender, recipients[0], body=body)
    envelope = SpoolEnvelope(sender=sender, recipients=recipients, peer_dn="CN=x", peer_ip="127.0.0.1")
    return do_spool_message(raw, envelope, spool_id=spool_id)


def copies_in(mailbox) -> int:  # noqa: ANN001
    return MessageCopy.objects.filter(mailbox=mailbox, message__origin="smtp").count()


def test_the_key_ignores_our_trace_line_but_not_the_data_the_sender_or_the_message_id():
    data = sample_message(SENDER, "a@demo.mssante.fr")
    one = b"Received: from x\r\n\tby y id 1; now\r\n" + data
    two = b"Received: from x\r\n\tby y id 2; later\r\n" + data
    assert data_sha256(one) == data_sha256(two) == data_sha256(data)
    assert resend_key(one, SENDER) == resend_key(two, SENDER)
    assert resend_key(one, SENDER) != resend_key(one, "autre@hopital-voisin.fr")
    assert resend_key(one, SENDER) != resend_key(one + b"!", SENDER)
    assert resend_key(data.replace(b"Message-ID", b"X-Old-Id"), SENDER) is None


def test_a_resend_while_the_first_is_still_spooled_is_deposited_once(
    alice_bal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first, again = received([alice_bal.address]), received([alice_bal.address])

    outcome = ingest_batch.do_ingest_batch()

    assert outcome.claimed == 2
    assert copies_in(alice_bal) == 1
    states = dict(InboundMessage.objects.values_list("pk", "state"))
    assert states == {first.pk: SpoolState.INGESTED, again.pk: SpoolState.INGESTED}
    assert InboundMessage.objects.get(pk=again.pk).message_id is None  # nothing new was stored


def test_a_resend_after_ingest_reaches_only_the_recipients_who_lack_it(
    alice_bal, cardio_bal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        received([alice_bal.address])
    ingest_batch.do_ingest_batch()
    with django_capture_on_commit_callbacks(execute=False):
        again = received([alice_bal.address, cardio_bal.address])

    ingest_batch.do_ingest_batch()

    assert (copies_in(alice_bal), copies_in(cardio_bal)) == (1, 1)
    resent = InboundMessage.objects.get(pk=again.pk)
    assert list(
        Delivery.objects.filter(message_id=resent.message_id).values_list("recipient", flat=True)
    ) == [cardio_bal.address]


def test_the_per_message_path_recognises_a_resend_too(alice_bal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first, again = received([alice_bal.address]), received([alice_bal.address])
    assert services.do_ingest(first.pk) is not None
    assert services.do_ingest(again.pk) is None
    assert Delivery.objects.filter(recipient=alice_bal.address).count() == 1
    assert InboundMessage.objects.get(pk=again.pk).state == SpoolState.INGESTED


def test_other_data_under_the_same_message_id_is_not_a_resend(alice_bal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        received([alice_bal.address], body="Premier compte rendu.\r\n")
        received([alice_bal.address], body="Compte rendu corrige.\r\n")
    ingest_batch.do_ingest_batch()
    assert copies_in(alice_bal) == 2


def test_keys_are_kept_seven_days_whatever_the_spool_retention(alice_bal, settings):
    assert settings.GATEWAY_DEDUP_DAYS == 7
    InboundDedupKey.objects.create(key="a" * 64, recipient=alice_bal.address)
    old = InboundDedupKey.objects.create(key="b" * 64, recipient=alice_bal.address)
    InboundDedupKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))

    assert do_purge_dedup_keys() == 1
    assert list(InboundDedupKey.objects.values_list("key", flat=True)) == ["a" * 64]
