"""Writes of the trust app: importing the liste blanche, asking for a refresh.

An import is all-or-nothing: download (or read) and verify the file, parse it completely, compare with the
active list, then either apply every change in one transaction or keep the previous list untouched. Every
attempt leaves a ListeBlancheRefresh row and a journal event; one that keeps the previous list also alerts
(log error, journal "trust.refresh_rejected", notice on the admin page, mail to operator admins).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import Outcome
from apps.audit.services import record_event
from apps.trust import alerts, sources
from apps.trust.models import ListeBlancheRefresh, OperatorCertificateDN, RefreshStatus, TrustedDomain
from apps.trust.parser import ListeBlancheFormatError, ParsedDomain, ParsedList, parse_liste_blanche
from apps.trust.policies import bump_liste_blanche_version
from mssante_lib.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)

# Serialises concurrent imports (daily beat + an admin's button) on PostgreSQL; SQLite serialises writers.
_ADVISORY_LOCK_ID = 0x7472_7573_7421


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dn_changes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"added": self.added, "removed": self.removed, "dn_changes": self.dn_changes}


def compute_diff(current: dict[str, dict[str, str]], parsed: ParsedList) -> Diff:
    """`current` maps each active domain to {normalised DN: raw DN}; raw DNs are kept for display."""
    diff = Diff(
        added=sorted(set(parsed.domains) - set(current)),
        removed=sorted(set(current) - set(parsed.domains)),
    )
    for name in sorted(set(current) & set(parsed.domains)):
        before, after = current[name], parsed.domains[name].dns
        if set(before) != set(after):
            diff.dn_changes[name] = {
                "added": sorted(after[key] for key in set(after) - set(before)),
                "removed": sorted(before[key] for key in set(before) - set(after)),
            }
    return diff


def _current_state() -> dict[str, dict[str, str]]:
    state: dict[str, dict[str, str]] = {
        name: {} for name in TrustedDomain.objects.filter(is_active=True).values_list("name", flat=True)
    }
    rows = OperatorCertificateDN.objects.filter(is_active=True, domain__is_active=True).values_list(
        "domain__name", "dn_normalised", "dn"
    )
    for name, normalised, raw in rows:
        state[name][normalised] = raw
    return state


def _guard(current: dict, diff: Diff, parsed: ParsedList) -> tuple[str, str] | None:
    """Why this refresh must not replace the current list, as (code, French reason); None when it may."""
    ratio = float(getattr(settings, "LISTE_BLANCHE_MAX_DROP_RATIO", 0.20))
    if current and len(diff.removed) / len(current) > ratio:
        return "drop_ratio", (
            f"Le nouveau fichier retirerait {len(diff.removed)} domaines sur {len(current)} actifs "
            f"({len(diff.removed) / len(current):.0%}), au-delà du seuil de {ratio:.0%} : "
            "fichier suspect, liste précédente conservée."
        )
    last = ListeBlancheRefresh.objects.filter(
        status=RefreshStatus.APPLIED, generated_at__isnull=False
    ).first()
    if last and last.generated_at and parsed.generated_at and parsed.generated_at < last.generated_at:
        return "older", (
            f"Le fichier a été généré le {timezone.localtime(parsed.generated_at):%d/%m/%Y %H:%M}, avant la "
            f"liste en vigueur (générée le {timezone.localtime(last.generated_at):%d/%m/%Y %H:%M}) : "
            "liste précédente conservée."
        )
    return None


_DOMAIN_FIELDS = [
    "name_unicode",
    "description",
    "responsable_contact",
    "support_contact",
    "date_maj",
    "is_active",
    "deactivated_at",
]


def _domain_values(parsed: ParsedDomain) -> dict:
    return {
        "name_unicode": parsed.name_unicode,
        "description": parsed.description,
        "responsable_contact": parsed.responsable_contact,
        "support_contact": parsed.support_contact,
        "date_maj": parsed.date_maj,
        "is_active": True,
        "deactivated_at": None,
    }


def _apply_domains(parsed: ParsedList, removed: list[str], now: dt.datetime) -> dict[str, TrustedDomain]:
    rows = {row.name: row for row in TrustedDomain.objects.all()}
    created, changed = [], []
    for name, domain in parsed.domains.items():
        row = rows.get(name)
        if row is None:
            row = TrustedDomain(name=name, first_seen=now, last_seen=now)
            created.append(row)
        fields = _domain_values(domain)
        if row.pk is None or any(getattr(row, key) != value for key, value in fields.items()):
            for key, value in fields.items():
                setattr(row, key, value)
            if row.pk is not None:
                changed.append(row)
        rows[name] = row
    TrustedDomain.objects.bulk_create(created, batch_size=1000)
    TrustedDomain.objects.bulk_update(changed, _DOMAIN_FIELDS, batch_size=1000)
    removed_ids = [rows[name].pk for name in removed]
    for start in range(0, len(removed_ids), 500):
        TrustedDomain.objects.filter(pk__in=removed_ids[start : start + 500]).update(
            is_active=False, deactivated_at=now
        )
    TrustedDomain.objects.filter(is_active=True).update(last_seen=now)
    return rows


def _apply_dns(parsed: ParsedList, rows: dict[str, TrustedDomain], now: dt.datetime) -> None:
    existing = {(dn.domain_id, dn.dn_normalised): dn for dn in OperatorCertificateDN.objects.all()}
    listed: set[tuple[int, str]] = set()
    created, changed = [], []
    for name, domain in parsed.domains.items():
        domain_id = rows[name].pk
        for normalised, raw in domain.dns.items():
            key = (domain_id, normalised)
            listed.add(key)
            date_maj = domain.dn_dates.get(normalised)
            row = existing.get(key)
            if row is None:
                created.append(
                    OperatorCertificateDN(
                        domain_id=domain_id,
                        dn=raw,
                        dn_normalised=normalised,
                        date_maj=date_maj,
                        first_seen=now,
                        last_seen=now,
                    )
                )
            elif not row.is_active or row.dn != raw or row.date_maj != date_maj:
                row.is_active, row.dn, row.date_maj = True, raw, date_maj
                changed.append(row)
    OperatorCertificateDN.objects.bulk_create(created, batch_size=1000)
    OperatorCertificateDN.objects.bulk_update(changed, ["is_active", "dn", "date_maj"], batch_size=1000)
    gone = [row.pk for key, row in existing.items() if row.is_active and key not in listed]
    for start in range(0, len(gone), 500):
        OperatorCertificateDN.objects.filter(pk__in=gone[start : start + 500]).update(is_active=False)
    OperatorCertificateDN.objects.filter(is_active=True).update(last_seen=now)


def _fill_counts(refresh: ListeBlancheRefresh, parsed: ParsedList, diff: Diff) -> None:
    refresh.generated_at = parsed.generated_at
    refresh.entry_count = parsed.entry_count
    refresh.domain_count = len(parsed.domains)
    refresh.dn_count = parsed.dn_count
    refresh.added_count = len(diff.added)
    refresh.removed_count = len(diff.removed)
    refresh.dn_changed_count = len(diff.dn_changes)
    refresh.diff = diff.as_json()
    refresh.notes = list(parsed.notes)


def _counts(refresh: ListeBlancheRefresh) -> dict:
    return {
        "source": refresh.source,
        "sha256": refresh.sha256,
        "checksum_verified": refresh.checksum_verified,
        "entries": refresh.entry_count,
        "domains": refresh.domain_count,
        "dns": refresh.dn_count,
        "added": refresh.added_count,
        "removed": refresh.removed_count,
        "dn_changed": refresh.dn_changed_count,
        "forced": refresh.forced,
    }


def _keep_previous(
    refresh: ListeBlancheRefresh, status: str, code: str, reason: str, *, mail: bool = True
) -> ListeBlancheRefresh:
    """Record an attempt that leaves the current list untouched, and alert (log, journal, page, mail)."""
    refresh.status, refresh.reason_code, refresh.reason = status, code, reason
    refresh.finished_at = timezone.now()
    logger.error(
        "trust: liste blanche refresh from %s kept the previous list (%s): %s", refresh.source, code, reason
    )
    with transaction.atomic():
        refresh.save()
        record_event(
            "trust.refresh_rejected",
            actor=refresh.actor,
            target=refresh,
            outcome=Outcome.DENIED if status == RefreshStatus.REJECTED else Outcome.FAILURE,
            details={**_counts(refresh), "status": status, "reason_code": code, "reason": reason},
        )
        if mail:
            transaction.on_commit(lambda: alerts.alert_refresh_kept_previous(refresh.pk))
    return refresh


def _apply_or_reject(refresh: ListeBlancheRefresh, parsed: ParsedList, force: bool) -> ListeBlancheRefresh:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_ID])
        current = _current_state()
        diff = compute_diff(current, parsed)
        _fill_counts(refresh, parsed, diff)
        refused = None if force else _guard(current, diff, parsed)
        if refused:
            return _keep_previous(refresh, RefreshStatus.REJECTED, *refused)
        now = timezone.now()
        rows = _apply_domains(parsed, diff.removed, now)
        _apply_dns(parsed, rows, now)
        refresh.status, refresh.finished_at = RefreshStatus.APPLIED, timezone.now()
        if force:
            refresh.notes.append("Import forcé : garde-fous (retraits massifs, fichier plus ancien) ignorés.")
        refresh.save()
        record_event(
            "trust.liste_blanche_imported", actor=refresh.actor, target=refresh, details=_counts(refresh)
        )
        transaction.on_commit(bump_liste_blanche_version)
    return refresh


def do_import_liste_blanche(
    source: str,
    *,
    checksum: str | None = None,
    force: bool = False,
    acting_user=None,  # noqa: ANN001
    mail_download_failure: bool = True,
) -> ListeBlancheRefresh:
    """Import the ANS liste blanche from a path or an HTTPS URL; `checksum` is the path/URL of ANS's SHA-256
    `checksum` file. Returns the refresh record whatever happens: check its `status`.
    `mail_download_failure=False` lets a task that will retry skip the mail for a transient download error
    (the attempt is still logged, journaled and shown); refused or broken files always mail."""
    refresh = ListeBlancheRefresh(
        source=str(source)[:1000], checksum_source=(checksum or "")[:1000], forced=force, actor=acting_user
    )
    stage = "download"
    try:
        with sources.fetch(str(source)) as fetched:
            refresh.sha256 = fetched.sha256
            if checksum:
                stage = "checksum"
                expected = sources.read_checksum(checksum)
                if expected != fetched.sha256:
                    raise sources.SourceError(
                        f"La somme de contrôle SHA-256 ne correspond pas : attendue {expected}, "
                        f"calculée {fetched.sha256}. Fichier altéré ou incomplet."
                    )
                refresh.checksum_verified = True
            stage = "malformed"
            parsed = parse_liste_blanche(fetched.chunks())
    except (sources.SourceError, ListeBlancheFormatError) as exc:
        mail = mail_download_failure or stage != "download"
        return _keep_previous(refresh, RefreshStatus.FAILED, stage, str(exc), mail=mail)
    return _apply_or_reject(refresh, parsed, force)


def do_request_liste_blanche_refresh(*, acting_user) -> None:  # noqa: ANN001
    """An operator admin asks for a refresh now: audited, then the task runs once the request commits."""
    with transaction.atomic():
        record_event(
            "trust.refresh_requested", actor=acting_user, details={"source": settings.LISTE_BLANCHE_URL}
        )
        actor_id = acting_user.pk
        enqueue_on_commit("apps.trust.tasks.import_liste_blanche", task_kwargs={"actor_id": actor_id})
