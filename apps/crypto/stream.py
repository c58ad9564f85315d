"""Streaming AEAD for attachments of any size in constant memory (the STREAM construction, as in Tink).

Format v1:
    header (29 bytes): b"S" | 0x01 | plaintext segment size (u32) | salt (16) | nonce prefix (7)
    segments:          AES-256-GCM(segment) || tag (16), each `segment size` bytes of plaintext except the
                       last, which holds 0..segment size bytes (0 only when the whole plaintext is empty)

The segment key is HKDF-SHA256(data key, salt, info = label | header | associated data): each stream gets
its own key, so one message's data key can encrypt its body and all its attachments without any nonce
reuse across them, and a changed header or associated data yields a key under which nothing opens.
Segment nonce = prefix (7) | segment index (u32) | last-segment flag (1 byte). Hence:
- reordered or swapped segments fail (the index is in the nonce); segments from another stream fail (key);
- truncation at a segment boundary fails (the new final segment was sealed with flag 0, is opened with 1);
- appended data fails (the real final segment is then opened with flag 0).

Memory: at most two encrypted segments are held at a time. Each segment is authenticated before its
plaintext is released, but completeness is only known once the final segment opens: `iter_decrypted`
raises DecryptionError at that point, after earlier segments were yielded. A streaming HTTP response then
breaks off and the download is visibly incomplete; `decrypt_stream` callers write to a temporary file and
discard it on error.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from apps.crypto.envelope import KEY_SIZE, TAG_SIZE, CryptoError, DecryptionError, check_key

MAGIC = b"S"
VERSION = 1
SALT_SIZE = 16
PREFIX_SIZE = 7
_HEADER = struct.Struct(">1sBI16s7s")
HEADER_SIZE = _HEADER.size
DEFAULT_SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 16
# Decryption reads the size from the header before it can authenticate anything: bound what it allocates.
MAX_SEGMENT_SIZE = 4 * 1024 * 1024
MAX_SEGMENTS = 2**32


class TooLarge(CryptoError):
    """The plaintext exceeds `max_plaintext_bytes`; whatever was written to `dst` must be discarded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"stream: plaintext exceeds the limit of {limit} bytes")
        self.limit = limit


class StreamResult(NamedTuple):
    bytes_written: int  # bytes written to dst: ciphertext when encrypting, plaintext when decrypting
    sha256: str  # hex SHA-256 of the plaintext (integrity reference, deduplication, audit)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


def ciphertext_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Exact size of the encrypted form of `plaintext_size` bytes (for quotas and Content-Length)."""
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


class _SegmentCipher:
    def __init__(self, data_key: bytes, header: bytes, aad: bytes) -> None:
        _magic, _version, self.segment_size, salt, self._prefix = _HEADER.unpack(header)
        info = b"mssante/v1/stream" + header + aad
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info)
        self._aead = AESGCM(hkdf.derive(check_key(data_key, "data key")))

    def _nonce(self, index: int, last: bool) -> bytes:
        if index >= MAX_SEGMENTS:
            raise CryptoError("stream: too many segments for one stream (2^32)")
        return self._prefix + struct.pack(">IB", index, 1 if last else 0)

    def seal(self, index: int, segment: bytes | memoryview, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), segment, None)

    def open(self, index: int, segment: bytes, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last), segment, None)
        except InvalidTag:
            where = "final segment" if last else "segment"
            raise DecryptionError(
                f"stream: {where} {index} failed authentication (wrong key or associated data, "
                "truncated, reordered or altered data)"
            ) from None


class StreamEncryptor:
    """Push-style encryption: `write()` plaintext as it comes (e.g. from a MIME decoder), then `close()`.

    Holds back at most one segment, since only `close()` tells which segment is the last.
    """

    def __init__(
        self,
        dst: Writable,
        data_key: bytes,
        *,
        aad: bytes,
        max_plaintext_bytes: int | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> None:
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment_size must be within {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}")
        header = _HEADER.pack(MAGIC, VERSION, segment_size, os.urandom(SALT_SIZE), os.urandom(PREFIX_SIZE))
        self._cipher = _SegmentCipher(data_key, header, aad)
        self._dst, self._limit, self._segment_size = dst, max_plaintext_bytes, segment_size
        self._buffer = bytearray()
        self._sha = hashlib.sha256()
        self._index = self._plaintext_bytes = self.bytes_written = 0
        self._closed = False
        self._out(header)

    def _out(self, data: bytes) -> None:
        self._dst.write(data)
        self.bytes_written += len(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = self._account(data)
        size, seg = len(chunk), self._segment_size
        if self._buffer:
            # Top up the held-back segment; once more data follows it, it is known not to be the last.
            take = min(len(chunk), seg - len(self._buffer))
            self._buffer += chunk[:take]
            chunk = chunk[take:]
            if not chunk:
                return size
            self._seal(bytes(self._buffer), last=False)
            self._buffer.clear()
        full = (len(chunk) - 1) // seg  # keep >= 1 byte back: it may belong to the final segment
        for start in range(0, full * seg, seg):
            self._seal(chunk[start : start + seg], last=False)
        self._buffer += chunk[full * seg :]
        return size

    def _account(self, data: bytes | bytearray | memoryview) -> memoryview:
        if self._closed:
            raise ValueError("stream: write after close")
        chunk = memoryview(data).cast("B")
        if self._limit is not None and self._plaintext_bytes + len(chunk) > self._limit:
            self._closed = True
            raise TooLarge(self._limit)
        self._plaintext_bytes += len(chunk)
        self._sha.update(chunk)
        return chunk

    def _seal(self, segment: bytes | memoryview, *, last: bool) -> None:
        self._out(self._cipher.seal(self._index, segment, last))
        self._index += 1

    def _write_middle_segment(self, segment: bytes) -> None:
        """Fast path of encrypt_stream, which reads ahead: a full segment known not to be the last."""
        if self._buffer or len(segment) != self._segment_size:
            raise RuntimeError("stream: a middle segment must be whole and follow no held-back data")
        self._account(segment)
        self._seal(segment, last=False)

    def close(self) -> StreamResult:
        """Seal the final segment (possibly empty) and return the totals."""
        if self._closed:
            raise ValueError("stream: already closed")
        self._closed = True
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        return StreamResult(self.bytes_written, self._sha.hexdigest())


def _read_exact(src: Readable, size: int) -> bytes:
    """Read `size` bytes, fewer only at end of stream (raw files and sockets may return short reads)."""
    first = src.read(size) or b""
    if len(first) == size or not first:
        return first
    parts = [first]
    missing = size - len(first)
    while missing:
        chunk = src.read(missing)
        if not chunk:
            break
        parts.append(chunk)
        missing -= len(chunk)
    return b"".join(parts)


def encrypt_stream(
    src: Readable,
    dst: Writable,
    data_key: bytes,
    *,
    aad: bytes,
    max_plaintext_bytes: int | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> StreamResult:
    """Encrypt `src` into `dst` segment by segment; returns (ciphertext bytes written, plaintext SHA-256)."""
    encryptor = StreamEncryptor(
        dst, data_key, aad=aad, max_plaintext_bytes=max_plaintext_bytes, segment_size=segment_size
    )
    # Read one segment ahead: a segment is sealed as soon as we know whether it is the last one.
    current = _read_exact(src, segment_size)
    while len(current) == segment_size:
        following = _read_exact(src, segment_size)
        if not following:
            break
        encryptor._write_middle_segment(current)
        current = following
    encryptor.write(current)
    return encryptor.close()


def _read_header(src: Readable) -> bytes:
    header = _read_exact(src, HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise DecryptionError(f"stream: truncated header ({len(header)} of {HEADER_SIZE} bytes)")
    magic, version, segment_size, _salt, _prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise DecryptionError("stream: not an encrypted stream (bad magic byte)")
    if version != VERSION:
        raise DecryptionError(f"stream: unsupported format version {version}")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise DecryptionError(f"stream: invalid segment size {segment_size} in header")
    return header


def iter_decrypted(
    src: Readable, data_key: bytes, *, aad: bytes, max_plaintext_bytes: int | None = None
) -> Iterator[bytes]:
    """Yield authenticated plaintext segments (for StreamingHttpResponse); raises at the first bad one."""
    header = _read_header(src)
    cipher = _SegmentCipher(data_key, header, aad)
    encrypted_size = cipher.segment_size + TAG_SIZE
    current = _read_exact(src, encrypted_size)
    if not current:
        raise DecryptionError("stream: truncated (no segment after the header)")
    index = total = 0
    while True:
        # A short segment can only be the final one; a full one is final when nothing follows it.
        following = _read_exact(src, encrypted_size) if len(current) == encrypted_size else b""
        plaintext = cipher.open(index, current, last=not following)
        total += len(plaintext)
        if max_plaintext_bytes is not None and total > max_plaintext_bytes:
            raise TooLarge(max_plaintext_bytes)
        yield plaintext
        if not following:
            return
        current, index = following, index + 1


def decrypt_stream(
    src: Readable, dst: Writable, data_key: bytes, *, aad: bytes, max_plaintext_bytes: int | None = None
) -> StreamResult:
    """Decrypt `src` into `dst`; returns (plaintext bytes written, plaintext SHA-256)."""
    sha = hashlib.sha256()
    written = 0
    for plaintext in iter_decrypted(src, data_key, aad=aad, max_plaintext_bytes=max_plaintext_bytes):
        dst.write(plaintext)
        sha.update(plaintext)
        written += len(plaintext)
    return StreamResult(written, sha.hexdigest())
