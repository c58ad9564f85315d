"""Periodic backup and the weekly restore drill (beat entries exist only when BACKUP_DIR is set).

Neither is `acks_late`: a backup outlives the broker's visibility timeout, and a redelivered copy would
start a second backup beside the first. A lost run is not lost data: the next period runs again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .services import BackupError, do_backup, do_prune_backups, finished_backups, periodic_directory
from .verify import do_verify_backup

logger = logging.getLogger(__name__)


@shared_task(acks_late=False, ignore_result=True)
def take_periodic_backup() -> str:
    root = Path(settings.BACKUP_DIR)
    try:
        run = do_backup(periodic_directory(root), say=logger.info)
    except BackupError as exc:
        logger.error("backup failed: %s", exc)
        return "failed"
    if run.status == "ok":
        do_prune_backups(root, settings.BACKUP_KEEP)
    return str(run.status)


@shared_task(acks_late=False, ignore_result=True)
def verify_latest_backup() -> str:
    backups = finished_backups(Path(settings.BACKUP_DIR))
    if not backups:
        logger.error("backup drill: no finished backup in BACKUP_DIR")
        return "none"
    run = do_verify_backup(backups[-1], say=logger.info, sample=settings.BACKUP_VERIFY_SAMPLE)
    logger.info("backup drill: %s", run.verdict)
    return str(run.status)
