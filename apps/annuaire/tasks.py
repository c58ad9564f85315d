"""Celery tasks of the annuaire app: the daily import of the configured extractions (beat)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.annuaire.download import DownloadError, local_copy
from apps.annuaire.services import do_import_annuaire

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=3, default_retry_delay=30 * 60, acks_late=True)
def import_annuaire_sources(self) -> list[dict]:
    """Import each source of settings.ANNUAIRE_IMPORT_SOURCE in order (MSSanté file after the activity file
    is best: BALs then link to fresh professionals). A download failure is retried; a refused file (20 %
    guard, unknown format) is not: the same file would be refused again, and the refusal is journaled."""
    summaries = []
    for source in settings.ANNUAIRE_IMPORT_SOURCE:
        try:
            with local_copy(source) as path:
                result = do_import_annuaire(str(path))
        except DownloadError as exc:
            raise self.retry(exc=exc) from exc
        logger.info("annuaire import %s: %s", source, result.as_details())
        summaries.append(result.as_details())
    return summaries
