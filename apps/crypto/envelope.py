"""AES-256-GCM envelopes for small blobs (message bodies, subjects, snippets): `seal` and `open_`.

Format v1 (30 bytes of overhead):  b"E" | 0x01 | nonce (12 random bytes) | ciphertext | tag (16 bytes)

The two header bytes are authenticated with the caller's associated data, so a blob cannot be re-labelled as
another format or version. The associated data must name the object the blob belongs to (use `aad_for`):
a ciphertext copied onto another row, or another field of the same row, then fails to open instead of
showing one patient's text in another patient's message.

Random 96-bit nonces are safe up to about 2^32 envelopes under one key (NIST SP 800-38D); a data key seals
a handful of fields of one message, so the bound is never approached. Attachments of any size go through
`apps.crypto.stream` instead: this module holds the whole plaintext in memory.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE = 32  # AES-256 everywhere: data keys, BAL keys and master keys
NONCE_SIZE = 12
TAG_SIZE = 16
MAGIC = b"E"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
OVERHEAD = len(HEADER) + NONCE_SIZE + TAG_SIZE


class CryptoError(Exception):
    """Base class of every error of apps.crypto. Messages are English, for logs, and never hold secrets."""


class DecryptionError(CryptoError):
    """A blob cannot be opened: wrong key, wrong associated data, unknown format, or altered/truncated data.

    The cases are deliberately not told apart beyond the format checks: to an attacker a wrong key and a
    forged blob must look the same, and to an operator both mean "this copy cannot be read".
    """


def aad_for(purpose: str, **ids: object) -> bytes:
    """Canonical associated data: a purpose label plus named ids, length-prefixed so no two inputs collide.

    `aad_for("body", message=42)` and `aad_for("attachment", message=42, part=3)`. Values are turned into
    text with `str()` (ints, UUIDs and strings all work); an empty id is refused because it would let the
    blobs of every unsaved object open for each other.
    """
    if not purpose:
        raise ValueError("aad_for: purpose must not be empty")
    out = bytearray(b"mssante/v1/")
    out += _length_prefixed(purpose.encode())
    for name, value in ids.items():
        text = "" if value is None else str(value)
        if not text:
            raise ValueError(f"aad_for: id {name!r} must not be empty")
        out += _length_prefixed(name.encode()) + _length_prefixed(text.encode())
    return bytes(out)


def _length_prefixed(part: bytes) -> bytes:
    return struct.pack(">I", len(part)) + part


def check_key(key: bytes, what: str = "key") -> bytes:
    """Refuse anything but 32 bytes, naming the key's role (never its value)."""
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"{what} must be bytes, not {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes (AES-256), got {len(key)}")
    return bytes(key)


def seal(plaintext: bytes, data_key: bytes, *, aad: bytes) -> bytes:
    """Encrypt and authenticate `plaintext`; `aad` binds the result to its object (see `aad_for`)."""
    aead = AESGCM(check_key(data_key, "data key"))
    nonce = os.urandom(NONCE_SIZE)
    return HEADER + nonce + aead.encrypt(nonce, plaintext, HEADER + aad)


def open_(blob: bytes, data_key: bytes, *, aad: bytes) -> bytes:
    """Return the plaintext of a `seal`ed blob, or raise DecryptionError."""
    aead = AESGCM(check_key(data_key, "data key"))
    if len(blob) < OVERHEAD:
        raise DecryptionError(f"envelope: blob too short ({len(blob)} bytes, at least {OVERHEAD} expected)")
    header = bytes(blob[: len(HEADER)])
    if header[:1] != MAGIC:
        raise DecryptionError("envelope: not a sealed envelope (bad magic byte)")
    if header != HEADER:
        raise DecryptionError(f"envelope: unsupported format version {header[1]}")
    nonce = blob[len(HEADER) : len(HEADER) + NONCE_SIZE]
    try:
        return aead.decrypt(nonce, blob[len(HEADER) + NONCE_SIZE :], HEADER + aad)
    except InvalidTag:
        raise DecryptionError(
            "envelope: authentication failed (wrong data key, wrong associated data, or altered blob)"
        ) from None
