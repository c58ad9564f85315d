"""Celery tasks of the trust app: the daily liste blanche refresh (beat) and the admin's "refresh now"."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.accounts.models import User
from apps.trust.models import RefreshStatus
from apps.trust.services import do_import_liste_blanche


@shared_task(bind=True, max_retries=3, default_retry_delay=15 * 60, acks_late=True)
def import_liste_blanche(self, actor_id: int | None = None) -> int:  # noqa: ANN001
    """Import from settings.LISTE_BLANCHE_URL; a download failure is retried (15 min apart), a rejected or
    malformed file is not (the same file would be refused again; admins are alerted)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    refresh = do_import_liste_blanche(
        str(settings.LISTE_BLANCHE_URL),
        checksum=settings.LISTE_BLANCHE_CHECKSUM_URL or None,
        acting_user=actor,
    )
    if refresh.status == RefreshStatus.FAILED and refresh.reason_code == "download":
        raise self.retry()
    return refresh.pk
