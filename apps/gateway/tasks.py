"""Celery tasks of the inbound gateway: thin, ids in, one service call each; retries live here."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings

from apps.gateway import services

logger = logging.getLogger(__name__)


def backoff_seconds(attempts: int) -> int:
    """30 s, 1 min, 2 min, … capped at 30 min: a database or worker outage is waited out, not hammered."""
    return int(min(30 * 2 ** max(attempts - 1, 0), 1800))


class _RetryLater(Exception):
    def __init__(self, countdown: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.countdown, self.cause = countdown, cause


def _ingest_one(spool_id: str) -> str | None:
    """Ingest one spooled message; raises _RetryLater on a passing failure (attempt already counted)."""
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
        raise _RetryLater(backoff_seconds(attempts), exc) from exc
    return None if message_id is None else str(message_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def ingest_inbound(self, spool_id: str) -> str | None:  # noqa: ANN001
    """Deposit one spooled message; a run twice (redelivery, sweeper) never stores it twice."""
    try:
        return _ingest_one(spool_id)
    except _RetryLater as retry:
        raise self.retry(exc=retry.cause, countdown=retry.countdown) from retry.cause


INGEST_ROUNDS = 50


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ingest_inbound_batch(spool_ids: list[str]) -> int:
    """Ingest the spool in batches (one transaction each): the rows `spool_ids` (a group commit's, or the
    sweeper's), then any other row not yet attempted, until none is left; returns how many were stored.

    A message set aside from its batch goes on alone, as `ingest_inbound` would (its attempt counted and a
    retry with its back-off): it does not hold the others back.
    """
    from apps.gateway.ingest_batch import batch_size, do_ingest_batch

    stored = claimed_given = 0
    given = list(spool_ids)
    partial = False
    for _ in range(INGEST_ROUNDS):
        ids, given = (given[: batch_size()], given[batch_size() :]) if given else (None, [])
        if ids is None and partial:
            # The last batch was not full: let the next one fill for a moment. Each batch costs ~16 round
            # trips and a commit whatever its size; a worker that keeps pace with the gateway claimed one
            # or two messages at a time, and its CPU per message starved the gateway (ADR 0022).
            time.sleep(fill_seconds())
        outcome = do_ingest_batch(ids)
        stored += outcome.stored
        for spool_id, error in outcome.corrupt:
            services.do_mark_failed(spool_id, error)
        for spool_id in outcome.set_aside:
            stored += _ingest_alone(spool_id)
        partial = outcome.claimed < batch_size()
        if ids is not None:
            claimed_given += outcome.claimed
            if not given and not claimed_given:
                # Every row this task was published for is taken already: by a batch that goes on until
                # no row is left (each row's own publish comes after its commit, so a row committed after
                # that batch's last claim has a task of its own). Nothing to wait for here.
                return stored
        elif not outcome.claimed:
            return stored
    _publish_batch([])  # still busy: a fresh task takes over, so one task never holds a worker child for ever
    return stored


def fill_seconds() -> float:
    """How long a batch that was not full waits before claiming the next one (GATEWAY_INGEST_FILL_MS)."""
    return max(int(getattr(settings, "GATEWAY_INGEST_FILL_MS", 0)), 0) / 1000


def _ingest_alone(spool_id: str) -> int:
    try:
        return int(_ingest_one(spool_id) is not None)
    except _RetryLater as retry:
        try:
            ingest_inbound.apply_async(args=[spool_id], countdown=retry.countdown, retry=False)
        except Exception:
            logger.warning("gateway: could not schedule the retry of %s; the sweeper will", spool_id)
    return 0


def _publish_batch(spool_ids: list[str]) -> None:
    try:
        ingest_inbound_batch.apply_async(args=[spool_ids], retry=False)
    except Exception:
        logger.warning("gateway: could not publish the next ingest batch; the sweeper will")


@shared_task(acks_late=True)
def sweep_spool() -> int:
    """Periodic: re-queue spooled messages whose ingest task was lost (broker outage, worker crash)."""
    return len(services.do_sweep_spool())


@shared_task(acks_late=True)
def purge_ingested_spool() -> int:
    """Periodic: delete ingested spool rows past their retention, and resend keys past theirs."""
    from apps.gateway.dedup import do_purge_dedup_keys

    return services.do_purge_ingested_spool() + do_purge_dedup_keys()
