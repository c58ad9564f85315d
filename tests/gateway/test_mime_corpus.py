"""A real-world MIME corpus (CPython's own e-mail test messages: odd charsets, nested multiparts, broken
headers, non-MIME, uuencode, RFC 2231 names) is ingested without a crash and every message page renders."""

from __future__ import annotations

import io
import sysconfig
from pathlib import Path

import pytest
from django.urls import reverse

from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.inbound import do_receive_message
from apps.messaging.models import Delivery, MessageCopy

CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
MESSAGES = sorted(p.name for p in CORPUS.glob("msg_*.txt"))


def test_the_corpus_is_present():
    # CPython ships it with its test package (python3.11 on Debian and pyenv alike); without it the
    # parametrised test below would silently test nothing.
    assert len(MESSAGES) >= 40, CORPUS


@pytest.mark.django_db
@pytest.mark.parametrize("name", MESSAGES)
def test_it_ingests_and_shows_every_message_of_the_corpus(name, alice_bal, alice_client):
    raw = (CORPUS / name).read_bytes()
    message = do_receive_message(
        raw=io.BytesIO(raw),
        envelope_sender="x@hopital-b.test",
        recipients=[alice_bal.address],
        idempotency_key=f"corpus:{name}",
    )
    assert message is not None and message.size == len(raw)
    for pk in Delivery.objects.filter(message=message).values_list("pk", flat=True):
        do_deliver(pk)
    copy = MessageCopy.objects.get(mailbox=alice_bal, message=message)
    response = alice_client.get(reverse("messaging:message-detail", args=[alice_bal.pk, copy.pk]))
    assert response.status_code == 200
    assert b"<script>" not in response.content.lower()
