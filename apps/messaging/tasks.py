"""Celery tasks of messaging: ids in, one service call, retries here (design.md §2)."""

from __future__ import annotations

import time

from celery import current_app, shared_task
from django.conf import settings

from apps.messaging.delivery import wake
from apps.messaging.delivery.batch import do_deliver_next_batch
from apps.messaging.delivery.deliver import RETRY_DELAYS, do_deliver, do_sweep_deliveries
from apps.messaging.delivery.transports import TemporaryFailure

DEPOSIT_ROUNDS = 50


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_message(self, delivery_id: int) -> str:  # noqa: ANN001
    try:
        return do_deliver(delivery_id)
    except TemporaryFailure as exc:
        delay = RETRY_DELAYS[min(self.request.retries, len(RETRY_DELAYS) - 1)]
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deposit_queued() -> int:
    """Deposit local deliveries batch after batch until none is due (the flag: delivery/wake.py)."""
    done = 0
    for _ in range(DEPOSIT_ROUNDS):
        wake.clear()
        claimed = do_deliver_next_batch()
        if not claimed:
            return done
        wake.hold()  # we claim again below: submitters need not publish another task meanwhile
        done += claimed
        if claimed < settings.DELIVERY_BATCH_SIZE and not current_app.conf.task_always_eager:
            time.sleep(settings.DELIVERY_BATCH_LINGER_MS / 1000)  # let the next batch gather
    wake.wake()  # still busy: a fresh task takes over, so one task never holds a worker child for ever
    return done


@shared_task(acks_late=True)
def sweep_deliveries() -> int:
    from apps.messaging.delivery.submit import enqueue_deliveries

    ids = do_sweep_deliveries()
    enqueue_deliveries(ids)
    return len(ids)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20)
def send_read_receipt(self, copy_id: int, user_id: int | None) -> bool:  # noqa: ANN001
    """The MDN of one read copy to a sender at another operator (apps/messaging/delivery/receipts.py)."""
    from django.db import DatabaseError

    from apps.messaging.delivery.receipts import do_send_remote_read_receipt

    try:
        return do_send_remote_read_receipt(copy_id, user_id) is not None
    except DatabaseError as exc:
        delay = RETRY_DELAYS[min(self.request.retries, len(RETRY_DELAYS) - 1)]
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task
def purge_orphan_messages() -> int:
    from apps.messaging.webmail.services import do_purge_orphan_messages

    return do_purge_orphan_messages()


@shared_task
def collect_orphan_blobs() -> int:
    from apps.messaging.store.blob_collector import do_collect_orphan_blobs

    return do_collect_orphan_blobs()


@shared_task(acks_late=True)
def index_dense_tokens() -> int:
    """Daily: the dense search tokens of every large folder, one task per folder."""
    from apps.messaging.store.dense_tokens import large_folders

    folder_ids = large_folders()
    for folder_id in folder_ids:
        index_folder_dense_tokens.delay(folder_id)
    return len(folder_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def index_folder_dense_tokens(folder_id: int) -> dict[str, int]:
    from apps.messaging.store.dense_tokens import do_index_dense_tokens

    return do_index_dense_tokens(folder_id)


deliver_message_task = deliver_message
sweep_deliveries_task = sweep_deliveries
