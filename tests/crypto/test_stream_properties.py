"""Property tests of apps.crypto.stream: any size, any segment size, any chunking, any truncation."""

from __future__ import annotations

import hashlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.crypto import keys
from apps.crypto.envelope import DecryptionError, aad_for
from apps.crypto.stream import StreamEncryptor, ciphertext_size, decrypt_stream, encrypt_stream

KEY = keys.new_data_key()
AAD = aad_for("attachment", message=1, part=1)
segment_sizes = st.sampled_from([16, 17, 64, 100, 4096])


@st.composite
def plaintexts_near_boundaries(draw):
    """Sizes a few bytes either side of 0..4 whole segments, where off-by-one errors live."""
    segment_size = draw(segment_sizes)
    size = max(0, draw(st.integers(0, 4)) * segment_size + draw(st.integers(-2, 2)))
    return segment_size, draw(st.binary(min_size=size, max_size=size))


def encrypt(plaintext: bytes, segment_size: int) -> bytes:
    dst = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), dst, KEY, aad=AAD, segment_size=segment_size)
    return dst.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plaintexts_near_boundaries())
def test_it_round_trips_any_size_near_segment_boundaries(case):
    segment_size, plaintext = case
    ciphertext = encrypt(plaintext, segment_size)
    assert len(ciphertext) == ciphertext_size(len(plaintext), segment_size)
    out = io.BytesIO()
    written, digest = decrypt_stream(io.BytesIO(ciphertext), out, KEY, aad=AAD)
    assert out.getvalue() == plaintext
    assert (written, digest) == (len(plaintext), hashlib.sha256(plaintext).hexdigest())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), segment_sizes, st.lists(st.integers(1, 97), min_size=1, max_size=20))
def test_it_produces_the_same_plaintext_whatever_the_write_chunking(plaintext, segment_size, cuts):
    dst = io.BytesIO()
    encryptor = StreamEncryptor(dst, KEY, aad=AAD, segment_size=segment_size)
    position, index = 0, 0
    while position < len(plaintext):
        step = cuts[index % len(cuts)]
        encryptor.write(plaintext[position : position + step])
        position, index = position + step, index + 1
    encryptor.close()
    assert len(dst.getvalue()) == ciphertext_size(len(plaintext), segment_size)
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(dst.getvalue()), out, KEY, aad=AAD)
    assert out.getvalue() == plaintext


@settings(max_examples=200, deadline=None)
@given(plaintexts_near_boundaries(), st.data())
def test_it_rejects_every_truncation(case, data):
    segment_size, plaintext = case
    ciphertext = encrypt(plaintext, segment_size)
    cut = data.draw(st.integers(0, len(ciphertext) - 1))
    try:
        decrypt_stream(io.BytesIO(ciphertext[:cut]), io.BytesIO(), KEY, aad=AAD)
    except DecryptionError:
        return
    raise AssertionError(f"truncation to {cut} of {len(ciphertext)} bytes went unnoticed")


@settings(max_examples=200, deadline=None)
@given(plaintexts_near_boundaries(), st.data())
def test_it_rejects_any_altered_byte(case, data):
    segment_size, plaintext = case
    ciphertext = bytearray(encrypt(plaintext, segment_size))
    position = data.draw(st.integers(0, len(ciphertext) - 1))
    ciphertext[position] ^= data.draw(st.integers(1, 255))
    try:
        decrypt_stream(io.BytesIO(bytes(ciphertext)), io.BytesIO(), KEY, aad=AAD)
    except DecryptionError:
        return
    raise AssertionError(f"a change at byte {position} went unnoticed")
