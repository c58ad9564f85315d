"""Reads of the trust app for the liste blanche page."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from apps.trust.models import ListeBlancheRefresh, OperatorCertificateDN, RefreshStatus, TrustedDomain


def get_counts() -> dict[str, int]:
    return TrustedDomain.objects.aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        inactive=Count("pk", filter=Q(is_active=False)),
    ) | {
        "dns": OperatorCertificateDN.objects.filter(is_active=True, domain__is_active=True).count(),
    }


def get_last_refresh() -> ListeBlancheRefresh | None:
    return ListeBlancheRefresh.objects.select_related("actor").first()


def get_last_applied_refresh() -> ListeBlancheRefresh | None:
    return ListeBlancheRefresh.objects.filter(status=RefreshStatus.APPLIED).select_related("actor").first()


def list_refreshes_kept_previous(limit: int = 10) -> list[ListeBlancheRefresh]:
    """Refused or failed attempts, newest first: what the admin must look at."""
    return list(
        ListeBlancheRefresh.objects.exclude(status=RefreshStatus.APPLIED).select_related("actor")[:limit]
    )


def list_recent_refreshes(limit: int = 10) -> list[ListeBlancheRefresh]:
    return list(ListeBlancheRefresh.objects.select_related("actor")[:limit])


def search_domains(query: str = "", *, include_inactive: bool = False) -> QuerySet[TrustedDomain]:
    """Domains by name (either spelling), description or operator DN, with their DNs prefetched."""
    domains = (
        TrustedDomain.objects.all() if include_inactive else TrustedDomain.objects.filter(is_active=True)
    )
    query = query.strip()
    if query:
        domains = domains.filter(
            Q(name__icontains=query)
            | Q(name_unicode__icontains=query)
            | Q(description__icontains=query)
            | Q(certificate_dns__dn__icontains=query, certificate_dns__is_active=True)
        ).distinct()
    active_dns = OperatorCertificateDN.objects.filter(is_active=True).order_by("dn")
    return domains.order_by("name").prefetch_related(
        Prefetch("certificate_dns", queryset=active_dns, to_attr="listed_dns")
    )
