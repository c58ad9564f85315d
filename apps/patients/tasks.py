"""Celery tasks of the patients app: notices outside the trust space, automatic returns on closing.

Ids in, one service call; every task is idempotent (a notice is claimed before it is sent, a delivery
before it is returned), so a retry or a duplicate run does no harm.
"""

from __future__ import annotations

from celery import shared_task

from apps.patients import notices, services


@shared_task(acks_late=True)
def notify_patients() -> int:
    """Beat job: "vous avez un nouveau message" to every patient with unread mail since their last notice."""
    return notices.do_send_new_message_notices()


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=300)
def notify_profile_closed_task(self, profile_id: int) -> bool:  # noqa: ANN001
    sent = notices.do_send_closed_notice(profile_id)
    if not sent and notices.closed_notice_due(profile_id):
        raise self.retry()  # the relay failed; no address, or a reopened profile, is final
    return sent


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=60)
def return_pending_deliveries_task(self, profile_id: int) -> int:  # noqa: ANN001
    """The automatic return of the messages still waiting for a profile that has just been closed."""
    return services.do_return_pending_deliveries(profile_id)
