"""Encrypting the patient's documents: one data key per document, wrapped with the patient BAL's key.

The same hierarchy as messages (ADR 0007): master key -> patient BAL key -> document data key -> file
(streaming AEAD, constant memory) and file name (envelope). The wrap is bound to `document:<uuid>` and the
BAL id, so it opens for no other document and no message. Destroying the patient BAL's key (deletion of
the BAL) makes every document unreadable at once (ADR 0011 explains why not a transit wrap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from apps.crypto import envelope
from apps.crypto import keys as crypto_keys
from apps.crypto.stream import StreamEncryptor, TooLarge, iter_decrypted
from apps.mailboxes.keys import mailbox_key
from apps.messaging.store import blobs

DEFAULT_MAX_DOCUMENT_BYTES = 25 * 1024 * 1024


class DocumentTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Le document dépasse la taille maximale de {limit // (1024 * 1024)} Mo.")
        self.limit = limit


@dataclass(frozen=True)
class SealedFile:
    blob: str
    size: int
    sha256: str


def _key_id(document_id: object) -> str:
    return f"document:{document_id}"


def wrap_key(data_key: bytes, *, document_id: object, mailbox_id: int) -> bytes:
    version, key = mailbox_key(mailbox_id)
    return crypto_keys.wrap_data_key(
        data_key, key, message_id=_key_id(document_id), mailbox_id=mailbox_id, key_version=version
    )


def unwrap_key(document: Any, mailbox_id: int) -> bytes:
    _version, key = mailbox_key(mailbox_id, create=False)
    return crypto_keys.unwrap_data_key(
        bytes(document.data_key_wrap), key, message_id=_key_id(document.pk), mailbox_id=mailbox_id
    )


def seal_filename(data_key: bytes, document_id: object, filename: str) -> bytes:
    aad = envelope.aad_for("patient-document-filename", document=str(document_id))
    return envelope.seal(filename.encode("utf-8"), data_key, aad=aad)


def open_filename(data_key: bytes, document_id: object, blob: bytes | memoryview) -> str:
    aad = envelope.aad_for("patient-document-filename", document=str(document_id))
    return envelope.open_(bytes(blob), data_key, aad=aad).decode("utf-8")


def _stream_aad(document_id: object) -> bytes:
    return envelope.aad_for("patient-document", document=str(document_id))


def write_file(document_id: object, chunks: Iterable[bytes], data_key: bytes, *, limit: int) -> SealedFile:
    """Encrypt `chunks` into a new durable blob; the caller discards it if its transaction fails."""
    name = blobs.new_name()
    size = 0
    try:
        with blobs.writer(name) as handle:
            encryptor = StreamEncryptor(
                handle, data_key, aad=_stream_aad(document_id), max_plaintext_bytes=limit
            )
            for chunk in chunks:
                size += len(chunk)
                encryptor.write(chunk)
            result = encryptor.close()
    except TooLarge as exc:
        raise DocumentTooLarge(exc.limit) from None
    return SealedFile(name, size, result.sha256)


def read_file(document: Any, data_key: bytes) -> Iterator[bytes]:
    with blobs.open_blob(document.blob) as handle:
        yield from iter_decrypted(handle, data_key, aad=_stream_aad(document.pk))
