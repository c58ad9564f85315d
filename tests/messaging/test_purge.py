"""A BAL with mail can be deleted whole; messages no BAL holds any more are purged with their blobs."""

from __future__ import annotations

import pytest

from apps.mailboxes.services import do_delete_mailbox
from apps.messaging.models import Message, MessageCopy
from apps.messaging.store import blobs
from apps.messaging.webmail.services import do_purge_orphan_messages
from tests.messaging.helpers import pdf_part, send

pytestmark = pytest.mark.django_db


def test_a_bal_holding_copies_can_be_deleted_and_its_orphans_purged(
    alice_bal, cardio_bal, dr_alice, django_capture_on_commit_callbacks
):
    kept = send(alice_bal, dr_alice, [cardio_bal.address], subject="à garder", text="x")
    only_alice = send(
        alice_bal, dr_alice, [alice_bal.address], subject="à soi", text="y", attachments=[pdf_part()]
    )
    names = [only_alice.raw_blob, *only_alice.attachments.exclude(blob="").values_list("blob", flat=True)]
    assert names and all(blobs.exists(name) for name in names)  # the attachment is inside the raw message
    do_delete_mailbox(alice_bal, acting_user=None)
    assert not MessageCopy.objects.filter(mailbox_id=alice_bal.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert do_purge_orphan_messages() == 1
    assert not Message.objects.filter(pk=only_alice.pk).exists()
    assert Message.objects.filter(pk=kept.pk).exists()  # the secretariat still holds it
    assert not any(blobs.exists(name) for name in names)
