"""The validation queue of applicative BALs (docs/decisions/0013-applicative-api.md).

Software submits through the API with `Outgoing(hold=True)`: the message is stored and filed in the BAL's
Envoyés, its deliveries wait in state HELD. The responsible professional reviews it (content and attachments
read through the BAL's own copy) and either validates it — the deliveries become QUEUED and are enqueued on
commit, so the ordinary pipeline sends them — or rejects it with a reason — the deliveries become FAILED
with that reason and nothing is ever sent. Each decision is journaled per message, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.mailboxes.models import Mailbox
from apps.mailboxes.policies import can_review_mailbox
from apps.messaging.models import Delivery, DeliveryState, Message
from apps.messaging.validation.selectors import (
    DECISION_CACHE_SECONDS,
    REJECTED_CODE,
    decision_cache_key,
    held_messages,
)

REASON_MAX_CHARS = 500
# "Tout valider" works through the queue in batches: one transaction per batch keeps locks short.
VALIDATE_ALL_BATCH = 200


def _remember_decision(message: Message, event: AuditEvent) -> None:
    """After commit: the API's status reads who decided and when without searching the journal."""
    value = (event.occurred_at.isoformat(), event.actor_label)
    key = decision_cache_key(message.pk)
    transaction.on_commit(lambda: cache.set(key, value, timeout=DECISION_CACHE_SECONDS))


def _check_reviewer(mailbox: Mailbox | None, acting_user: Any) -> Mailbox:
    if mailbox is None or not can_review_mailbox(acting_user, mailbox):
        raise PermissionDenied("Vous ne pouvez pas valider les messages de cette boîte aux lettres.")
    return mailbox


def _lock_held(message: Message) -> list[int]:
    """Ids of the message's deliveries still HELD, locked so two reviewers never decide twice."""
    return list(
        Delivery.objects.select_for_update()
        .filter(message=message, state=DeliveryState.HELD)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def do_validate_messages(messages: Iterable[Message], *, acting_user: Any) -> list[Message]:
    """Release the HELD deliveries of each message to the delivery pipeline; returns the messages released.

    A message already decided (validated or rejected by someone else meanwhile) is skipped silently.
    """
    from apps.messaging.delivery.submit import enqueue_deliveries

    released: list[Message] = []
    released_ids: list[int] = []
    with transaction.atomic():
        for message in messages:
            mailbox = _check_reviewer(message.from_mailbox, acting_user)
            ids = _lock_held(message)
            if not ids:
                continue
            now = timezone.now()
            Delivery.objects.filter(pk__in=ids).update(
                state=DeliveryState.QUEUED, state_changed_at=now, next_attempt_at=now
            )
            event = record_event(
                "message.validated",
                actor=acting_user,
                mailbox=mailbox,
                target=message,
                details={"deliveries": len(ids)},
            )
            _remember_decision(message, event)
            released.append(message)
            released_ids.extend(ids)
        if released_ids:
            transaction.on_commit(lambda: enqueue_deliveries(released_ids))
    return released


def do_validate_all(mailbox: Mailbox, *, acting_user: Any) -> int:
    """Validate every message waiting in the BAL's queue, batch by batch; returns how many were released."""
    _check_reviewer(mailbox, acting_user)
    total = 0
    while True:
        batch = list(held_messages(mailbox).select_related("from_mailbox")[:VALIDATE_ALL_BATCH])
        if not batch:
            return total
        released = do_validate_messages(batch, acting_user=acting_user)
        if not released:  # everything in the batch was decided concurrently: look again
            continue
        total += len(released)


def clean_reason(reason: str) -> str:
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise ValidationError({"reason": "Indiquez le motif du refus : le logiciel émetteur le recevra."})
    if len(cleaned) > REASON_MAX_CHARS:
        raise ValidationError({"reason": f"Le motif ne doit pas dépasser {REASON_MAX_CHARS} caractères."})
    return cleaned


def do_reject_message(message: Message, *, reason: str, acting_user: Any) -> bool:
    """Fail every HELD delivery of the message with the reviewer's reason; nothing is ever sent.

    No bounce is filed: the submitting software reads the refusal and its reason from the API status.
    Returns False when there was nothing left to reject (decided meanwhile).
    """
    reason = clean_reason(reason)
    mailbox = _check_reviewer(message.from_mailbox, acting_user)
    with transaction.atomic():
        ids = _lock_held(message)
        if not ids:
            return False
        now = timezone.now()
        Delivery.objects.filter(pk__in=ids).update(
            state=DeliveryState.FAILED,
            state_changed_at=now,
            failed_at=now,
            error_code=REJECTED_CODE,
            error_text=f"Refusé lors de la validation : {reason}"[:500],
        )
        _drop_transit_key_if_settled(message)
        # The reason is free text written by a professional: it stays on the deliveries, out of the journal.
        event = record_event(
            "message.rejected",
            actor=acting_user,
            mailbox=mailbox,
            target=message,
            details={"deliveries": len(ids)},
        )
        _remember_decision(message, event)
    return True


def _drop_transit_key_if_settled(message: Message) -> None:
    from apps.messaging.constants import TRANSIT_STATES

    if not Delivery.objects.filter(message=message, state__in=TRANSIT_STATES).exists():
        Message.objects.filter(pk=message.pk).update(transit_key_wrap=None)
