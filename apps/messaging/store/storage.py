"""Writing and reading a message's encrypted streams: attachments and the raw MIME message.

Every write streams through `StreamEncryptor` into a durable blob (apps.messaging.store.blobs), so an
attachment of 25 MB costs two 64 KiB segments of memory. Blobs written for a transaction that then fails
are removed by the caller (`discard`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from apps.crypto.stream import StreamEncryptor, TooLarge, iter_decrypted
from apps.messaging.store import blobs
from apps.messaging.store.content import stream_aad
from apps.messaging.store.mime import PartSource, WrittenPart, base64_slice, write_message


class MessageTooLarge(Exception):
    """The encoded message exceeds MESSAGE_MAX_BYTES; `message` is French, for the sender."""

    def __init__(self, limit: int) -> None:
        megabytes = limit / (1024 * 1024)
        super().__init__(
            f"Le message dépasse la taille maximale autorisée ({megabytes:.0f} Mo, pièces jointes encodées "
            "comprises). Réduisez ou retirez des pièces jointes."
        )
        self.limit = limit


@dataclass(frozen=True)
class StoredStream:
    blob: str
    size: int  # plaintext bytes
    sha256: str


class _Counting:
    """A writable that encrypts and counts plaintext bytes."""

    def __init__(self, encryptor: StreamEncryptor) -> None:
        self.encryptor = encryptor
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.encryptor.write(data)
        return len(data)


def write_stream(
    message_id: object, part: str, chunks: Iterable[bytes], data_key: bytes, *, limit: int | None = None
) -> StoredStream:
    name = blobs.new_name()
    try:
        with blobs.writer(name) as handle:
            counting = _Counting(
                StreamEncryptor(handle, data_key, aad=stream_aad(message_id, part), max_plaintext_bytes=limit)
            )
            for chunk in chunks:
                counting.write(chunk)
            result = counting.encryptor.close()
    except TooLarge as exc:
        raise MessageTooLarge(exc.limit) from None
    return StoredStream(name, counting.size, result.sha256)


def write_raw_message(
    message_id: object,
    data_key: bytes,
    *,
    limit: int,
    headers: list[tuple[str, str]],
    text: str,
    html: str | None,
    attachments: list[PartSource],
) -> tuple[StoredStream, list[WrittenPart]]:
    """The raw message, attachments included (stored once: `read_attachment` reads them back from it)."""
    name = blobs.new_name()
    try:
        with blobs.writer(name) as handle:
            encryptor = StreamEncryptor(
                handle, data_key, aad=stream_aad(message_id, "raw"), max_plaintext_bytes=limit
            )
            counting = _Counting(encryptor)
            parts = write_message(counting, headers=headers, text=text, html=html, attachments=attachments)
            result = encryptor.close()
    except TooLarge as exc:
        raise MessageTooLarge(exc.limit) from None
    return StoredStream(name, counting.size, result.sha256), parts


def read_stream(message_id: object, part: str, blob: str, data_key: bytes) -> Iterator[bytes]:
    """Authenticated plaintext chunks of a stored stream (for downloads and re-sending)."""
    with blobs.open_blob(blob) as handle:
        yield from iter_decrypted(handle, data_key, aad=stream_aad(message_id, part))


def read_attachment(
    message_id: object, position: int, blob: str, raw: tuple[str, int, int] | None, data_key: bytes
) -> Iterator[bytes]:
    """An attachment's plaintext: its own stream (received mail), or its base64 body sliced from the raw
    message (submitted mail: `raw` = (raw blob, start, end))."""
    if blob or raw is None:
        return read_stream(message_id, f"attachment-{position}", blob, data_key)
    raw_blob, start, end = raw
    return base64_slice(read_stream(message_id, "raw", raw_blob, data_key), start, end)


def sha256_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def discard(streams: Iterable[StoredStream | Any]) -> None:
    """Undo writes no committed row names (a failed transaction)."""
    for stream in streams:
        blobs.delete_blob(getattr(stream, "blob", ""))


def release(names: Iterable[str]) -> None:
    """Blobs whose rows were deleted and committed: see `blobs.release_blob` (grace for backups)."""
    for name in names:
        blobs.release_blob(name)
