"""Writes of the trust app about CRLs: the periodic refresh and the hourly staleness alert (ADR 0018).

Each source of `apps.trust.crl.sources` is fetched and checked (signature against its issuer among the
configured CAs); a CRL newer than the one held for its issuer (higher CRL number, else later thisUpdate)
replaces it, in a transaction, and every process reloads its revoked serials (`bump_crl_version` on
commit). Every source leaves one journal event `trust.crl_refresh` saying what happened to it (stored,
unchanged, older, rejected, failed); a CRL that is rejected for its content (bad signature, unknown issuer,
unreadable, incoherent dates) also alerts the administrators: someone may be serving a forged list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from cryptography import x509
from django.db import transaction
from django.utils import timezone

from apps.audit.models import Outcome
from apps.audit.services import record_event
from apps.trust import cert_alerts, crl
from apps.trust.models import CertificateRevocationList, SeenCertificate
from apps.trust.revocation import bump_crl_version, stale_crls

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrlOutcome:
    source: str
    result: str  # stored | unchanged | older | rejected | failed
    issuer_dn: str = ""
    reason: str = ""

    def line(self) -> str:
        issuer = f" ({self.issuer_dn})" if self.issuer_dn else ""
        return f"{self.result}: {self.source}{issuer}" + (f" — {self.reason}" if self.reason else "")


def _seen_urls() -> list[str]:
    urls: list[str] = []
    for entry in SeenCertificate.objects.exclude(crl_urls=[]).values_list("crl_urls", flat=True):
        urls.extend(entry)
    return urls


def do_refresh_crls() -> list[CrlOutcome]:
    """Fetch every CRL source once; returns what happened to each."""
    issuers = crl.ca_certificates()
    outcomes = [_refresh_one(source, issuers) for source in crl.sources(_seen_urls())]
    if not outcomes:
        logger.info("trust: no CRL source configured or found in the CA certificates")
    return outcomes


def _refresh_one(source: str, issuers: list[x509.Certificate]) -> CrlOutcome:
    try:
        checked = crl.check(crl.read_source(source), source, issuers)
    except crl.CrlRejected as exc:
        return _refused(source, exc)
    with transaction.atomic():
        outcome = _store(source, checked)
        record_event(
            "trust.crl_refresh",
            target_type="trust.certificaterevocationlist",
            target_id=crl.issuer_key(checked.crl.issuer),
            details={
                "source": source,
                "result": outcome.result,
                "issuer": outcome.issuer_dn,
                "this_update": checked.this_update.isoformat(),
                "next_update": checked.next_update.isoformat() if checked.next_update else None,
                "revoked": len(checked.crl),
            },
        )
        if outcome.result == "stored":
            transaction.on_commit(bump_crl_version)
    logger.info("trust: CRL %s", outcome.line())
    return outcome


def _is_newer(checked: crl.CheckedCrl, current: CertificateRevocationList) -> bool:
    if checked.number is not None and current.number is not None and checked.number != int(current.number):
        return checked.number > int(current.number)
    return checked.this_update > current.this_update


def _store(source: str, checked: crl.CheckedCrl) -> CrlOutcome:
    key, issuer_dn = crl.issuer_key(checked.crl.issuer), checked.crl.issuer.rfc4514_string()
    sha256 = hashlib.sha256(checked.der).hexdigest()
    current = CertificateRevocationList.objects.select_for_update().filter(issuer_key=key).first()
    if current is not None and current.sha256 == sha256:
        return CrlOutcome(source, "unchanged", issuer_dn)
    if current is not None and not _is_newer(checked, current):
        return CrlOutcome(source, "older", issuer_dn, "une LCR plus récente est déjà chargée")
    CertificateRevocationList.objects.update_or_create(
        issuer_key=key,
        defaults={
            "issuer_dn": issuer_dn,
            "number": checked.number,
            "this_update": checked.this_update,
            "next_update": checked.next_update,
            "revoked_count": len(checked.crl),
            "der": checked.der,
            "sha256": sha256,
            "source": source[:1000],
            "fetched_at": timezone.now(),
        },
    )
    return CrlOutcome(source, "stored", issuer_dn)


def _refused(source: str, exc: crl.CrlRejected) -> CrlOutcome:
    result = "failed" if exc.code == "download" else "rejected"
    logger.error("trust: CRL from %s %s (%s): %s", source, result, exc.code, exc)
    record_event(
        "trust.crl_refresh",
        outcome=Outcome.FAILURE,
        target_type="trust.certificaterevocationlist",
        details={"source": source, "result": result, "code": exc.code, "reason": str(exc)},
    )
    if result == "rejected":  # a download failure is covered by the staleness alert, not mailed each hour
        cert_alerts.mail_admins(
            "Liste de révocation refusée",
            "Une liste de révocation (LCR) téléchargée a été refusée et ignorée :",
            lines=[str(exc)],
            consequence="La LCR précédente de cette autorité reste utilisée. Vérifiez la source configurée.",
        )
    return CrlOutcome(source, result, reason=str(exc))


def do_alert_stale_crls(now: dt.datetime | None = None) -> int:
    """The hourly alert while a CRL is past its nextUpdate: a journal event per CA and one mail listing
    them. Returns the number of stale CRLs."""
    stale = stale_crls(now)
    for entry in stale:
        record_event(
            "trust.crl_stale",
            outcome=Outcome.FAILURE,
            target_type="trust.certificaterevocationlist",
            details={
                "issuer": entry.issuer_dn,
                "next_update": entry.next_update.isoformat() if entry.next_update else None,
            },
        )
        logger.error("trust: the CRL of %s is past its nextUpdate (%s)", entry.issuer_dn, entry.next_update)
    if stale:
        lines = [
            f"{entry.issuer_dn} : à mettre à jour depuis le "
            f"{timezone.localtime(entry.next_update):%d/%m/%Y à %H:%M}"
            for entry in stale
            if entry.next_update
        ]
        cert_alerts.mail_admins(
            "Listes de révocation périmées",
            "Les listes de révocation (LCR) suivantes n'ont pas pu être renouvelées à temps :",
            lines=lines,
            consequence=(
                "Les certificats déjà révoqués restent refusés ; les autres sont acceptés tant qu'aucune LCR "
                "à jour n'est chargée (ou tous refusés si CRL_HARD_FAIL est activé). Cette alerte est "
                "renouvelée toutes les heures."
            ),
        )
    return len(stale)
