"""A BAL's key and system folders are made on first use and cached per process: never from a transaction
that rolled back (a cached key the database never kept would make copies no other process can open)."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.crypto import keys as crypto_keys
from apps.mailboxes.keys import mailbox_key
from apps.mailboxes.models import MailboxKey
from apps.messaging.models import Folder, FolderRole
from apps.messaging.store.folders import system_folder_id

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def _stored_key(mailbox_id: int) -> bytes:
    row = MailboxKey.objects.get(mailbox_id=mailbox_id)
    return crypto_keys.unwrap_mailbox_key(bytes(row.wrapped), mailbox_id=mailbox_id)


def test_a_key_created_in_a_rolled_back_transaction_is_not_served_afterwards(cardio_bal):
    MailboxKey.objects.filter(mailbox_id=cardio_bal.pk).delete()
    with pytest.raises(Rollback), transaction.atomic():
        lost = mailbox_key(cardio_bal.pk)[1]
        assert mailbox_key(cardio_bal.pk)[1] == lost  # the same key within its transaction
        raise Rollback
    assert not MailboxKey.objects.filter(mailbox_id=cardio_bal.pk).exists()

    _version, key = mailbox_key(cardio_bal.pk)

    assert key != lost and key == _stored_key(cardio_bal.pk)
    assert mailbox_key(cardio_bal.pk)[1] == key  # and from now on cached


def test_a_key_created_in_a_committed_transaction_is_cached_once_committed(cardio_bal):
    MailboxKey.objects.filter(mailbox_id=cardio_bal.pk).delete()
    with transaction.atomic():
        made = mailbox_key(cardio_bal.pk)[1]
    MailboxKey.objects.filter(mailbox_id=cardio_bal.pk).update(version=1)  # untouched row
    assert mailbox_key(cardio_bal.pk)[1] == made == _stored_key(cardio_bal.pk)


def test_a_folder_created_in_a_rolled_back_transaction_is_not_served_afterwards(cardio_bal):
    Folder.objects.filter(mailbox_id=cardio_bal.pk).delete()
    with pytest.raises(Rollback), transaction.atomic():
        lost = system_folder_id(cardio_bal.pk, FolderRole.INBOX)
        raise Rollback
    assert not Folder.objects.filter(pk=lost).exists()

    kept = system_folder_id(cardio_bal.pk, FolderRole.INBOX)

    assert Folder.objects.filter(pk=kept, mailbox_id=cardio_bal.pk, role=FolderRole.INBOX).exists()
    assert system_folder_id(cardio_bal.pk, FolderRole.INBOX) == kept
