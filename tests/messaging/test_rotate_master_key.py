"""Master key rotation: BAL keys rewrapped under the new key; with the old key removed, mail still opens."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.management import call_command

from apps.crypto import keys as crypto_keys
from apps.mailboxes import keys as mailbox_keys
from apps.mailboxes.models import MailboxKey
from tests.messaging.helpers import send, subject_of

pytestmark = pytest.mark.django_db


def _entry(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def ring(settings):
    def use(value: str) -> None:
        settings.MASTER_KEYS = value
        crypto_keys.reload_master_key_ring()
        mailbox_keys.clear_cache()

    yield use
    settings.MASTER_KEYS = None
    crypto_keys.reload_master_key_ring()
    mailbox_keys.clear_cache()


def test_it_rewraps_bal_keys_so_the_old_master_key_can_go(ring, alice_bal, cardio_bal, dr_alice, capsys):
    old, new = _entry("2026-01"), _entry("2027-01")
    ring(old)
    message = send(alice_bal, dr_alice, [cardio_bal.address], subject="Avant rotation", text="x")
    ring(f"{new},{old}")
    call_command("rotate_master_key")
    assert "2 clés de BAL rechiffrées" in capsys.readouterr().out
    assert all(
        crypto_keys.mailbox_wrap_kid(bytes(w)) == "2027-01"
        for w in MailboxKey.objects.values_list("wrapped", flat=True)
    )
    ring(new)  # the old key is gone for good
    copy = message.copies.get(mailbox=cardio_bal)
    assert subject_of(copy) == "Avant rotation"
