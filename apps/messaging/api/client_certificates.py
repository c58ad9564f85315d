"""Revocation of the client certificates the TLS proxy forwards to the applicative API (ADR 0018).

The proxy verifies the chain and forwards, besides the subject DN (auth.py), the certificate itself
URL-escaped in API_CLIENT_CERT_PEM_HEADER (nginx: `proxy_set_header X-SSL-Client-Cert
$ssl_client_escaped_cert;`), trusted like the DN only from API_TRUSTED_PROXIES. The decision is the trust
space's revocation policy (`apps.trust.revocation.check_revocation`); a refusal is a 403 with a JSON reason.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from cryptography import x509
from django.conf import settings
from django.http import HttpRequest

from apps.trust.inventory import note_certificate, record_tls_failure
from apps.trust.revocation import check_revocation

logger = logging.getLogger(__name__)


def _forwarded_certificate(request: HttpRequest) -> x509.Certificate | None:
    header = getattr(settings, "API_CLIENT_CERT_PEM_HEADER", "X-SSL-Client-Cert")
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    if not value:
        return None
    try:
        return x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        logger.warning("API: unreadable client certificate in %s", header)
        return None


def check_client_certificate(request: HttpRequest, *, credential_prefix: str) -> None:
    """Raise ApiError (403) unless the forwarded client certificate is present and not revoked."""
    from apps.messaging.api.errors import ApiError

    certificate = _forwarded_certificate(request)
    if certificate is None:
        raise ApiError(
            403,
            "certificate_missing",
            "Le serveur frontal n'a pas transmis le certificat client : sa révocation ne peut pas être "
            "vérifiée.",
        )
    decision = check_revocation(certificate)
    note_certificate(certificate, path="api", remote=credential_prefix, decision=decision)
    if decision.allowed:
        return
    record_tls_failure(
        direction="api",
        remote=credential_prefix,
        reason_code=decision.status,
        reason=decision.message,
        certificate=certificate,
    )
    raise ApiError(
        403,
        "certificate_revoked" if decision.revoked else "revocation_unavailable",
        decision.message,
        extra={"serial": decision.serial, "subject": decision.subject_dn, "issuer": decision.issuer_dn},
    )
