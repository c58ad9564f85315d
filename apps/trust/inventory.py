"""The certificate inventory: the platform's own certificates, the peer certificates seen on each TLS path,
and the TLS failures with other operators (issue 18).

Peer certificates are recorded when met (`note_certificate`), at most once per CERT_INVENTORY_TOUCH_SECONDS
per process and certificate: the gateway meets the same certificates at every message, and a write per
message would cost more than the message's own checks. Own certificates are read from their files.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.utils import timezone

from apps.audit.models import AuditEvent, Outcome
from apps.audit.services import record_event
from apps.trust import cert_alerts, crl
from apps.trust.models import SeenCertificate, TlsFailure
from apps.trust.revocation import RevocationDecision, check_revocation, serial_hex

logger = logging.getLogger(__name__)

# Days before one of our certificates expires when the administrators are warned (each threshold once).
EXPIRY_WARNING_DAYS = (30, 14, 3)

_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def note_certificate(
    certificate: x509.Certificate, *, path: str, remote: str, decision: RevocationDecision | None = None
) -> None:
    """Record (or refresh) a peer certificate met on `path` (inbound | outbound | api); never raises."""
    key = f"{fingerprint(certificate)}:{path}"
    now = time.monotonic()
    every = float(getattr(settings, "CERT_INVENTORY_TOUCH_SECONDS", 300))
    with _touched_lock:
        if now - _touched.get(key, -every) < every:
            return
        if len(_touched) > 10_000:
            _touched.clear()
        _touched[key] = now
    try:
        _upsert(certificate, path, remote, decision or check_revocation(certificate))
    except Exception:  # the inventory must never make a TLS path fail
        logger.exception("trust: could not record the certificate of %s in the inventory", remote)
        with _touched_lock:
            _touched.pop(key, None)


def _upsert(certificate: x509.Certificate, path: str, remote: str, decision: RevocationDecision) -> None:
    seen, created = SeenCertificate.objects.get_or_create(
        fingerprint=fingerprint(certificate),
        defaults={
            "subject_dn": certificate.subject.rfc4514_string(),
            "issuer_dn": certificate.issuer.rfc4514_string(),
            "serial": serial_hex(certificate.serial_number),
            "not_before": certificate.not_valid_before_utc,
            "not_after": certificate.not_valid_after_utc,
            "der": certificate.public_bytes(Encoding.DER),
            "crl_urls": crl.distribution_points(certificate),
            "paths": [path],
            "remote": remote[:253],
            "revocation_status": decision.status,
        },
    )
    if not created:
        seen.paths = sorted(set(seen.paths) | {path})
        seen.remote, seen.revocation_status, seen.last_seen = remote[:253], decision.status, timezone.now()
        seen.save(update_fields=["paths", "remote", "revocation_status", "last_seen"])


def record_tls_failure(
    *,
    direction: str,
    remote: str,
    reason_code: str,
    reason: str,
    certificate: x509.Certificate | None = None,
) -> None:
    """Keep one failed or refused TLS exchange for the per-operator page; never raises."""
    try:
        TlsFailure.objects.create(
            direction=direction,
            remote=(remote or "?")[:253],
            peer_dn=certificate.subject.rfc4514_string() if certificate is not None else "",
            serial=serial_hex(certificate.serial_number) if certificate is not None else "",
            reason_code=reason_code[:40],
            reason=reason[:2000],
        )
    except Exception:
        logger.exception("trust: could not record a TLS failure with %s", remote)


def do_purge_tls_failures(keep_days: int = 90) -> int:
    """Daily: forget TLS failures older than `keep_days` (the page shows the last 30 days)."""
    deleted, _ = TlsFailure.objects.filter(
        occurred_at__lt=timezone.now() - dt.timedelta(days=keep_days)
    ).delete()
    return deleted


# --- Our own certificates ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnCertificate:
    path: str
    subject_dn: str
    issuer_dn: str
    serial: str
    fingerprint: str
    not_after: dt.datetime
    days_left: int
    warning: int | None  # the threshold reached (30, 14, 3), 0 once expired, None when far off
    revocation: RevocationDecision


def warning_threshold(days_left: int) -> int | None:
    """The smallest of EXPIRY_WARNING_DAYS not below `days_left`; 0 when expired; None when further off."""
    if days_left < 0:
        return 0
    reached = [days for days in EXPIRY_WARNING_DAYS if days_left <= days]
    return min(reached) if reached else None


def own_certificates(now: dt.datetime | None = None) -> list[OwnCertificate]:
    now = now or timezone.now()
    found: list[OwnCertificate] = []
    for path in crl.own_certificate_files():
        try:
            certificate = x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
        except (OSError, ValueError, IndexError) as exc:
            logger.error("trust: cannot read our certificate %s: %s", path, exc)
            continue
        days_left = (certificate.not_valid_after_utc - now).days
        found.append(
            OwnCertificate(
                path=path,
                subject_dn=certificate.subject.rfc4514_string(),
                issuer_dn=certificate.issuer.rfc4514_string(),
                serial=serial_hex(certificate.serial_number),
                fingerprint=fingerprint(certificate),
                not_after=certificate.not_valid_after_utc,
                days_left=days_left,
                warning=warning_threshold(days_left),
                revocation=check_revocation(certificate, now=now),
            )
        )
    return found


def do_warn_own_certificates(now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """Daily: journal and mail once per certificate and threshold reached; returns (path, threshold)."""
    warned = []
    for own in own_certificates(now):
        if own.warning is None or _already_warned(own.fingerprint, own.warning):
            continue
        record_event(
            "trust.own_certificate_expiring",
            outcome=Outcome.FAILURE,
            target_type="trust.owncertificate",
            target_id=own.fingerprint,
            details={"path": own.path, "threshold": own.warning, "not_after": own.not_after.isoformat()},
        )
        when = "a expiré" if own.warning == 0 else f"expire dans {own.days_left} jour(s)"
        cert_alerts.mail_admins(
            f"Certificat de la plateforme : {when}",
            f"Le certificat {own.subject_dn} (n° {own.serial}, fichier {own.path}) {when}, "
            f"le {timezone.localtime(own.not_after):%d/%m/%Y}.",
            consequence="Demandez et installez son renouvellement auprès de l'IGC-Santé avant cette date : "
            "sans lui, les autres opérateurs refuseront nos connexions.",
        )
        warned.append((own.path, own.warning))
    return warned


def _already_warned(fingerprint_hex: str, threshold: int) -> bool:
    return AuditEvent.objects.filter(
        action="trust.own_certificate_expiring",
        target_id=fingerprint_hex,
        details__threshold=threshold,
    ).exists()
