"""Celery tasks of the journal. Thin: one service call each."""

from __future__ import annotations

from celery import shared_task

from apps.audit.services import do_seal_pending


@shared_task(name="apps.audit.tasks.seal_events", ignore_result=True)
def seal_events() -> int:
    # Losing a run loses nothing (the next beat tick seals the same rows), so no retries or acks_late needed.
    return do_seal_pending()
