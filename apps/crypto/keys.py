"""Key hierarchy of encryption at rest (docs/decisions/0007-encryption-at-rest.md).

    master key (environment, never in the database)
      └─ wraps each BAL key           wrap_mailbox_key / unwrap_mailbox_key / rewrap_mailbox_key
           └─ wraps each message's data key, once per BAL holding a copy   wrap_data_key / unwrap_data_key
                └─ seals the body, subject, snippet (envelope) and attachments (stream)

Master keys: `MASTER_KEYS="kid1:base64,kid0:base64"` (first = current, others still readable, for
rotation), or the single-key form `MASTER_KEY` / `MASTER_KEY_FILE` ("kid:base64" or bare base64). Django
settings of the same names win over the environment. Without any, only `make run` (settings.DEV) and tests
(settings.TESTING) fall back to a fixed, public, insecure key; anything else refuses to start encrypting.

Wrap formats (AES-256-GCM; AES-KW has no associated data, and binding every wrap to its owner is the point):
    BAL key wrap  v1: b"M" | 0x01 | len(kid) | kid | nonce (12) | wrapped key (32) | tag (16)
                      associated data = header + aad_for("mailbox-key", mailbox=id)
    data key wrap v1: b"D" | 0x01 | BAL key version (u32) | nonce (12) | wrapped key (32) | tag (16)
                      associated data = header + aad_for("data-key", message=id, mailbox=id)
A wrap copied to another BAL or another message fails to open. Random nonces stay far below the 2^32
wraps-per-key bound: one master key wraps one key per BAL, one BAL key one data key per copy it holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import struct
from collections.abc import Iterable
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from apps.crypto.envelope import (
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    CryptoError,
    DecryptionError,
    aad_for,
    check_key,
)

logger = logging.getLogger(__name__)

KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
MAILBOX_WRAP_MAGIC = b"M\x01"
DATA_WRAP_MAGIC = b"D\x01"
_DATA_WRAP_HEADER = struct.Struct(">2sI")
_WRAPPED_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE
# Public on purpose: anyone can rebuild it, which is why only DEV and TESTING may use it.
DEV_KID = "dev-insecure"
DEV_MASTER_KEY = hashlib.sha256(b"mssante dev-only master key: public, never protects real data").digest()


class MasterKeyError(CryptoError):
    """The master key configuration is missing or malformed (the message names the variable, not the key)."""


class MasterKeyRing:
    """The master keys this process knows: `current()` wraps, `get(kid)` unwraps (current or retired)."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._keys: dict[str, bytes] = {}
        for kid, key in keys:
            if not KID_RE.match(kid):
                raise MasterKeyError(f"master key id {kid!r} must match {KID_RE.pattern}")
            if kid in self._keys:
                raise MasterKeyError(f"master key id {kid!r} appears twice")
            self._keys[kid] = check_key(key, f"master key {kid!r}")
        if not self._keys:
            raise MasterKeyError("a master key ring needs at least one key")
        self._current = next(iter(self._keys))

    @classmethod
    def parse(cls, master_keys: str | None = None, master_key: str | None = None) -> MasterKeyRing:
        """Build from the `MASTER_KEYS` list or, failing that, the single `MASTER_KEY`."""
        if master_keys:
            entries = [entry.strip() for entry in master_keys.split(",") if entry.strip()]
            return cls(_parse_entry(entry, "MASTER_KEYS", kid_required=True) for entry in entries)
        if master_key:
            return cls([_parse_entry(master_key.strip(), "MASTER_KEY", kid_required=False)])
        raise MasterKeyError("no master key given (MASTER_KEYS or MASTER_KEY)")

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def current(self) -> tuple[str, bytes]:
        return self._current, self._keys[self._current]

    def get(self, kid: str) -> bytes:
        try:
            return self._keys[kid]
        except KeyError:
            raise DecryptionError(
                f"master key {kid!r} is not configured (retired too early? add it back to MASTER_KEYS)"
            ) from None

    def contains_dev_key(self) -> bool:
        return any(hmac.compare_digest(key, DEV_MASTER_KEY) for key in self._keys.values())


def _parse_entry(entry: str, variable: str, *, kid_required: bool) -> tuple[str, bytes]:
    kid, sep, encoded = entry.rpartition(":")
    if not sep:
        encoded = entry
    if kid_required and not kid:
        raise MasterKeyError(f"{variable}: each entry must be 'kid:base64key'")
    name = repr(kid) if kid else "(no kid)"
    try:
        key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{variable}: key {name} is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise MasterKeyError(f"{variable}: key {name} is {len(key)} bytes, {KEY_SIZE} expected")
    # Without an explicit kid, one derived from the key keeps old wraps readable once the operator
    # switches to the MASTER_KEYS list form: `MASTER_KEYS=new:…,<that kid>:<same key>`.
    return kid or default_kid(key), key


def default_kid(key: bytes) -> str:
    """The kid given to a bare key: a short fingerprint that reveals nothing usable about the key."""
    return "k" + hmac.new(key, b"mssante master key id", hashlib.sha256).hexdigest()[:12]


def generate_master_key_entry(kid: str) -> str:
    """A fresh `kid:base64key` entry for MASTER_KEYS (used by the rotation procedure in the ADR)."""
    if not KID_RE.match(kid):
        raise MasterKeyError(f"master key id {kid!r} must match {KID_RE.pattern}")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_SIZE)).decode()}"


@lru_cache(maxsize=1)
def master_key_ring() -> MasterKeyRing:
    """The process-wide ring, read once from settings/environment (`reload_master_key_ring` to re-read)."""
    from django.conf import settings

    dev_or_test = bool(getattr(settings, "DEV", False) or getattr(settings, "TESTING", False))
    # The project hands the keys in: explicit settings first, then its `MASTER_KEY_SOURCE` callable (which
    # reads the environment and *_FILE secrets when called, so a rotation only needs a reload, not a restart
    # of the settings module). crypto itself never reads the environment.
    source = getattr(settings, "MASTER_KEY_SOURCE", None)
    from_source: dict[str, str | None] = source() if callable(source) else {}
    master_keys = getattr(settings, "MASTER_KEYS", None) or from_source.get("MASTER_KEYS")
    if isinstance(master_keys, list | tuple):
        master_keys = ",".join(master_keys)
    master_key = getattr(settings, "MASTER_KEY", None) or from_source.get("MASTER_KEY")
    if master_keys or master_key:
        ring = MasterKeyRing.parse(master_keys, master_key)
        if ring.contains_dev_key() and not dev_or_test:
            raise MasterKeyError("REFUSED: the public development master key is configured outside DEV/tests")
        return ring
    if not dev_or_test:
        raise MasterKeyError(
            "REFUSED: no master key (set MASTER_KEYS='kid:base64-32-bytes' or MASTER_KEY / MASTER_KEY_FILE); "
            "the insecure development key only exists under MSSANTE_DEV=1 and tests"
        )
    if getattr(settings, "DEV", False):
        logger.warning("crypto: using the PUBLIC development master key; nothing encrypted now is protected")
    return MasterKeyRing([(DEV_KID, DEV_MASTER_KEY)])


def reload_master_key_ring() -> None:
    master_key_ring.cache_clear()


def new_mailbox_key() -> bytes:
    return os.urandom(KEY_SIZE)


def new_data_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _id_text(value: object, what: str) -> str:
    text = "" if value is None else str(value)
    if not text:
        raise ValueError(f"{what} must not be empty")
    return text


# --- BAL keys under the master key -------------------------------------------------------------------------


def wrap_mailbox_key(key: bytes, *, mailbox_id: object, ring: MasterKeyRing | None = None) -> bytes:
    """Wrap a BAL key with the current master key; the result names that master key's id."""
    kid, master = (ring or master_key_ring()).current()
    header = MAILBOX_WRAP_MAGIC + bytes([len(kid)]) + kid.encode()
    nonce = os.urandom(NONCE_SIZE)
    aad = header + aad_for("mailbox-key", mailbox=_id_text(mailbox_id, "mailbox_id"))
    return header + nonce + AESGCM(master).encrypt(nonce, check_key(key, "BAL key"), aad)


def mailbox_wrap_kid(blob: bytes) -> str:
    """The id of the master key a BAL key wrap was made with (to find wraps left to rotate)."""
    if len(blob) < 3 or blob[:2] != MAILBOX_WRAP_MAGIC:
        raise DecryptionError("BAL key wrap: not a v1 BAL key wrap (bad magic or version)")
    kid_len = blob[2]
    if len(blob) != 3 + kid_len + _WRAPPED_SIZE:
        raise DecryptionError(f"BAL key wrap: wrong length ({len(blob)} bytes)")
    return bytes(blob[3 : 3 + kid_len]).decode("ascii", errors="replace")


def unwrap_mailbox_key(blob: bytes, *, mailbox_id: object, ring: MasterKeyRing | None = None) -> bytes:
    kid = mailbox_wrap_kid(blob)
    master = (ring or master_key_ring()).get(kid)
    split = 3 + len(kid)
    header, nonce, wrapped = blob[:split], blob[split : split + NONCE_SIZE], blob[split + NONCE_SIZE :]
    aad = bytes(header) + aad_for("mailbox-key", mailbox=_id_text(mailbox_id, "mailbox_id"))
    try:
        return AESGCM(master).decrypt(nonce, wrapped, aad)
    except InvalidTag:
        raise DecryptionError(
            f"BAL key wrap: authentication failed under master key {kid!r} (wrong BAL id or altered wrap)"
        ) from None


def needs_rewrap(blob: bytes, *, ring: MasterKeyRing | None = None) -> bool:
    return mailbox_wrap_kid(blob) != (ring or master_key_ring()).current_kid


def rewrap_mailbox_key(blob: bytes, *, mailbox_id: object, ring: MasterKeyRing | None = None) -> bytes:
    """Master key rotation: the same BAL key, wrapped again under the current master key.

    Only this small wrap changes: messages, data-key wraps and attachments are untouched, which is why
    rotating the master key takes seconds for the whole platform.
    """
    key = unwrap_mailbox_key(blob, mailbox_id=mailbox_id, ring=ring)
    return wrap_mailbox_key(key, mailbox_id=mailbox_id, ring=ring)


# --- per-message data keys under a BAL key -----------------------------------------------------------------


def _derive(mailbox_key: bytes, purpose: bytes) -> bytes:
    # The BAL key itself never encrypts anything: each use gets its own subkey (no cross-algorithm reuse).
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=b"mssante/v1/" + purpose)
    return hkdf.derive(check_key(mailbox_key, "BAL key"))


def derive_search_key(mailbox_key: bytes) -> bytes:
    """The per-BAL key of the blind search index (HMAC of normalised tokens; see the ADR)."""
    return _derive(mailbox_key, b"search-index")


def _data_aad(header: bytes, message_id: object, mailbox_id: object) -> bytes:
    ids = {"message": _id_text(message_id, "message_id"), "mailbox": _id_text(mailbox_id, "mailbox_id")}
    return header + aad_for("data-key", **ids)


def wrap_data_key(
    data_key: bytes, mailbox_key: bytes, *, message_id: object, mailbox_id: object, key_version: int = 1
) -> bytes:
    """Wrap a message's data key for the copy held by one BAL; `key_version` names the BAL key used."""
    if not 0 <= key_version < 2**32:
        raise ValueError("key_version must fit in 32 bits")
    header = _DATA_WRAP_HEADER.pack(DATA_WRAP_MAGIC, key_version)
    nonce = os.urandom(NONCE_SIZE)
    aead = AESGCM(_derive(mailbox_key, b"data-key-wrap"))
    aad = _data_aad(header, message_id, mailbox_id)
    return header + nonce + aead.encrypt(nonce, check_key(data_key, "data key"), aad)


def data_wrap_key_version(blob: bytes) -> int:
    """Which version of the BAL key a data-key wrap needs (BAL key rotation rewraps the old ones)."""
    if len(blob) != _DATA_WRAP_HEADER.size + _WRAPPED_SIZE or blob[:2] != DATA_WRAP_MAGIC:
        raise DecryptionError("data key wrap: not a v1 data key wrap (bad magic, version or length)")
    return _DATA_WRAP_HEADER.unpack_from(blob)[1]


def unwrap_data_key(blob: bytes, mailbox_key: bytes, *, message_id: object, mailbox_id: object) -> bytes:
    data_wrap_key_version(blob)  # format check
    split = _DATA_WRAP_HEADER.size
    header, nonce, wrapped = bytes(blob[:split]), blob[split : split + NONCE_SIZE], blob[split + NONCE_SIZE :]
    aead = AESGCM(_derive(mailbox_key, b"data-key-wrap"))
    try:
        return aead.decrypt(nonce, wrapped, _data_aad(header, message_id, mailbox_id))
    except InvalidTag:
        raise DecryptionError(
            "data key wrap: authentication failed (wrong or destroyed BAL key, or wrap moved to another copy)"
        ) from None


# --- transit: a data key under the master key while deliveries are pending ---------------------------------


def wrap_transit_key(
    data_key: bytes, *, purpose: str, object_id: object, ring: MasterKeyRing | None = None
) -> bytes:
    """Wrap a data key under the current master key for workers (pending deliveries, inbound spool).

    The format is the BAL key wrap's (it names the master key id, so rotation finds it) bound to
    `transit:<purpose>` and the object id instead of a BAL id. Callers delete it once nothing is pending.
    """
    return wrap_mailbox_key(
        data_key, mailbox_id=f"transit:{purpose}:{_id_text(object_id, 'object_id')}", ring=ring
    )


def unwrap_transit_key(
    blob: bytes, *, purpose: str, object_id: object, ring: MasterKeyRing | None = None
) -> bytes:
    return unwrap_mailbox_key(
        blob, mailbox_id=f"transit:{purpose}:{_id_text(object_id, 'object_id')}", ring=ring
    )
