"""Signing, encrypting and decrypting whole messages with cryptography's PKCS#7/CMS builders."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from email.message import EmailMessage

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from .keys import Credentials
from .mime import (
    CRLF,
    SmimeError,
    SmimeKind,
    base64_lines,
    canonical,
    cms_part_headers,
    decode_body,
    entity_of,
    header_block,
    kind_of,
    rewrap,
    serialise,
    split_message,
)


def sign_message(message: EmailMessage | bytes, signer: Credentials) -> bytes:
    """The message as multipart/signed with a detached SHA-256 CMS signature (clear-signed: readable
    by clients without S/MIME). 8-bit parts are re-encoded to 7 bit first so no relay alters them."""
    parts = split_message(serialise(message, seven_bit=True))
    entity = entity_of(parts)
    if not entity.isascii():
        raise SmimeError("8-bit data left in the entity to sign", "Ce message ne peut pas être signé.")
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(entity)
        .add_signer(signer.certificate, signer.private_key, hashes.SHA256())
    )
    for cert in signer.chain:
        builder = builder.add_certificate(cert)
    # Binary: the entity is already canonical; cryptography must sign these exact bytes.
    der = builder.sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    )
    boundary = _boundary(entity)
    delimiter = b"--" + boundary
    return b"".join(
        [
            *parts.outer,
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
            b' micalg=sha-256; boundary="' + boundary + b'"\r\n\r\n',
            b"This is an S/MIME signed message.\r\n",
            delimiter + CRLF,
            entity,
            CRLF + delimiter + CRLF,
            b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n',
            base64_lines(der),
            delimiter + b"--" + CRLF,
        ]
    )


def _boundary(entity: bytes) -> bytes:
    while True:
        boundary = b"----=_smime_" + secrets.token_hex(16).encode()
        if boundary not in entity:
            return boundary


def encrypt_message(message: EmailMessage | bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """The message as application/pkcs7-mime enveloped-data (AES-256-CBC, RSA key transport), readable by
    each certificate in `recipients`. Include the sender's own certificate to keep the sent copy readable."""
    if not recipients:
        raise ValueError("encrypting needs at least one recipient certificate")
    parts = split_message(serialise(message, seven_bit=False))
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(entity_of(parts))
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    for cert in recipients:
        builder = builder.add_recipient(cert)
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return b"".join(
        [
            *parts.outer,
            b"MIME-Version: 1.0\r\n",
            cms_part_headers("enveloped-data"),
            CRLF,
            base64_lines(der),
        ]
    )


def decrypt_message(raw: bytes, keys: Credentials | Sequence[Credentials]) -> bytes:
    """The decrypted message (routing fields of the envelope + the entity it carried).

    `keys`: the BAL's and/or the operator's credentials, tried in order. Raises SmimeError."""
    parts = split_message(raw)
    if kind_of(header_block(parts)) != SmimeKind.ENCRYPTED:
        raise SmimeError("not an S/MIME enveloped message", "Ce message n'est pas chiffré.")
    try:
        der = decode_body(parts)
    except ValueError as exc:
        raise SmimeError(str(exc), "Le message chiffré est endommagé et ne peut pas être ouvert.") from exc
    candidates = [keys] if isinstance(keys, Credentials) else list(keys)
    reasons = []
    for creds in candidates:
        if not isinstance(creds.private_key, rsa.RSAPrivateKey):
            reasons.append(f"{creds.certificate.subject.rfc4514_string()}: not an RSA key")
            continue
        try:
            entity = pkcs7.pkcs7_decrypt_der(der, creds.certificate, creds.private_key, [])
        except UnsupportedAlgorithm as exc:
            # 3DES or RC2 (openssl smime's defaults): refuse rather than weaken the platform.
            raise SmimeError(
                f"unsupported content encryption: {exc}",
                "Ce message est chiffré avec un algorithme ancien que la plateforme n'accepte pas ; "
                "demandez à l'expéditeur de le renvoyer.",
            ) from exc
        except (ValueError, TypeError) as exc:
            reasons.append(f"{creds.certificate.subject.rfc4514_string()}: {exc}")
            continue
        return rewrap(parts, canonical(entity))
    raise SmimeError(
        "no key could decrypt: " + "; ".join(reasons),
        "Ce message chiffré ne peut pas être ouvert : il n'a pas été chiffré pour votre certificat.",
    )
