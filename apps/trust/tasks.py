"""Celery tasks of the trust app: the daily liste blanche refresh (beat) and the admin's "refresh now"."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.accounts.models import User
from apps.trust.models import RefreshStatus
from apps.trust.services import do_import_liste_blanche


@shared_task(bind=True, max_retries=3, default_retry_delay=15 * 60, acks_late=True)
def import_liste_blanche(self, actor_id: int | None = None) -> int:  # noqa: ANN001
    """Import from settings.LISTE_BLANCHE_URL. A download failure is retried (15 min apart, admins mailed
    after the last try); a rejected or malformed file is not (it would be refused again; admins mailed)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    last_try = self.request.retries >= self.max_retries
    refresh = do_import_liste_blanche(
        str(settings.LISTE_BLANCHE_URL),
        checksum=settings.LISTE_BLANCHE_CHECKSUM_URL or None,
        acting_user=actor,
        mail_download_failure=last_try,  # one mail when ANS stays unreachable, not one per retry
    )
    if refresh.status == RefreshStatus.FAILED and refresh.reason_code == "download":
        raise self.retry()
    return refresh.pk


@shared_task(acks_late=True)
def refresh_crls() -> list[str]:
    """Beat, every CRL_REFRESH_EVERY_SECONDS: fetch the CRLs of the configured CAs (ADR 0018)."""
    from apps.trust.services_crl import do_refresh_crls

    return [outcome.line() for outcome in do_refresh_crls()]


@shared_task
def alert_stale_crls() -> int:
    """Beat, hourly: alert the administrators while a CRL is past its nextUpdate."""
    from apps.trust.services_crl import do_alert_stale_crls

    return do_alert_stale_crls()


@shared_task
def warn_own_certificates() -> list[tuple[str, int]]:
    """Beat, daily: warn 30, 14 and 3 days before one of the platform's certificates expires; forget the
    TLS failures older than 90 days."""
    from apps.trust.inventory import do_purge_tls_failures, do_warn_own_certificates

    do_purge_tls_failures()
    return do_warn_own_certificates()
