"""Celery tasks of the BAL operations: thin, ids in, one service call each.

The daily lifecycle run and the monthly snapshot are idempotent (a second run the same day finds nothing
left to do, or rewrites the same month), so neither needs acks_late; the quota warning retries on a mail
transport failure.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.mailboxes import indicators, lifecycle, quotas


@shared_task(name="apps.mailboxes.tasks.run_mailbox_lifecycle", ignore_result=True)
def run_mailbox_lifecycle() -> int:
    steps = lifecycle.run_lifecycle(timezone.localdate())
    return len(steps)


@shared_task(name="apps.mailboxes.tasks.snapshot_monthly_indicators", ignore_result=True)
def snapshot_monthly_indicators() -> str:
    snapshot = indicators.do_snapshot_month(indicators.previous_month(timezone.localdate()))
    return snapshot.month.isoformat()


@shared_task(
    name="apps.mailboxes.tasks.send_quota_warning",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=8,
)
def send_quota_warning_task(mailbox_id: int, level: int) -> int:
    return quotas.send_quota_warning(mailbox_id, level)
