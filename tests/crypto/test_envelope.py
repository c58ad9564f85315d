"""apps.crypto.envelope: AES-256-GCM envelopes bound to their object by associated data."""

from __future__ import annotations

import pytest

from apps.crypto import keys
from apps.crypto.envelope import OVERHEAD, DecryptionError, aad_for, open_, seal

BODY = "Compte rendu opératoire de Mme Durand : cholécystectomie sans complication.".encode()


def test_it_round_trips_a_body(data_key):
    aad = aad_for("body", message=42)
    blob = seal(BODY, data_key, aad=aad)
    assert open_(blob, data_key, aad=aad) == BODY
    assert len(blob) == len(BODY) + OVERHEAD
    assert BODY not in blob


def test_it_round_trips_empty_and_large_plaintexts(data_key):
    aad = aad_for("body", message=1)
    for plaintext in (b"", bytes(range(256)) * 4000):
        assert open_(seal(plaintext, data_key, aad=aad), data_key, aad=aad) == plaintext


def test_it_uses_a_fresh_nonce_each_time(data_key):
    aad = aad_for("subject", message=7)
    assert seal(BODY, data_key, aad=aad) != seal(BODY, data_key, aad=aad)


def test_it_refuses_another_data_key(data_key):
    blob = seal(BODY, data_key, aad=aad_for("body", message=42))
    with pytest.raises(DecryptionError, match="authentication failed"):
        open_(blob, keys.new_data_key(), aad=aad_for("body", message=42))


@pytest.mark.parametrize(
    "other_aad",
    [aad_for("body", message=43), aad_for("subject", message=42), aad_for("body", message=42, part=1), b""],
)
def test_it_refuses_a_blob_moved_to_another_object_or_field(data_key, other_aad):
    blob = seal(BODY, data_key, aad=aad_for("body", message=42))
    with pytest.raises(DecryptionError):
        open_(blob, data_key, aad=other_aad)


def test_it_detects_every_single_bit_flip(data_key):
    aad = aad_for("snippet", message=5)
    blob = seal(b"Resultats HbA1c 7,2 %", data_key, aad=aad)
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            altered = bytearray(blob)
            altered[position] ^= bit
            with pytest.raises(DecryptionError):
                open_(bytes(altered), data_key, aad=aad)


def test_it_refuses_truncated_blobs(data_key):
    aad = aad_for("body", message=9)
    blob = seal(BODY, data_key, aad=aad)
    for cut in (0, 1, OVERHEAD - 1, OVERHEAD, len(blob) - 1):
        with pytest.raises(DecryptionError):
            open_(blob[:cut], data_key, aad=aad)


def test_it_names_format_problems_in_english_without_plaintext(data_key):
    aad = aad_for("body", message=9)
    blob = seal(BODY, data_key, aad=aad)
    with pytest.raises(DecryptionError, match="unsupported format version 2"):
        open_(blob[:1] + b"\x02" + blob[2:], data_key, aad=aad)
    with pytest.raises(DecryptionError, match="bad magic") as caught:
        open_(b"X" + blob[1:], data_key, aad=aad)
    with pytest.raises(DecryptionError, match="too short"):
        open_(b"E\x01", data_key, aad=aad)
    assert "Durand" not in str(caught.value)


def test_it_refuses_keys_that_are_not_aes_256(data_key):
    with pytest.raises(ValueError, match="32 bytes"):
        seal(BODY, data_key[:16], aad=b"x")
    with pytest.raises(TypeError):
        seal(BODY, data_key.hex(), aad=b"x")  # type: ignore[arg-type]


def test_it_builds_unambiguous_associated_data():
    assert aad_for("body", message="1", part="23") != aad_for("body", message="12", part="3")
    assert aad_for("ab", c="d") != aad_for("a", bc="d")
    assert aad_for("a", x="1") != aad_for("a", y="1")
    assert aad_for("body", message=42) == aad_for("body", message="42")
    with pytest.raises(ValueError, match="must not be empty"):
        aad_for("body", message="")
    with pytest.raises(ValueError, match="must not be empty"):
        aad_for("body", message=None)
