"""Local deliveries deposited in batches: one claim, one copy insert, one journal insert per batch.

The per-delivery path (`services_delivery.do_deliver`) stays for remote operators and retries; this is
the hot path of every local delivery (design.md §3, docs/decisions/0014-delivery-hot-path.md). A batch:
1. `claim_batch` takes up to DELIVERY_BATCH_SIZE due, queued, local deliveries in one
   `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`: concurrent depositors never
   claim the same row, and a claim is an attempt (attempts + 1), as in the per-delivery path.
2. The recipient rules (`check_recipient`, stage deposit) run per delivery; a refusal fails that delivery
   alone (French bounce to the sender).
3. In one transaction: `delivered` is set only WHERE state = 'sending' (a delivery taken back by the
   sweeper meanwhile is left to its new attempt), one copy per delivery that changed (the unique
   delivery key still forbids a second copy), the journal events, the usage of each BAL, and the transit
   key dropped from messages with no delivery left in transit.
A batch that fails as a whole (a database error) gives its deliveries back to the per-delivery task, with
its retries and back-off: a batch is an optimisation, never a new way to lose a message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone

from apps.audit.services import record_events
from apps.mailboxes.keys import mailbox_key, preload_mailbox_keys
from apps.mailboxes.quotas import do_add_usage_many
from apps.messaging.constants import DELIVER_TASK
from apps.messaging.delivery.deliver import (
    delivered_event,
    do_fail_delivery,
    drop_transit_keys,
    index_texts,
    new_copy,
    recipient_context,
)
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message
from apps.messaging.policies import check_recipient
from apps.messaging.recipient_policies import Refusal
from apps.messaging.store import content, search_index, uids
from apps.messaging.store.folders import preload_system_folders, system_folder_id
from mssante_lib import fastsql
from mssante_lib.jobs import enqueue

logger = logging.getLogger(__name__)
RETRY_AFTER_BATCH_FAILURE = 30


def claim_batch(limit: int | None = None) -> list[int]:
    """Claim due, queued, local deliveries (oldest first); returns their ids."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.QUEUED, is_local=True, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[: limit or settings.DELIVERY_BATCH_SIZE]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                state=DeliveryState.SENDING, state_changed_at=now, attempts=F("attempts") + 1
            )
    return sorted(ids)


def do_deliver_next_batch(limit: int | None = None) -> int:
    """Claim and deliver one batch; returns how many deliveries it claimed (0: nothing was due)."""
    ids = claim_batch(limit)
    if ids:
        do_deliver_claimed(ids)
    return len(ids)


def do_deliver_claimed(ids: list[int]) -> None:
    """Deliver deliveries this worker claimed (state sending)."""
    deliveries = list(
        Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENDING)
        .select_related("message", "message__from_mailbox", "message__sent_by", "recipient_mailbox")
        .order_by("pk")
    )
    accepted: list[Delivery] = []
    for delivery, refusal in screen(deliveries):
        if refusal is None:
            accepted.append(delivery)
        else:
            do_fail_delivery(delivery.pk, code=refusal.code, reason=refusal.message)
    if not accepted:
        return
    try:
        prepare_mailboxes({_mailbox_of(d) for d in accepted})
        do_deposit_many(accepted)
    except Exception:
        logger.exception("batch of %d deliveries failed: handed to the per-delivery task", len(accepted))
        _hand_over([d.pk for d in accepted])


def prepare_mailboxes(mailbox_ids: set[int]) -> None:
    """A BAL's key and folders are made on first use: make them here, each committed on its own, not inside
    the batch's transaction, where two batches creating keys for two BALs in opposite orders deadlocked
    (and a rolled-back creation must never be what a process has cached)."""
    ids = sorted(mailbox_ids)
    preload_mailbox_keys(ids)  # one query each for what is already there (a cold worker: 2, not 200)
    preload_system_folders(ids)
    for mailbox_id in ids:
        mailbox_key(mailbox_id)
        system_folder_id(mailbox_id, FolderRole.INBOX)


def screen(deliveries: list[Delivery]) -> list[tuple[Delivery, Refusal | None]]:
    """The recipient rules for each delivery; deposits earlier in the batch count against the quota."""
    mailboxes: dict[int, Any] = {}
    out: list[tuple[Delivery, Refusal | None]] = []
    for delivery in deliveries:
        if delivery.recipient_mailbox_id is None:  # deleted since submission
            message = f"L'adresse {delivery.recipient} n'existe plus sur notre plateforme."
            out.append((delivery, Refusal("unknown_mailbox", message)))
            continue
        # One Mailbox object per BAL in the batch, so the usage seen by the quota check grows as we go.
        mailbox = mailboxes.setdefault(delivery.recipient_mailbox_id, delivery.recipient_mailbox)
        assert mailbox is not None  # noqa: S101 — the id is set, so the row was selected with it
        delivery.recipient_mailbox = mailbox
        refusal = check_recipient(recipient_context(delivery))
        if refusal is None:
            mailbox.used_bytes += delivery.message.size
        out.append((delivery, refusal))
    return out


def do_deposit_many(deliveries: list[Delivery]) -> int:
    """Deposit claimed deliveries in one transaction; returns how many copies were made."""
    with transaction.atomic():
        mine = _mark_delivered([d.pk for d in deliveries])
        todo = [d for d in deliveries if d.pk in mine]
        index = _index_of([d.message for d in todo])
        copies = [new_copy(d.message, _mailbox_of(d), *index[d.message_id], delivery=d) for d in todo]
        uids.allocate(copies)  # one UPDATE … RETURNING per batch (IMAP UIDs, apps/messaging/store/uids.py)
        fastsql.insert(copies)
        record_events([delivered_event(d) for d in todo])
        usage: dict[int, int] = defaultdict(int)
        for delivery in todo:
            usage[_mailbox_of(delivery)] += delivery.message.size
        do_add_usage_many(usage)  # BAL rows locked in id order: two batches never deadlock on them
        drop_transit_keys(list({d.message_id for d in todo}))
    return len(todo)


def _index_of(messages: list[Message]) -> dict[Any, tuple[bytes, search_index.Terms]]:
    """Each message's data key and search terms, once for the batch however many of its recipients it
    holds (one stemming round trip for the lot)."""
    unique = list({m.pk: m for m in messages}.values())
    prefetch_related_objects([m for m in unique if m.has_attachments], "attachments")
    keys = [content.data_key_in_transit(m) for m in unique]
    terms = search_index.terms_many([index_texts(m, key) for m, key in zip(unique, keys, strict=True)])
    return {m.pk: (key, found) for m, key, found in zip(unique, keys, terms, strict=True)}


def _mark_delivered(ids: list[int]) -> set[int]:
    """Set `delivered` on those still `sending`; returns the ids that changed (ours to deposit)."""
    now = timezone.now()
    if connection.vendor != "postgresql":  # SQLite (`make run` default): one writer at a time anyway
        mine = set(
            Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENDING).values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=mine).update(
            state=DeliveryState.DELIVERED, state_changed_at=now, delivered_at=now, error_text=""
        )
        return mine
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, state_changed_at = %s, delivered_at = %s, error_text = '' "  # noqa: S608
            "WHERE id = ANY(%s) AND state = %s RETURNING id",
            [DeliveryState.DELIVERED, now, now, ids, DeliveryState.SENDING],
        )
        return {row[0] for row in cursor.fetchall()}


def _mailbox_of(delivery: Delivery) -> int:
    if delivery.recipient_mailbox_id is None:  # screened out before any deposit
        raise ValueError(f"delivery {delivery.pk} has no BAL")
    return delivery.recipient_mailbox_id


def _hand_over(ids: list[int]) -> None:
    """Give claimed deliveries back to the per-delivery task (its own retries and back-off)."""
    now = timezone.now()
    later = now + dt.timedelta(seconds=RETRY_AFTER_BATCH_FAILURE)
    Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENDING).update(
        state=DeliveryState.QUEUED, state_changed_at=now, next_attempt_at=later
    )
    for delivery_id in ids:
        try:
            enqueue(DELIVER_TASK, delivery_id, countdown=RETRY_AFTER_BATCH_FAILURE)
        except Exception:  # noqa: BLE001 — the sweeper re-queues what could not be published
            logger.warning("delivery %s: broker unavailable, left to the sweeper", delivery_id)
            return
