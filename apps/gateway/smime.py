"""S/MIME (RFC 8551) for whole RFC 5322 messages: sign, verify, encrypt, decrypt.

cryptography builds signatures and envelopes and decrypts; it has no signature verification, so verification
goes through pyhanko (CMS integrity, certification path up to the configured CA bundles, key usage). Messages
are handled as bytes: a signature covers the signed entity byte for byte, which a parse and re-serialise
round trip through the email package does not preserve. Only the MIME entity (Content-* fields and body) is
signed or encrypted; routing fields (From, To, Subject, Date, Message-ID, X-MSS-*) stay outside, in clear,
as RFC 8551 §3.1 and every other operator's MTA expect.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from enum import StrEnum
from io import BytesIO

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.validation.generic_cms import async_validate_cms_signature, async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import InvalidCertificateError

CRLF = b"\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# 7-bit output so that no relay re-encodes (and thereby breaks) a signed entity (RFC 8551 §3.1.2).
_SEVEN_BIT = policy.SMTP.clone(cte_type="7bit")
_SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature"}
_CMS_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime"}
# Signer certificates must allow signing; EKU, when present, must allow e-mail protection. IGC-Santé
# personal and organisation "signature" certificates carry digitalSignature and/or nonRepudiation.
_SIGNER_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"},
    match_all_key_usages=False,
    extd_key_usage={"email_protection"},
    explicit_extd_key_usage_required=False,
)


class SmimeError(ValueError):
    """A message that cannot be signed, encrypted or decrypted; `label` is shown to users (French)."""

    def __init__(self, detail: str, label: str) -> None:
        super().__init__(detail)
        self.label = label


class SmimeKind(StrEnum):
    NONE = "none"
    SIGNED = "signed"  # multipart/signed, detached signature
    SIGNED_OPAQUE = "signed-opaque"  # application/pkcs7-mime; smime-type=signed-data
    ENCRYPTED = "encrypted"  # application/pkcs7-mime; smime-type=enveloped-data


class SignatureState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # content altered or signature unreadable
    UNTRUSTED = "untrusted"  # intact, but the signer's certificate is not acceptable
    UNSIGNED = "unsigned"


@dataclass(frozen=True)
class Credentials:
    """A certificate with its private key (the operator's or a BAL's) and the chain sent along."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, password: bytes | None = None) -> Credentials:
        """`cert_pem` holds the leaf first, then optionally its intermediates."""
        leaf, *chain = x509.load_pem_x509_certificates(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password)
        return cls(leaf, _usable_key(key), tuple(chain))

    @classmethod
    def from_pkcs12(cls, data: bytes, password: bytes | None) -> Credentials:
        """IGC-Santé software certificates are delivered as .p12 files."""
        key, leaf, extra = pkcs12.load_key_and_certificates(data, password)
        if key is None or leaf is None:
            raise ValueError("PKCS#12 file lacks the key or the certificate")
        return cls(leaf, _usable_key(key), tuple(extra))


def _usable_key(key: object) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported S/MIME key type {type(key).__name__}")
    return key


@dataclass(frozen=True)
class TrustStore:
    """CA certificates a signer must chain to (IGC-Santé in production), and CRLs to check revocation."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()  # DER

    @classmethod
    def from_pem(cls, *bundles: bytes, crls: Sequence[bytes] = ()) -> TrustStore:
        """Self-signed certificates of the bundles become roots, the others intermediates."""
        certs = [cert for bundle in bundles for cert in x509.load_pem_x509_certificates(bundle)]
        roots = tuple(c for c in certs if c.subject == c.issuer)
        others = tuple(c for c in certs if c.subject != c.issuer)
        return cls(roots, others, tuple(crls))

    def validation_context(self, moment: dt.datetime | None) -> ValidationContext:
        # soft-fail: with no CRL for a CA the path still validates; a listed serial always fails.
        return ValidationContext(
            trust_roots=[_asn1(c) for c in self.roots],
            other_certs=[_asn1(c) for c in self.intermediates],
            crls=list(self.crls),
            moment=moment,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# ---------------------------------------------------------------------------------------------- raw MIME


@dataclass(frozen=True)
class _Split:
    """A message cut into its routing fields, its Content-* fields and its body (all raw bytes)."""

    outer: list[bytes]
    content: list[bytes]
    body: bytes
    head: bytes = field(repr=False)


def _split(raw: bytes) -> _Split:
    end = _HEADER_END.search(raw)
    if raw.startswith((b"\r\n", b"\n")):
        head, body = b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    elif end is None:
        head, body = raw, b""
    else:
        head, body = raw[: end.start()], raw[end.end() :]
    fields: list[bytes] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + CRLF
        elif line.strip():
            fields.append(line + CRLF)
    outer: list[bytes] = []
    content: list[bytes] = []
    for f in fields:
        name = f.split(b":", 1)[0].strip().lower()
        if name.startswith(b"content-"):
            content.append(f)
        elif name != b"mime-version":
            outer.append(f)
    return _Split(outer, content, body, head)


def _entity(parts: _Split) -> bytes:
    """The MIME entity that gets signed or encrypted, in canonical CRLF form."""
    return _canonical(b"".join(parts.content) + CRLF + parts.body)


def _canonical(data: bytes) -> bytes:
    return _BARE_LF.sub(CRLF, data) if _BARE_LF.search(data) else data


def _serialise(message: EmailMessage | bytes, *, seven_bit: bool) -> bytes:
    """Bytes of `message`; with `seven_bit`, 8-bit text parts are re-encoded (base64/QP) first."""
    if isinstance(message, bytes):
        if not seven_bit or message.isascii():
            return message
        message = BytesParser(policy=policy.default).parsebytes(message)  # type: ignore[assignment]
    buffer = BytesIO()
    BytesGenerator(buffer, policy=_SEVEN_BIT if seven_bit else policy.SMTP).flatten(message)  # type: ignore[arg-type]
    return buffer.getvalue()


def _headers(parts: _Split) -> EmailMessage:
    return BytesHeaderParser(policy=policy.default).parsebytes(parts.head)  # type: ignore[return-value]


def smime_kind(raw: bytes) -> SmimeKind:
    """Which S/MIME layer, if any, wraps this message (only its header block is read)."""
    return _kind(_headers(_split(raw)))


def _kind(headers: EmailMessage) -> SmimeKind:
    ctype = headers.get_content_type()
    if ctype == "multipart/signed" and str(headers.get_param("protocol", "")).lower() in _SIGNATURE_TYPES:
        return SmimeKind.SIGNED
    if ctype in _CMS_TYPES:
        smime_type = str(headers.get_param("smime-type", "")).lower()
        if smime_type == "signed-data":
            return SmimeKind.SIGNED_OPAQUE
        # Old clients omit smime-type; the envelope is by far the common case then.
        if smime_type in ("enveloped-data", "authenveloped-data", ""):
            return SmimeKind.ENCRYPTED
    return SmimeKind.NONE


def _rewrap(parts: _Split, entity: bytes) -> bytes:
    """Routing fields of the wrapper in front of the entity found inside it."""
    return b"".join(parts.outer) + b"MIME-Version: 1.0\r\n" + entity


def _base64_lines(der: bytes) -> bytes:
    return base64.encodebytes(der).replace(b"\n", CRLF)


def _cms_part_headers(smime_type: str) -> bytes:
    return (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n'
    ).encode()


# ----------------------------------------------------------------------------------------------- signing


def sign_message(message: EmailMessage | bytes, signer: Credentials) -> bytes:
    """The message as multipart/signed with a detached SHA-256 CMS signature (clear-signed: readable
    by clients without S/MIME). 8-bit parts are re-encoded to 7 bit first so no relay alters them."""
    parts = _split(_serialise(message, seven_bit=True))
    entity = _entity(parts)
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
            _base64_lines(der),
            delimiter + b"--" + CRLF,
        ]
    )


def _boundary(entity: bytes) -> bytes:
    while True:
        boundary = b"----=_smime_" + secrets.token_hex(16).encode()
        if boundary not in entity:
            return boundary


# ---------------------------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class SignatureCheck:
    """Outcome of verifying a signed message, for the webmail and the journal."""

    state: SignatureState
    reason: str = ""  # English, precise, for logs
    signer_subject: str | None = None  # RFC 4514 DN
    signer_name: str | None = None  # CN
    signer_emails: tuple[str, ...] = ()
    signing_time: dt.datetime | None = None
    sender_matches: bool | None = None  # From == a signer address; None when the certificate names none
    content: bytes | None = field(default=None, repr=False)  # the message with the signature layer removed

    @property
    def valid(self) -> bool:
        return self.state == SignatureState.VALID

    @property
    def signer_email(self) -> str | None:
        return self.signer_emails[0] if self.signer_emails else None

    @property
    def label(self) -> str:
        """One French sentence for the message view."""
        who = _who(self.signer_name, self.signer_email, self.signer_subject)
        if self.state == SignatureState.UNSIGNED:
            return "Message non signé"
        if self.state == SignatureState.INVALID:
            return "Signature invalide : le message a pu être modifié"
        if self.state == SignatureState.UNTRUSTED:
            return _UNTRUSTED_LABELS.get(self.reason, _UNTRUSTED_LABELS["untrusted"]).format(who=who)
        if self.sender_matches is False:
            return f"Signature valide de {who}, qui n'est pas l'expéditeur affiché"
        return f"Signature valide de {who}"


_UNTRUSTED_LABELS = {
    "expired": "Signature non vérifiable : le certificat de {who} n'était pas valide à cette date",
    "revoked": "Signature refusée : le certificat de {who} a été révoqué",
    "usage": "Signature non reconnue : le certificat de {who} n'est pas prévu pour signer des messages",
    "no-certificate": "Signature non vérifiable : le certificat du signataire est absent du message",
    "untrusted": (
        "Signature non reconnue : le certificat de {who} n'est pas émis par une autorité de confiance"
    ),
}


def _who(name: str | None, email: str | None, subject: str | None) -> str:
    if name and email and email.lower() not in name.lower():
        return f"{name} <{email}>"
    return name or email or subject or "signataire inconnu"


def verify_message(raw: bytes, trust: TrustStore, *, moment: dt.datetime | None = None) -> SignatureCheck:
    """Verify the outer S/MIME signature of `raw` against `trust` (at `moment`, default now).

    Safe to call from inside an event loop (the check then runs in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(averify_message(raw, trust, moment=moment))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, averify_message(raw, trust, moment=moment)).result()


async def averify_message(
    raw: bytes, trust: TrustStore, *, moment: dt.datetime | None = None
) -> SignatureCheck:
    parts = _split(raw)
    headers = _headers(parts)
    kind = _kind(headers)
    if kind not in (SmimeKind.SIGNED, SmimeKind.SIGNED_OPAQUE):
        return SignatureCheck(SignatureState.UNSIGNED, reason=f"no signature layer ({kind})")
    try:
        if kind == SmimeKind.SIGNED:
            entity, der = _detached_parts(parts.body, str(headers.get_param("boundary", "")))
        else:
            der = _decode_body(parts)
        signed_data = _signed_data(der)
        context = trust.validation_context(moment)
        if kind == SmimeKind.SIGNED:
            status = await async_validate_detached_cms(
                entity, signed_data, signer_validation_context=context, key_usage_settings=_SIGNER_USAGE
            )
        else:
            entity = _canonical(signed_data["encap_content_info"]["content"].native or b"")
            status = await async_validate_cms_signature(
                signed_data,
                status_cls=StandardCMSSignatureStatus,
                validation_context=context,
                key_usage_settings=_SIGNER_USAGE,
            )
    except (ValueError, TypeError, KeyError) as exc:
        return SignatureCheck(SignatureState.INVALID, reason=f"unreadable signature: {exc}")
    return _check_from_status(status, entity, parts, headers)


def _detached_parts(body: bytes, boundary: str) -> tuple[bytes, bytes]:
    """(signed entity, signature DER) of a multipart/signed body, cut on the raw bytes."""
    if not boundary:
        raise ValueError("multipart/signed without boundary")
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    marks = []
    for mark in delimiter.finditer(body):
        marks.append(mark)
        if len(marks) == 3:
            break
    if len(marks) < 3:
        raise ValueError("multipart/signed needs two parts")
    entity = _canonical(body[marks[0].end() : marks[1].start()])
    signature = BytesParser(policy=policy.default).parsebytes(body[marks[1].end() : marks[2].start()])
    if signature.get_content_type() not in _SIGNATURE_TYPES:
        raise ValueError(f"second part is {signature.get_content_type()}, not a signature")
    return entity, signature.get_payload(decode=True)  # type: ignore[return-value]


def _decode_body(parts: _Split) -> bytes:
    encoding = _headers(parts).get("Content-Transfer-Encoding", "base64").strip().lower()
    if encoding == "binary":
        return parts.body
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", parts.body), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in CMS body: {exc}") from exc


def _signed_data(der: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"CMS content is {info['content_type'].native}, not signed data")
    signed = info["content"]
    signed.native  # noqa: B018  (parse eagerly so malformed DER fails here, not deep in pyhanko)
    return signed


def _check_from_status(status, entity: bytes, parts: _Split, headers: EmailMessage) -> SignatureCheck:
    cert = x509.load_der_x509_certificate(status.signing_cert.dump()) if status.signing_cert else None
    identity = _identity(cert) if cert else {}
    emails = identity.get("emails", ())
    sender = [addr.lower() for _, addr in getaddresses([str(headers.get("From", ""))]) if addr]
    common = {
        "signer_subject": identity.get("subject"),
        "signer_name": identity.get("name"),
        "signer_emails": emails,
        "signing_time": status.signer_reported_dt,
        "content": _rewrap(parts, entity),
    }
    if not (status.intact and status.valid):
        return SignatureCheck(SignatureState.INVALID, reason="digest or signature mismatch", **common)
    problem = _trust_problem(status)
    if problem:
        return SignatureCheck(SignatureState.UNTRUSTED, reason=problem, **common)
    matches = bool(set(sender) & {e.lower() for e in emails}) if emails and sender else None
    return SignatureCheck(SignatureState.VALID, reason="ok", sender_matches=matches, **common)


def _trust_problem(status) -> str | None:
    if status.signing_cert is None:
        return "no-certificate"
    if not status.trusted or status.revoked:
        indic = status.trust_problem_indic
        if status.revoked or indic in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE):
            return "revoked"
        if indic in (
            AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
            AdESIndeterminate.EXPIRED,
            AdESFailure.NOT_YET_VALID,
        ):
            return "expired"
        if indic == AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND:
            return "no-certificate"
        if indic == AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE and not _usage_allows_signing(
            status.signing_cert
        ):
            return "usage"
        return "untrusted"
    return None


def _usage_allows_signing(cert: asn1_x509.Certificate) -> bool:
    """pyhanko reports a key usage refusal as a generic chain constraint failure; tell them apart."""
    try:
        _SIGNER_USAGE.validate(cert)
    except InvalidCertificateError:
        return False
    return True


def _identity(cert: x509.Certificate) -> dict:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    emails = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = san.get_values_for_type(x509.RFC822Name) + emails
    except x509.ExtensionNotFound:
        pass
    return {
        "subject": cert.subject.rfc4514_string(),
        "name": str(names[0].value) if names else None,
        "emails": tuple(dict.fromkeys(emails)),
    }


# -------------------------------------------------------------------------------------------- encryption


def encrypt_message(message: EmailMessage | bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """The message as application/pkcs7-mime enveloped-data (AES-256-CBC, RSA key transport), readable by
    each certificate in `recipients`. Include the sender's own certificate to keep the sent copy readable."""
    if not recipients:
        raise ValueError("encrypting needs at least one recipient certificate")
    parts = _split(_serialise(message, seven_bit=False))
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(_entity(parts))
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    for cert in recipients:
        builder = builder.add_recipient(cert)
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return b"".join(
        [
            *parts.outer,
            b"MIME-Version: 1.0\r\n",
            _cms_part_headers("enveloped-data"),
            CRLF,
            _base64_lines(der),
        ]
    )


def decrypt_message(raw: bytes, keys: Credentials | Sequence[Credentials]) -> bytes:
    """The decrypted message (routing fields of the envelope + the entity it carried).

    `keys`: the BAL's and/or the operator's credentials, tried in order. Raises SmimeError."""
    parts = _split(raw)
    if _kind(_headers(parts)) != SmimeKind.ENCRYPTED:
        raise SmimeError("not an S/MIME enveloped message", "Ce message n'est pas chiffré.")
    try:
        der = _decode_body(parts)
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
        return _rewrap(parts, _canonical(entity))
    raise SmimeError(
        "no key could decrypt: " + "; ".join(reasons),
        "Ce message chiffré ne peut pas être ouvert : il n'a pas été chiffré pour votre certificat.",
    )


# ---------------------------------------------------------------------------------------------- inbound


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
