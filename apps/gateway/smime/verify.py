"""Verification of inbound S/MIME signatures with pyhanko (cryptography cannot verify CMS signatures)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from enum import StrEnum

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import NameOID
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.validation.generic_cms import async_validate_cms_signature, async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko_certvalidator.errors import InvalidCertificateError

from .keys import TrustStore
from .mime import (
    SIGNATURE_TYPES,
    SmimeKind,
    Split,
    canonical,
    decode_body,
    header_block,
    kind_of,
    rewrap,
    split_message,
)

logger = logging.getLogger(__name__)

# Signer certificates must allow signing; EKU, when present, must allow e-mail protection. IGC-Santé
# personal and organisation "signature" certificates carry digitalSignature and/or nonRepudiation.
_SIGNER_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"},
    match_all_key_usages=False,
    extd_key_usage={"email_protection"},
    explicit_extd_key_usage_required=False,
)


class SignatureState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # content altered or signature unreadable
    UNTRUSTED = "untrusted"  # intact, but the signer's certificate is not acceptable
    UNSIGNED = "unsigned"


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
    # Kept from valid signatures, it is how we learn a correspondent's certificate to encrypt to them.
    signer_certificate: x509.Certificate | None = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)  # the message with the signature layer removed

    @property
    def valid(self) -> bool:
        return self.state == SignatureState.VALID

    @property
    def signer_email(self) -> str | None:
        return self.signer_emails[0] if self.signer_emails else None

    def summary(self) -> dict[str, str | bool | None]:
        """JSON-ready record to store with the message (the verdict at receipt is the one that counts)."""
        return {
            "state": self.state.value,
            "label": self.label,
            "reason": self.reason,
            "signer_subject": self.signer_subject,
            "signer_email": self.signer_email,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "sender_matches": self.sender_matches,
        }

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
    parts = split_message(raw)
    headers = header_block(parts)
    kind = kind_of(headers)
    if kind not in (SmimeKind.SIGNED, SmimeKind.SIGNED_OPAQUE):
        return SignatureCheck(SignatureState.UNSIGNED, reason=f"no signature layer ({kind})")
    try:
        if kind == SmimeKind.SIGNED:
            entity, der = _detached_parts(parts.body, str(headers.get_param("boundary", "")))
        else:
            der = decode_body(parts)
        signed_data = _signed_data(der)
        context = trust.validation_context(moment)
        if kind == SmimeKind.SIGNED:
            status = await async_validate_detached_cms(
                entity, signed_data, signer_validation_context=context, key_usage_settings=_SIGNER_USAGE
            )
        else:
            entity = canonical(signed_data["encap_content_info"]["content"].native or b"")
            status = await async_validate_cms_signature(
                signed_data,
                status_cls=StandardCMSSignatureStatus,
                validation_context=context,
                key_usage_settings=_SIGNER_USAGE,
            )
        return _check_from_status(status, entity, parts, headers)
    except Exception as exc:
        # Hostile or damaged DER makes asn1crypto and pyhanko raise arbitrary types (AttributeError,
        # UnboundLocalError… found by fuzzing); an inbound message must get a verdict, never crash the task.
        logger.info("unreadable S/MIME signature: %s: %s", type(exc).__name__, exc)
        return SignatureCheck(
            SignatureState.INVALID, reason=f"unreadable signature: {type(exc).__name__}: {exc}"
        )


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
    entity = canonical(body[marks[0].end() : marks[1].start()])
    signature = BytesParser(policy=policy.default).parsebytes(body[marks[1].end() : marks[2].start()])
    if signature.get_content_type() not in SIGNATURE_TYPES:
        raise ValueError(f"second part is {signature.get_content_type()}, not a signature")
    return entity, signature.get_payload(decode=True)  # type: ignore[return-value]


def _signed_data(der: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"CMS content is {info['content_type'].native}, not signed data")
    signed = info["content"]
    signed.native  # noqa: B018  (parse eagerly so malformed DER fails here, not deep in pyhanko)
    return signed


def _check_from_status(status, entity: bytes, parts: Split, headers: Message) -> SignatureCheck:
    cert = x509.load_der_x509_certificate(status.signing_cert.dump()) if status.signing_cert else None
    identity = _identity(cert) if cert else {}
    emails = identity.get("emails", ())
    sender = [addr.lower() for _, addr in getaddresses([str(headers.get("From", ""))]) if addr]
    common = {
        "signer_subject": identity.get("subject"),
        "signer_name": identity.get("name"),
        "signer_emails": emails,
        "signing_time": status.signer_reported_dt,
        "content": rewrap(parts, entity),
        "signer_certificate": cert,
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
