"""Celery tasks of the inbound gateway: thin, ids in, one service call each; retries live here."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.gateway import services

logger = logging.getLogger(__name__)


def backoff_seconds(attempts: int) -> int:
    """30 s, 1 min, 2 min, … capped at 30 min: a database or worker outage is waited out, not hammered."""
    return int(min(30 * 2 ** max(attempts - 1, 0), 1800))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def ingest_inbound(self, spool_id: str) -> str | None:  # noqa: ANN001
    """Deposit one spooled message; a run twice (redelivery, sweeper) never stores it twice."""
    try:
        message_id = services.do_ingest(spool_id)
    except services.SpoolCorrupt as exc:
        services.do_mark_failed(spool_id, str(exc))
        return None
    except Exception as exc:
        logger.warning("gateway: ingest of %s failed (%s: %s)", spool_id, type(exc).__name__, exc)
        attempts = services.do_record_attempt(spool_id, f"{type(exc).__name__}: {exc}")
        if attempts >= settings.GATEWAY_INGEST_MAX_ATTEMPTS:
            services.do_mark_failed(spool_id, f"{type(exc).__name__}: {exc}")
            return None
        raise self.retry(exc=exc, countdown=backoff_seconds(attempts)) from exc
    return None if message_id is None else str(message_id)


@shared_task(acks_late=True)
def sweep_spool() -> int:
    """Periodic: re-queue spooled messages whose ingest task was lost (broker outage, worker crash)."""
    return len(services.do_sweep_spool())
