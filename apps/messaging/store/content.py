"""Sealing and opening a message's content with its data key (docs/decisions/0007 and 0008).

Each field is an envelope bound to the message id and the field name, so a subject pasted over another
message's body fails to open. The data key is reached through a copy (the BAL's wrap) or, for workers,
through the transit wrap that lives while deliveries are pending.
"""

from __future__ import annotations

import json
from typing import Any

from apps.crypto import envelope
from apps.crypto import keys as crypto_keys
from apps.mailboxes.keys import mailbox_key

TRANSIT_PURPOSE = "delivery"


def seal_text(data_key: bytes, message_id: object, field: str, text: str) -> bytes:
    aad = envelope.aad_for(f"message-{field}", message=str(message_id))
    return envelope.seal(text.encode("utf-8"), data_key, aad=aad)


def open_text(data_key: bytes, message_id: object, field: str, blob: bytes | memoryview | None) -> str:
    if blob is None:
        return ""
    aad = envelope.aad_for(f"message-{field}", message=str(message_id))
    return envelope.open_(bytes(blob), data_key, aad=aad).decode("utf-8")


def seal_json(data_key: bytes, message_id: object, field: str, value: Any) -> bytes:
    return seal_text(data_key, message_id, field, json.dumps(value, ensure_ascii=False))


def open_json(data_key: bytes, message_id: object, field: str, blob: bytes | memoryview | None) -> Any:
    text = open_text(data_key, message_id, field, blob)
    return json.loads(text) if text else None


def wrap_for_mailbox(data_key: bytes, message_id: object, mailbox_id: int) -> bytes:
    version, key = mailbox_key(mailbox_id)
    return crypto_keys.wrap_data_key(
        data_key, key, message_id=str(message_id), mailbox_id=mailbox_id, key_version=version
    )


def data_key_of_copy(copy: Any) -> bytes:
    """The data key through a BAL's copy; raises DecryptionError once the BAL's key is destroyed."""
    _version, key = mailbox_key(copy.mailbox_id, create=False)
    return crypto_keys.unwrap_data_key(
        bytes(copy.data_key_wrap), key, message_id=str(copy.message_id), mailbox_id=copy.mailbox_id
    )


def wrap_transit(data_key: bytes, message_id: object) -> bytes:
    return crypto_keys.wrap_transit_key(data_key, purpose=TRANSIT_PURPOSE, object_id=str(message_id))


def data_key_in_transit(message: Any) -> bytes:
    if message.transit_key_wrap is None:
        raise crypto_keys.DecryptionError(f"message {message.pk}: no transit key (nothing pending)")
    return crypto_keys.unwrap_transit_key(
        bytes(message.transit_key_wrap), purpose=TRANSIT_PURPOSE, object_id=str(message.pk)
    )


def stream_aad(message_id: object, part: str) -> bytes:
    return envelope.aad_for("message-stream", message=str(message_id), part=part)
