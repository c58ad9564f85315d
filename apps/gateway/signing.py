"""Which certificate signs outgoing mail (S/MIME), and only one whose usages allow it.

A TLS server certificate (serverAuth/clientAuth only) makes a signature every S/MIME verifier refuses
(`openssl smime -verify`: "unsuitable certificate purpose"). So the operator's signing certificate is
SMIME_CERT_FILE/SMIME_KEY_FILE; the gateway's TLS certificate is used only when it allows e-mail protection
itself. When no suitable certificate is configured the platform does not sign (a signature is an addition,
ADR 0010: it must not make a message undeliverable), logs why and which setting to fill, and
`manage.py check --deploy` fails in production until it is fixed (apps/gateway/checks.py).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.conf import settings

from apps.gateway import smime

logger = logging.getLogger(__name__)

FILL = (
    "set SMIME_CERT_FILE and SMIME_KEY_FILE to the operator's signing certificate (key usage "
    "digitalSignature, extended key usage emailProtection), or SMIME_SIGN_OUTBOUND=false"
)


def usage_problem(certificate: x509.Certificate) -> str | None:
    """Why `certificate` cannot sign e-mail (RFC 8550 §4.4), or None when it can."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and not {
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku):
        names = ", ".join(getattr(oid, "_name", oid.dotted_string) for oid in eku)
        return f"its extended key usage ({names}) lacks emailProtection"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not (usage.digital_signature or usage.content_commitment):
        return "its key usage allows neither digitalSignature nor nonRepudiation"
    return None


@functools.lru_cache(maxsize=4)
def _load(cert: str, key: str) -> smime.Credentials:
    return smime.Credentials.from_pem(Path(cert).read_bytes(), Path(key).read_bytes())


def configured_signer() -> tuple[str, str, str] | None:
    """(setting name, certificate file, key file) of the certificate that would sign, or None."""
    if settings.SMIME_CERT_FILE and settings.SMIME_KEY_FILE:
        return "SMIME_CERT_FILE", str(settings.SMIME_CERT_FILE), str(settings.SMIME_KEY_FILE)
    if settings.GATEWAY_CERT_FILE and settings.GATEWAY_KEY_FILE:
        return "GATEWAY_CERT_FILE", str(settings.GATEWAY_CERT_FILE), str(settings.GATEWAY_KEY_FILE)
    return None


def signer_problem() -> str | None:
    """Why outgoing mail cannot be signed as configured, naming the setting; None when it can (or when
    signing is off)."""
    if not settings.SMIME_SIGN_OUTBOUND:
        return None
    signer = configured_signer()
    if signer is None:  # no certificate at all: no outbound mutual TLS either, nothing is sent to sign
        return None
    name, cert, key = signer
    try:
        credentials = _load(cert, key)
    except (OSError, ValueError) as exc:
        return f"{name} ({cert}) cannot be loaded ({exc}): {FILL}"
    problem = usage_problem(credentials.certificate)
    if problem is not None:
        return f"{name} ({cert}) cannot sign e-mail: {problem}; {FILL}"
    return None


@functools.lru_cache(maxsize=8)
def _warn_once(problem: str) -> None:
    logger.error("smime: outgoing mail is not signed: %s", problem)


def signing_credentials() -> smime.Credentials | None:
    """The credentials that sign outgoing mail, or None (then the message goes out unsigned, logged)."""
    if not settings.SMIME_SIGN_OUTBOUND:
        return None
    problem = signer_problem()
    if problem is not None:
        _warn_once(problem)
        return None
    signer = configured_signer()
    assert signer is not None  # noqa: S101 - signer_problem() returned None
    return _load(signer[1], signer[2])
