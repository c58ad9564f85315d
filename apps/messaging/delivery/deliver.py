"""The delivery state machine: queued -> sending -> delivered | failed (held: waiting for validation).

Each attempt claims its Delivery with a conditional UPDATE, so two workers (a retried task and a sweeper
re-queue, say) never both work on it; the deposit itself is idempotent (one copy per delivery, enforced by
a unique key), so even a claim that raced a crash cannot make two copies. PostgreSQL is the truth: the
sweeper re-queues deliveries left queued or sending too long, so a lost task never loses a message.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import build_event, record_event, record_events
from apps.mailboxes.keys import mailbox_key
from apps.mailboxes.quotas import do_add_usage
from apps.messaging.delivery.receipts import is_from_remote_sender, schedule_remote_read_receipt
from apps.messaging.delivery.transports import PermanentFailure, TemporaryFailure, get_transport
from apps.messaging.models import Delivery, DeliveryState, FolderRole, Message, MessageCopy
from apps.messaging.policies import check_recipient
from apps.messaging.recipient_policies import RecipientContext, Refusal
from apps.messaging.store import content, search_index, uids
from apps.messaging.store.folders import system_folder_id
from apps.messaging.store.text import references_of
from mssante_lib import fastsql

logger = logging.getLogger(__name__)
RETRY_DELAYS = [30, 60, 300, 900, 1800, 3600]


def claim(delivery_id: int) -> bool:
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery_id, state=DeliveryState.QUEUED).update(
            state=DeliveryState.SENDING, state_changed_at=now, attempts=F("attempts") + 1
        )
    )


def do_deliver(delivery_id: int) -> str:
    """One attempt; returns the resulting state. Raises TemporaryFailure for the task to retry."""
    if not claim(delivery_id):
        return Delivery.objects.filter(pk=delivery_id).values_list("state", flat=True).first() or "missing"
    delivery = Delivery.objects.select_related(
        "message", "message__from_mailbox", "message__sent_by", "recipient_mailbox"
    ).get(pk=delivery_id)
    if delivery.is_local:
        try:
            return _deliver_local(delivery)
        except DatabaseError:  # a lost connection, a deadlock: retried with back-off, never left "sending"
            logger.exception("delivery %s: database error during the deposit", delivery.pk)
            return _requeue_or_fail(delivery, "Erreur temporaire lors du dépôt ; nouvel essai prévu.")
    return _deliver_remote(delivery)


def _deliver_remote(delivery: Delivery) -> str:
    try:
        get_transport().send(delivery)
    except PermanentFailure as exc:
        do_fail_delivery(delivery.pk, code=exc.code, reason=str(exc), remote_detail=exc.remote_detail)
        return DeliveryState.FAILED
    except TemporaryFailure as exc:
        return _requeue_or_fail(delivery, str(exc))
    except Exception:  # noqa: BLE001 — a bug or a missing blob: retried, never left "sending"
        logger.exception("delivery %s: unexpected error in the remote transport", delivery.pk)
        return _requeue_or_fail(delivery, "Erreur interne lors de l'envoi ; nouvel essai prévu.")
    with transaction.atomic():
        _set_delivered(delivery)
    return DeliveryState.DELIVERED


def _requeue_or_fail(delivery: Delivery, reason: str) -> str:
    if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        do_fail_delivery(
            delivery.pk, code="expired", reason=f"Remise impossible après plusieurs essais : {reason}"
        )
        return DeliveryState.FAILED
    delay = RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.QUEUED,
        state_changed_at=now,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        error_text=reason[:500],
    )
    raise TemporaryFailure(reason)


def recipient_context(delivery: Delivery) -> RecipientContext:
    """The recipient rules' view of a delivery at deposit (the batch depositor screens with it too)."""
    message = delivery.message
    return RecipientContext(
        sender_address=message.sender_address,
        recipient_address=delivery.recipient,
        recipient_mailbox=delivery.recipient_mailbox,
        sender_mailbox=message.from_mailbox,
        sender_user=message.sent_by,
        subject="",  # the subject is encrypted; policies needing it run at submission/RCPT time
        headers=dict(message.mss_headers),
        in_reply_to=message.in_reply_to,
        references=tuple(references_of(message)),
        size=message.size,
        stage="deposit",
    )


def _deliver_local(delivery: Delivery) -> str:
    refusal: Refusal | None = check_recipient(recipient_context(delivery))
    mailbox_id = delivery.recipient_mailbox_id
    if refusal is None and mailbox_id is None:  # deleted since submission (address reused or not)
        refusal = Refusal(
            "unknown_mailbox", f"L'adresse {delivery.recipient} n'existe plus sur notre plateforme."
        )
    if refusal is not None or mailbox_id is None:
        reason = refusal or Refusal("unknown_mailbox", "BAL supprimée")
        do_fail_delivery(delivery.pk, code=reason.code, reason=reason.message)
        return DeliveryState.FAILED
    try:
        with transaction.atomic():
            locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
            if locked.state != DeliveryState.SENDING:
                return locked.state
            if not MessageCopy.objects.filter(delivery_id=delivery.pk).exists():
                do_deposit(delivery.message, mailbox_id, delivery=delivery)
            _set_delivered(delivery)
    except IntegrityError:  # a concurrent attempt deposited the same delivery first: that copy stands
        logger.info("delivery %s: already deposited by a concurrent attempt", delivery.pk)
        return DeliveryState.DELIVERED
    return DeliveryState.DELIVERED


def _set_delivered(delivery: Delivery) -> None:
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.DELIVERED, state_changed_at=now, delivered_at=now, error_text=""
    )
    record_events([delivered_event(delivery)])
    drop_transit_keys([delivery.message_id])


def delivered_event(delivery: Delivery) -> AuditEvent:
    return build_event(
        "message.delivered",
        mailbox=delivery.message.from_mailbox,
        target=delivery.message,
        details={"recipient": delivery.recipient},
        actor_label="plateforme",
    )


def drop_transit_keys(message_ids: list[Any]) -> None:
    """Forget the transit key of each message none of whose deliveries is still in transit.

    The message rows are locked first (in primary-key order): two deliveries (or batches) finishing the
    last two deliveries of one message would otherwise each still see the other in transit and both keep
    the key.
    """
    from apps.messaging.constants import TRANSIT_STATES

    if not message_ids:
        return
    list(Message.objects.select_for_update().filter(pk__in=message_ids).order_by("pk").values_list("pk"))
    in_transit = Delivery.objects.filter(message_id=OuterRef("pk"), state__in=TRANSIT_STATES)
    Message.objects.filter(pk__in=message_ids, transit_key_wrap__isnull=False).exclude(
        Exists(in_transit)
    ).update(transit_key_wrap=None)


def do_deposit(
    message: Message,
    mailbox_id: int,
    *,
    delivery: Delivery | None = None,
    folder_role: str = FolderRole.INBOX,
) -> MessageCopy:
    """Put a copy of `message` in a BAL: wrap its data key for the BAL, index it, count its size."""
    data_key = content.data_key_in_transit(message)
    (terms,) = search_index.terms_many([index_texts(message, data_key)])
    copy = new_copy(message, mailbox_id, data_key, terms, delivery=delivery, folder_role=folder_role)
    uids.allocate([copy])
    fastsql.insert([copy])
    do_add_usage(mailbox_id, message.size)
    return copy


def new_copy(
    message: Message,
    mailbox_id: int,
    data_key: bytes,
    terms: search_index.Terms,
    *,
    delivery: Delivery | None,
    folder_role: str = FolderRole.INBOX,
) -> MessageCopy:
    """The copy a deposit inserts (unsaved): the data key wrapped for the BAL, its thread, its tokens."""
    from apps.messaging.store.threads import thread_root_for

    _version, key = mailbox_key(mailbox_id)
    return MessageCopy(
        mailbox_id=mailbox_id,
        message=message,
        folder_id=system_folder_id(mailbox_id, folder_role),
        delivery=delivery,
        data_key_wrap=content.wrap_for_mailbox(data_key, message.pk, mailbox_id),
        received_at=timezone.now(),
        thread_root=thread_root_for(mailbox_id, message),
        search_tokens=search_index.tokens_for(key, terms),
    )


def index_texts(message: Message, data_key: bytes) -> tuple[list[str], list[str]]:
    """What a received copy is indexed by: the body in full; subject, sender and file names as prefixes."""
    pk = message.pk
    names = [
        content.open_text(data_key, pk, f"filename-{a.position}", a.filename_enc)
        for a in (message.attachments.all() if message.has_attachments else [])
    ]
    return (
        [content.open_text(data_key, pk, "text", message.body_text_enc)],
        [
            content.open_text(data_key, pk, "subject", message.subject_enc),
            message.sender_name,
            message.sender_address,
            *names,
        ],
    )


def do_fail_delivery(delivery_id: int, *, code: str, reason: str, remote_detail: str = "") -> None:
    """Permanent failure: the state, the reason on the sender's timeline, and a bounce in their inbox."""
    from apps.messaging.delivery.bounce import do_bounce

    with transaction.atomic():
        now = timezone.now()
        updated = (
            Delivery.objects.filter(pk=delivery_id)
            .exclude(state=DeliveryState.FAILED)
            .update(
                state=DeliveryState.FAILED,
                state_changed_at=now,
                failed_at=now,
                error_code=code[:40],
                error_text=reason[:500],
                remote_detail=remote_detail[:500],
            )
        )
        if not updated:
            return
        delivery = Delivery.objects.select_related("message").get(pk=delivery_id)
        record_event(
            "message.delivery_failed",
            mailbox=delivery.message.from_mailbox,
            target=delivery.message,
            outcome="failure",
            details={"recipient": delivery.recipient, "code": code},
            actor_label="plateforme",
        )
        do_bounce(delivery)
        drop_transit_keys([delivery.message_id])


def do_record_read(copy: MessageCopy, *, user: Any) -> None:
    """The first read of a received copy: the sender's timeline shows it if a receipt was asked and the
    reader's preference allows returning it (RFC 8098: never automatic against the reader's wish)."""
    message = copy.message
    if not message.wants_read_receipt or getattr(user, "read_receipt_policy", "always") == "never":
        return
    if copy.delivery_id is not None:
        Delivery.objects.filter(pk=copy.delivery_id, read_at__isnull=True).update(read_at=timezone.now())
    if is_from_remote_sender(message):  # no timeline here: the remote sender gets an MDN (RFC 8098)
        schedule_remote_read_receipt(copy, user)


def do_sweep_deliveries(*, now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    """Re-queue deliveries whose task was lost (queued, due, untouched) or whose worker died (sending)."""
    now = now or timezone.now()
    stuck_before = now - dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER)
    stuck = Q(state=DeliveryState.SENDING, state_changed_at__lt=stuck_before) | Q(
        state=DeliveryState.QUEUED, state_changed_at__lt=stuck_before, next_attempt_at__lte=now
    )
    rows = list(
        Delivery.objects.filter(stuck).order_by("state_changed_at").values_list("pk", "attempts")[:limit]
    )
    # A delivery that keeps dying (a crash every attempt) must end in a bounce, not loop for ever.
    for pk, attempts in rows:
        if attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            do_fail_delivery(pk, code="expired", reason="Remise impossible après plusieurs essais.")
    ids = [pk for pk, attempts in rows if attempts < settings.DELIVERY_MAX_ATTEMPTS]
    if ids:
        Delivery.objects.filter(pk__in=ids).filter(stuck).update(
            state=DeliveryState.QUEUED, state_changed_at=now
        )
        logger.warning("delivery sweeper: re-queued %d deliveries", len(ids))
    return ids
