"""Encryption at rest of message content: a pure library (no models, not an installed app).

- `envelope`: AES-256-GCM `seal` / `open_` for small blobs (body, subject, snippet), `aad_for` binding.
- `stream`: segmented AES-GCM (STREAM) for attachments of any size in constant memory.
- `keys`: master key ring from the environment, BAL key and per-message data key wrapping and rotation.

The design, what is and is not encrypted, search and deletion: docs/decisions/0007-encryption-at-rest.md.
"""

from apps.crypto.envelope import CryptoError, DecryptionError, aad_for, open_, seal
from apps.crypto.keys import MasterKeyError, MasterKeyRing
from apps.crypto.stream import TooLarge, decrypt_stream, encrypt_stream, iter_decrypted

__all__ = [
    "CryptoError",
    "DecryptionError",
    "MasterKeyError",
    "MasterKeyRing",
    "TooLarge",
    "aad_for",
    "decrypt_stream",
    "encrypt_stream",
    "iter_decrypted",
    "open_",
    "seal",
]
