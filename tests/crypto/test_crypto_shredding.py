"""The later messaging model, played with plain dicts: one stored message, one data-key wrap per BAL copy.

Deleting a copy deletes its wrap; destroying a BAL key (inactivity deletion) makes every wrap it made
unreadable, even from a backup of the wraps, while co-recipients keep reading the same stored message.
"""

from __future__ import annotations

import io
import os

import pytest

from apps.crypto import keys
from apps.crypto.envelope import DecryptionError, aad_for, open_, seal
from apps.crypto.keys import MasterKeyRing
from apps.crypto.stream import decrypt_stream, encrypt_stream

RING = MasterKeyRing.parse(keys.generate_master_key_entry("m1"))
BODY = "Résultats de biopsie : pas de cellule maligne.".encode()
ATTACHMENT = os.urandom(200_000)
MESSAGE_ID = 5001


def new_store(mailbox_ids: list[int]) -> dict:
    store: dict = {"mailbox_keys": {}, "messages": {}, "copies": {}}
    for mailbox_id in mailbox_ids:
        store["mailbox_keys"][mailbox_id] = keys.wrap_mailbox_key(
            keys.new_mailbox_key(), mailbox_id=mailbox_id, ring=RING
        )
    return store


def deliver(store: dict, message_id: int, mailbox_ids: list[int]) -> None:
    """Store the content once, encrypted with a fresh data key, and one wrap of that key per BAL."""
    data_key = keys.new_data_key()
    attachment = io.BytesIO()
    attachment_aad = aad_for("attachment", message=message_id)
    encrypt_stream(io.BytesIO(ATTACHMENT), attachment, data_key, aad=attachment_aad)
    store["messages"][message_id] = {
        "body": seal(BODY, data_key, aad=aad_for("body", message=message_id)),
        "attachment": attachment.getvalue(),
    }
    for mailbox_id in mailbox_ids:
        bal_key = keys.unwrap_mailbox_key(store["mailbox_keys"][mailbox_id], mailbox_id=mailbox_id, ring=RING)
        store["copies"][(message_id, mailbox_id)] = keys.wrap_data_key(
            data_key, bal_key, message_id=message_id, mailbox_id=mailbox_id
        )


def read(store: dict, message_id: int, mailbox_id: int, *, wrap: bytes | None = None) -> tuple[bytes, bytes]:
    if mailbox_id not in store["mailbox_keys"]:
        raise DecryptionError("BAL key destroyed")
    if wrap is None and (message_id, mailbox_id) not in store["copies"]:
        raise DecryptionError("no copy of this message in this BAL")
    bal_key = keys.unwrap_mailbox_key(store["mailbox_keys"][mailbox_id], mailbox_id=mailbox_id, ring=RING)
    wrap = wrap or store["copies"][(message_id, mailbox_id)]
    data_key = keys.unwrap_data_key(wrap, bal_key, message_id=message_id, mailbox_id=mailbox_id)
    message = store["messages"][message_id]
    body = open_(message["body"], data_key, aad=aad_for("body", message=message_id))
    attachment = io.BytesIO()
    decrypt_stream(
        io.BytesIO(message["attachment"]), attachment, data_key, aad=aad_for("attachment", message=message_id)
    )
    return body, attachment.getvalue()


def test_it_lets_every_recipient_bal_read_the_single_stored_copy():
    store = new_store([1, 2, 3])
    deliver(store, MESSAGE_ID, [1, 2])
    assert read(store, MESSAGE_ID, 1) == (BODY, ATTACHMENT)
    assert read(store, MESSAGE_ID, 2) == (BODY, ATTACHMENT)
    assert len(store["messages"]) == 1
    with pytest.raises(DecryptionError, match="no copy"):
        read(store, MESSAGE_ID, 3)


def test_it_stops_a_bal_whose_copy_was_deleted_while_a_co_recipient_still_reads():
    store = new_store([1, 2])
    deliver(store, MESSAGE_ID, [1, 2])
    del store["copies"][(MESSAGE_ID, 1)]
    with pytest.raises(DecryptionError):
        read(store, MESSAGE_ID, 1)
    assert read(store, MESSAGE_ID, 2) == (BODY, ATTACHMENT)


def test_it_shreds_a_destroyed_bal_key_even_from_a_backup_of_its_wraps():
    store = new_store([1, 2, 3])
    deliver(store, MESSAGE_ID, [1, 2])
    deliver(store, MESSAGE_ID + 1, [1])
    backup_of_wraps = dict(store["copies"])
    leaked_bal_key_wrap = store["mailbox_keys"][1]

    del store["mailbox_keys"][1]  # inactivity deletion destroys the BAL key; its copies stay until purged
    for message_id in (MESSAGE_ID, MESSAGE_ID + 1):
        with pytest.raises(DecryptionError):
            read(store, message_id, 1, wrap=backup_of_wraps[(message_id, 1)])
    assert read(store, MESSAGE_ID, 2) == (BODY, ATTACHMENT)

    # A fresh key given to a re-created BAL with the same id cannot open the old wraps either.
    store["mailbox_keys"][1] = keys.wrap_mailbox_key(keys.new_mailbox_key(), mailbox_id=1, ring=RING)
    with pytest.raises(DecryptionError, match="authentication failed"):
        read(store, MESSAGE_ID, 1, wrap=backup_of_wraps[(MESSAGE_ID, 1)])
    # Honest limit (see the ADR): while its master key lives, a backup of the old BAL key wrap still opens.
    store["mailbox_keys"][1] = leaked_bal_key_wrap
    assert read(store, MESSAGE_ID, 1, wrap=backup_of_wraps[(MESSAGE_ID, 1)]) == (BODY, ATTACHMENT)


def test_it_refuses_a_wrap_copied_from_one_bal_to_another():
    store = new_store([1, 2, 3])
    deliver(store, MESSAGE_ID, [1, 2])
    stolen = store["copies"][(MESSAGE_ID, 1)]
    with pytest.raises(DecryptionError, match="moved to another copy|authentication failed"):
        read(store, MESSAGE_ID, 3, wrap=stolen)
    with pytest.raises(DecryptionError):
        read(store, MESSAGE_ID, 2, wrap=stolen)


def test_it_refuses_a_wrap_pointed_at_another_message():
    store = new_store([1])
    deliver(store, MESSAGE_ID, [1])
    deliver(store, MESSAGE_ID + 1, [1])
    with pytest.raises(DecryptionError):
        read(store, MESSAGE_ID + 1, 1, wrap=store["copies"][(MESSAGE_ID, 1)])
