"""S/MIME (RFC 8551) for whole RFC 5322 messages: sign, verify, encrypt, decrypt.

cryptography builds signatures and envelopes and decrypts; it has no signature verification, so verification
goes through pyhanko (CMS integrity, certification path up to the configured CA bundles, key usage). Messages
are handled as bytes: a signature covers the signed entity byte for byte, which a parse and re-serialise
round trip through the email package does not preserve. Only the MIME entity (Content-* fields and body) is
signed or encrypted; routing fields (From, To, Subject, Date, Message-ID, X-MSS-*) stay outside, in clear,
as RFC 8551 §3.1 and every other operator's MTA expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .keys import Credentials, TrustStore, load_certificates
from .mime import SmimeError, SmimeKind, smime_kind
from .verify import SignatureCheck, SignatureState, averify_message, verify_message
from .wrap import decrypt_message, encrypt_message, sign_message

__all__ = [
    "Credentials",
    "OpenedMessage",
    "SignatureCheck",
    "SignatureState",
    "SmimeError",
    "SmimeKind",
    "TrustStore",
    "averify_message",
    "decrypt_message",
    "encrypt_message",
    "load_certificates",
    "open_message",
    "sign_message",
    "smime_kind",
    "verify_message",
]


@dataclass(frozen=True)
class OpenedMessage:
    """What the gateway stores and the webmail shows: the readable message and how it was protected."""

    message: bytes
    encrypted: bool
    signature: SignatureCheck


def open_message(
    raw: bytes,
    trust: TrustStore,
    keys: Credentials | Sequence[Credentials] = (),
    *,
    moment: dt.datetime | None = None,
) -> OpenedMessage:
    """Remove the S/MIME layers of an inbound message (decrypt, then verify; at most 3 layers, as
    sign-encrypt-sign is the deepest nesting clients produce). Raises SmimeError when undecryptable."""
    encrypted = False
    signature = SignatureCheck(SignatureState.UNSIGNED, reason="no signature layer")
    for _ in range(3):
        kind = smime_kind(raw)
        if kind == SmimeKind.ENCRYPTED:
            raw, encrypted = decrypt_message(raw, keys), True
        elif kind in (SmimeKind.SIGNED, SmimeKind.SIGNED_OPAQUE):
            check = verify_message(raw, trust, moment=moment)
            # The outermost signature is the one the user sees; an inner one (sign-encrypt-sign) is not
            # allowed to mask an invalid outer one.
            if signature.state == SignatureState.UNSIGNED:
                signature = check
            if check.content is None:
                break
            raw = check.content
        else:
            break
    return OpenedMessage(raw, encrypted, signature)
