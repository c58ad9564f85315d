"""apps.crypto.stream: segmented AES-GCM (STREAM) for attachments, and its tamper detection."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from apps.crypto import keys
from apps.crypto.envelope import DecryptionError, aad_for
from apps.crypto.stream import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    StreamEncryptor,
    TooLarge,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    iter_decrypted,
)

AAD = aad_for("attachment", message=42, part=1)
SEG = 32  # small segments so a few hundred bytes span many of them
ENC_SEG = SEG + 16


def encrypt(plaintext: bytes, key: bytes, *, aad: bytes = AAD, segment_size: int = SEG) -> bytes:
    dst = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), dst, key, aad=aad, segment_size=segment_size)
    return dst.getvalue()


def decrypt(ciphertext: bytes, key: bytes, *, aad: bytes = AAD) -> bytes:
    dst = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), dst, key, aad=aad)
    return dst.getvalue()


def split(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    body = ciphertext[HEADER_SIZE:]
    return ciphertext[:HEADER_SIZE], [body[i : i + ENC_SEG] for i in range(0, len(body), ENC_SEG)]


class TrickleReader(io.RawIOBase):
    """A source that returns at most 5 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(5, len(buffer), len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def test_it_round_trips_with_the_default_segment_size(data_key):
    plaintext = os.urandom(3 * DEFAULT_SEGMENT_SIZE + 1234)
    src, dst = io.BytesIO(plaintext), io.BytesIO()
    written, digest = encrypt_stream(src, dst, data_key, aad=AAD)
    assert written == len(dst.getvalue()) == ciphertext_size(len(plaintext))
    out = io.BytesIO()
    result = decrypt_stream(io.BytesIO(dst.getvalue()), out, data_key, aad=AAD)
    assert out.getvalue() == plaintext
    assert result == (len(plaintext), digest)
    assert digest == hashlib.sha256(plaintext).hexdigest()


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 5 * SEG + 7])
def test_it_round_trips_sizes_around_segment_boundaries(data_key, size):
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext, data_key)
    assert len(ciphertext) == ciphertext_size(size, SEG)
    assert decrypt(ciphertext, data_key) == plaintext


def test_it_copes_with_short_reads(data_key):
    plaintext = os.urandom(10 * SEG + 3)
    dst = io.BytesIO()
    encrypt_stream(TrickleReader(plaintext), dst, data_key, aad=AAD, segment_size=SEG)
    out = io.BytesIO()
    decrypt_stream(TrickleReader(dst.getvalue()), out, data_key, aad=AAD)
    assert out.getvalue() == plaintext


def test_it_yields_plaintext_segment_by_segment(data_key):
    plaintext = os.urandom(3 * SEG + 5)
    chunks = list(iter_decrypted(io.BytesIO(encrypt(plaintext, data_key)), data_key, aad=AAD))
    assert [len(chunk) for chunk in chunks] == [SEG, SEG, SEG, 5]
    assert b"".join(chunks) == plaintext


def test_it_encrypts_pushed_chunks_like_a_pulled_stream(data_key):
    plaintext = os.urandom(7 * SEG + 11)
    dst = io.BytesIO()
    encryptor = StreamEncryptor(dst, data_key, aad=AAD, segment_size=SEG)
    for start in range(0, len(plaintext), 13):
        encryptor.write(memoryview(plaintext)[start : start + 13])
    result = encryptor.close()
    assert result.bytes_written == len(dst.getvalue()) == ciphertext_size(len(plaintext), SEG)
    assert decrypt(dst.getvalue(), data_key) == plaintext
    with pytest.raises(ValueError, match="write after close"):
        encryptor.write(b"more")


def test_it_refuses_another_key_or_associated_data(data_key):
    ciphertext = encrypt(b"ordonnance " * 20, data_key)
    with pytest.raises(DecryptionError, match="segment 0 failed authentication"):
        decrypt(ciphertext, keys.new_data_key())
    for other in (aad_for("attachment", message=43, part=1), aad_for("attachment", message=42, part=2)):
        with pytest.raises(DecryptionError):
            decrypt(ciphertext, data_key, aad=other)


def test_it_detects_truncation_at_every_length(data_key):
    ciphertext = encrypt(os.urandom(4 * SEG + 9), data_key)
    for cut in range(len(ciphertext)):
        with pytest.raises(DecryptionError):
            decrypt(ciphertext[:cut], data_key)


def test_it_detects_dropping_the_final_segment_at_a_boundary(data_key):
    header, segments = split(encrypt(os.urandom(4 * SEG), data_key))
    assert len(segments) == 4
    with pytest.raises(DecryptionError, match="final segment 2 failed"):
        decrypt(header + b"".join(segments[:3]), data_key)


def test_it_detects_reordered_duplicated_and_appended_segments(data_key):
    header, segments = split(encrypt(os.urandom(4 * SEG + 3), data_key))
    forgeries = [
        [segments[1], segments[0], *segments[2:]],
        [segments[0], segments[0], *segments[2:]],
        [*segments[:2], segments[3], segments[2], segments[4]],
        [*segments, segments[-1]],
        [*segments, os.urandom(ENC_SEG)],
    ]
    for forged in forgeries:
        with pytest.raises(DecryptionError):
            decrypt(header + b"".join(forged), data_key)


def test_it_detects_segments_swapped_between_two_streams_of_one_key(data_key):
    first, second = encrypt(os.urandom(3 * SEG), data_key), encrypt(os.urandom(3 * SEG), data_key)
    header, segments = split(first)
    _, others = split(second)
    with pytest.raises(DecryptionError):
        decrypt(header + segments[0] + others[1] + segments[2], data_key)


def test_it_detects_every_single_bit_flip(data_key):
    ciphertext = encrypt(os.urandom(2 * SEG + 5), data_key)
    for position in range(len(ciphertext)):
        altered = bytearray(ciphertext)
        altered[position] ^= 1 << (position % 8)
        with pytest.raises(DecryptionError):
            decrypt(bytes(altered), data_key)


def test_it_explains_format_errors(data_key):
    ciphertext = encrypt(b"x", data_key)
    with pytest.raises(DecryptionError, match="truncated header"):
        decrypt(ciphertext[:10], data_key)
    with pytest.raises(DecryptionError, match="no segment after the header"):
        decrypt(ciphertext[:HEADER_SIZE], data_key)
    with pytest.raises(DecryptionError, match="bad magic"):
        decrypt(b"E" + ciphertext[1:], data_key)
    with pytest.raises(DecryptionError, match="unsupported format version 9"):
        decrypt(ciphertext[:1] + b"\x09" + ciphertext[2:], data_key)
    huge = ciphertext[:2] + (2**31).to_bytes(4, "big") + ciphertext[6:]
    with pytest.raises(DecryptionError, match="invalid segment size"):
        decrypt(huge, data_key)


def test_it_stops_encrypting_beyond_the_size_limit(data_key):
    with pytest.raises(TooLarge, match="exceeds the limit of 100 bytes") as caught:
        encrypt_stream(io.BytesIO(os.urandom(101)), io.BytesIO(), data_key, aad=AAD, max_plaintext_bytes=100)
    assert caught.value.limit == 100
    dst = io.BytesIO()
    encrypt_stream(io.BytesIO(os.urandom(100)), dst, data_key, aad=AAD, max_plaintext_bytes=100)
    assert len(decrypt(dst.getvalue(), data_key)) == 100


def test_it_stops_decrypting_beyond_the_size_limit(data_key):
    ciphertext = encrypt(os.urandom(5 * SEG), data_key)
    chunks = iter_decrypted(io.BytesIO(ciphertext), data_key, aad=AAD, max_plaintext_bytes=2 * SEG + 1)
    assert len(next(chunks)) == SEG
    assert len(next(chunks)) == SEG
    with pytest.raises(TooLarge):
        next(chunks)
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, data_key, aad=AAD, max_plaintext_bytes=5 * SEG)
    assert len(out.getvalue()) == 5 * SEG


def test_it_refuses_segment_sizes_out_of_bounds(data_key):
    with pytest.raises(ValueError, match="segment_size"):
        StreamEncryptor(io.BytesIO(), data_key, aad=AAD, segment_size=8)
