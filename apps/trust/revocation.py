"""THE revocation policy: may a certificate met on a TLS path still be trusted, given the CRLs we hold?

Every TLS path asks `check_revocation(certificate)` and nothing else decides: the inbound gateway for the
client certificates of other operators, outbound deliveries for the remote servers' certificates, and the
applicative API for the client certificates its proxy forwards. Rules (ADR 0018, Ref#2 CONF.22/ECO.1.1.6):
- a serial listed in the newest CRL of the certificate's issuer is refused, whatever that CRL's age (the
  last CRL is kept, so a revocation is never forgotten because a refresh failed);
- when the issuer's CRL is past its nextUpdate, or no CRL of that issuer was ever loaded, the others are
  accepted (soft fail: /healthz says "degraded" and administrators are alerted every hour) unless
  CRL_HARD_FAIL is set: then every certificate of that CA is refused for now (a temporary refusal, 4xx);
- otherwise the certificate is accepted.

Speed (the gateway asks at every MAIL FROM): each process holds the revoked serials of each issuer in a
frozenset keyed by the issuer's name, so a check is two hash lookups (issuer, then serial). With
CRL_PROCESS_CACHE (production) the process looks at a version key in the Django cache at most once a second
and reloads the sets when a new CRL was stored (every store bumps the key on commit); each CRL is parsed
once per process. Without it (tests, whose rollbacks no version key sees) a check reads the small CRL index
(issuer, SHA-256) from the database and reuses the sets already parsed.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from cryptography import x509
from django.conf import settings
from django.utils import timezone

from apps.trust.crl import revoked_serials
from apps.trust.models import CertificateRevocationList, RevocationStatus
from apps.trust.snapshot import VersionedSnapshot

VERSION_KEY = "trust:crl:version"


@dataclass(frozen=True)
class RevocationDecision:
    allowed: bool
    status: str  # RevocationStatus: good | revoked | stale | unknown
    temporary: bool  # refused only for lack of a fresh CRL (CRL_HARD_FAIL): worth retrying later
    # Filled when refused (the accepted path builds no strings): upper-case hexadecimal serial, as
    # certificate viewers print it, and the subject and issuer DNs.
    serial: str
    subject_dn: str
    issuer_dn: str
    message: str  # French; empty when allowed

    @property
    def revoked(self) -> bool:
        return self.status == RevocationStatus.REVOKED


@dataclass(frozen=True)
class _IssuerCrl:
    sha256: str
    serials: frozenset[int]
    next_update: dt.datetime | None


_lock = threading.Lock()
# CRL SHA-256 -> (its issuer, its revoked serials), parsed once per process.
_parsed: dict[str, tuple[x509.Name, frozenset[int]]] = {}


def _load() -> dict[x509.Name, _IssuerCrl]:
    rows = CertificateRevocationList.objects.values_list("issuer_key", "sha256", "next_update")
    crls: dict[x509.Name, _IssuerCrl] = {}
    for key, sha256, next_update in rows:
        parsed = _parsed.get(sha256)
        if parsed is None:
            der = CertificateRevocationList.objects.values_list("der", flat=True).get(issuer_key=key)
            parsed = revoked_serials(bytes(der))
            with _lock:
                if len(_parsed) > 64:  # superseded CRLs are not kept forever
                    _parsed.clear()
                _parsed[sha256] = parsed
        issuer, serials = parsed
        crls[issuer] = _IssuerCrl(sha256, serials, next_update)
    return crls


# Keyed by the issuer's name: a certificate's own `issuer` looks it up.
_crl_snapshot = VersionedSnapshot(version_key=VERSION_KEY, load=_load, what="CRL index")


def bump_crl_version() -> None:
    """Tell every process to reload its sets; call it on commit of a stored CRL."""
    _crl_snapshot.bump()


def _crls() -> dict[x509.Name, _IssuerCrl]:
    if not getattr(settings, "CRL_PROCESS_CACHE", True):
        return _load()
    return _crl_snapshot.get()


_GOOD = RevocationDecision(True, RevocationStatus.GOOD, False, "", "", "", "")


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def _decision(certificate: x509.Certificate, status: str, allowed: bool, message: str) -> RevocationDecision:
    return RevocationDecision(
        allowed=allowed,
        status=status,
        temporary=not allowed and status != RevocationStatus.REVOKED,
        serial=serial_hex(certificate.serial_number) if not allowed else "",
        subject_dn=certificate.subject.rfc4514_string() if not allowed else "",
        issuer_dn=certificate.issuer.rfc4514_string() if not allowed else "",
        message=message,
    )


def check_revocation(certificate: x509.Certificate, *, now: dt.datetime | None = None) -> RevocationDecision:
    """Decide for one certificate (already verified to chain to a configured CA by TLS)."""
    entry = _crls().get(certificate.issuer)
    if entry is not None and certificate.serial_number in entry.serials:
        subject, serial = certificate.subject.rfc4514_string(), serial_hex(certificate.serial_number)
        return _decision(
            certificate,
            RevocationStatus.REVOKED,
            False,
            f"Le certificat n° {serial} ({subject}) a été révoqué par son autorité de certification.",
        )
    if entry is None:
        status = RevocationStatus.UNKNOWN
    elif entry.next_update is not None and entry.next_update <= (now or timezone.now()):
        status = RevocationStatus.STALE
    else:
        return _GOOD
    if not getattr(settings, "CRL_HARD_FAIL", False):
        return _decision(certificate, status, True, "")
    issuer = certificate.issuer.rfc4514_string()
    return _decision(
        certificate,
        status,
        False,
        f"La révocation du certificat n° {serial_hex(certificate.serial_number)} ne peut pas être vérifiée : "
        f"aucune liste de révocation à jour de l'autorité « {issuer} ». Réessayez plus tard.",
    )


# --- The state of the CRLs, for /healthz and the alerts --------------------------------------------------
@dataclass(frozen=True)
class StaleCrl:
    issuer_dn: str
    next_update: dt.datetime | None
    this_update: dt.datetime


def stale_crls(now: dt.datetime | None = None) -> list[StaleCrl]:
    """The stored CRLs past their nextUpdate: revocation checking is degraded for their CAs."""
    rows = CertificateRevocationList.objects.filter(next_update__lte=now or timezone.now()).order_by(
        "issuer_dn"
    )
    return [StaleCrl(row.issuer_dn, row.next_update, row.this_update) for row in rows]
