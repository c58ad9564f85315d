"""Who is calling the applicative API, and how often (docs/decisions/0013-applicative-api.md).

Two ways to authenticate, both ending on an ApplicationCredential of an applicative BAL:
- `Authorization: Bearer <prefix>.<secret>` (the token shown once when the credential was created);
- a client certificate verified by the TLS-terminating reverse proxy, which passes the subject DN in
  API_CLIENT_CERT_HEADER and "SUCCESS" in API_CLIENT_CERT_VERIFY_HEADER. Those headers are believed only
  from API_TRUSTED_PROXIES (anyone else could simply write them), and the DN maps to a credential through
  API_CLIENT_CERTS ("<prefix> <DN>" lines), compared attribute by attribute (apps.trust.dn).
No session and no cookie are ever used: the API is CSRF-exempt because nothing ambient authenticates it.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.mailboxes.models import ApplicationCredential, Mailbox, MailboxKind
from apps.mailboxes.services_members import _stamp_credential_use as stamp_credential_use
from apps.mailboxes.services_members import check_credential
from apps.messaging.api.client_certificates import check_client_certificate
from apps.messaging.api.errors import ApiError
from apps.trust.dn import DNParseError, dn_equal
from mssante_lib import ratelimit

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class ApiClient:
    credential: ApplicationCredential
    mailbox: Mailbox
    method: str  # "token" or "certificate"

    @property
    def label(self) -> str:
        """How the journal names the caller: software, not a person."""
        return f"logiciel {self.credential.name} ({self.credential.prefix})"[:254]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _unauthorised(detail: str) -> ApiError:
    return ApiError(
        401, "unauthenticated", detail, headers={"WWW-Authenticate": 'Bearer realm="mssante-api"'}
    )


def _bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


@lru_cache(maxsize=64)
def _networks(entries: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def from_trusted_proxy(request: HttpRequest) -> bool:
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(_setting("API_TRUSTED_PROXIES", []))))


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _certificate_dn(request: HttpRequest) -> str | None:
    header = _setting("API_CLIENT_CERT_HEADER", "")
    if not header or _meta_key(header) not in request.META:
        return None
    if not from_trusted_proxy(request):
        # Forged or misrouted: the header only means something when our proxy wrote it.
        logger.warning(
            "API: client certificate header from untrusted %s ignored", request.META.get("REMOTE_ADDR")
        )
        return None
    verify_header = _setting("API_CLIENT_CERT_VERIFY_HEADER", "X-SSL-Client-Verify")
    if request.META.get(_meta_key(verify_header), "") != "SUCCESS":
        raise _unauthorised("Le certificat client n'a pas été vérifié par le serveur frontal.")
    return request.META[_meta_key(header)]


def credential_for_dn(dn: str) -> ApplicationCredential | None:
    """The active credential whose configured certificate DN names this subject."""
    for line in _setting("API_CLIENT_CERTS", []):
        prefix, _, configured = line.strip().partition(" ")
        try:
            matches = bool(configured) and dn_equal(configured.strip(), dn)
        except DNParseError:
            logger.error("API_CLIENT_CERTS: unreadable DN for %s", prefix)
            continue
        if matches:
            return ApplicationCredential.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    return None


def _credential(request: HttpRequest) -> tuple[ApplicationCredential, str]:
    token = _bearer_token(request)
    if token:
        credential = check_credential(token)
        if credential is None:
            raise _unauthorised("Jeton applicatif inconnu ou révoqué.")
        return credential, "token"
    dn = _certificate_dn(request)
    if dn:
        credential = credential_for_dn(dn)
        if credential is None:
            raise _unauthorised("Ce certificat client n'est associé à aucun identifiant applicatif actif.")
        check_client_certificate(request, credential_prefix=credential.prefix)  # revocation: 403
        stamp_credential_use(credential)
        return credential, "certificate"
    raise _unauthorised(
        "Authentification requise : en-tête « Authorization: Bearer <préfixe>.<secret> » "
        "ou certificat client."
    )


def authenticate(request: HttpRequest) -> ApiClient:
    credential, method = _credential(request)
    mailbox = Mailbox.objects.select_related("structure", "responsible").get(pk=credential.mailbox_id)
    if mailbox.kind != MailboxKind.APPLICATIVE:  # the database trigger already forbids it; belt and braces
        raise _unauthorised("Cet identifiant n'appartient pas à une BAL applicative.")
    if not mailbox.is_active:
        raise ApiError(403, "mailbox_suspended", "Cette boîte aux lettres applicative est suspendue.")
    return ApiClient(credential, mailbox, method)


def check_rate(client: ApiClient) -> dict[str, str]:
    """A one-minute window per credential (the platform's limiter, mssante_lib.ratelimit); over it, 429
    with the seconds left. Returns the RateLimit-* headers that tell the software its budget."""
    limit = int(_setting("API_RATE_PER_MINUTE", 120))
    rule = ratelimit.Rule(limit=limit, period=RATE_WINDOW_SECONDS, scope="credential")
    usage = ratelimit.consume("api", [rule], {"credential": client.credential.prefix})
    if not usage:
        retry = usage.retry_after
        raise ApiError(
            429,
            "rate_limited",
            f"Trop de requêtes : {limit} par minute au plus pour cet identifiant. Réessayez dans {retry} s.",
            headers={"Retry-After": str(retry), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0"},
        )
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(usage.remaining)}
