"""Reads of the trust app for the certificate inventory and the per-operator TLS failures pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from apps.trust.models import CertificateRevocationList, SeenCertificate, TlsFailure
from apps.trust.revocation import check_revocation

RECENT_FAILURES = dt.timedelta(days=30)


def list_crls() -> list[CertificateRevocationList]:
    return list(CertificateRevocationList.objects.defer("der").order_by("issuer_dn"))


def search_seen_certificates(query: str = "") -> QuerySet[SeenCertificate]:
    certificates = SeenCertificate.objects.order_by("-last_seen")
    query = query.strip()
    if query:
        certificates = (
            certificates.filter(subject_dn__icontains=query)
            | certificates.filter(remote__icontains=query)
            | certificates.filter(serial__iexact=query)
        )
    return certificates


def with_current_status(certificates: list[SeenCertificate]) -> list[tuple[SeenCertificate, str]]:
    """Each certificate with its revocation status against the CRLs held now (not when it was seen)."""
    return [
        (seen, check_revocation(x509.load_der_x509_certificate(bytes(seen.der))).status)
        for seen in certificates
    ]


@dataclass(frozen=True)
class RemoteFailures:
    remote: str
    count: int
    last: dt.datetime


def remotes_with_failures(since: dt.datetime | None = None) -> list[RemoteFailures]:
    """Remote operators (server names, or API credential prefixes) with TLS failures recently."""
    since = since or timezone.now() - RECENT_FAILURES
    rows = (
        TlsFailure.objects.filter(occurred_at__gte=since)
        .values("remote")
        .annotate(count=Count("pk"), last=Max("occurred_at"))
        .order_by("-last")
    )
    return [RemoteFailures(row["remote"], row["count"], row["last"]) for row in rows]


def failures_of(remote: str, limit: int = 200) -> list[TlsFailure]:
    return list(TlsFailure.objects.filter(remote=remote)[:limit])
