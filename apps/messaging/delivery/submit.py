"""Submitting and receiving messages: the two ways content enters the platform (design.md §3).

`do_submit_message` serves the webmail, the applicative API and SMTP submission; `do_receive_message` the
inbound SMTP gateway. Both store the content once, encrypted with a fresh data key, create one `Delivery`
per recipient and enqueue their delivery on commit; the deposit into each BAL is `services_delivery`.
Nothing is accepted before it is durably stored: blobs are fsync'd before the row that names them commits.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.crypto.keys import new_data_key
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.messaging.constants import DELIVER_TASK
from apps.messaging.models import (
    Attachment,
    Delivery,
    DeliveryState,
    FolderRole,
    Message,
    MessageCopy,
    Origin,
)
from apps.messaging.policies import (
    FIN_VALUE,
    X_MSS_MES,
    can_send_from,
    check_recipient,
    closes_exchange,
    is_fin_subject,
    normalise_address,
)
from apps.messaging.recipient_policies import RecipientContext
from apps.messaging.store import content, mime, search_index, storage
from apps.messaging.store.folders import system_folder_id
from apps.messaging.store.text import make_snippet, references_of
from mssante_lib import fastsql
from mssante_lib.jobs import enqueue

logger = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """Nothing was sent. `refusals` maps each refused address to its French reason; `message` is general."""

    def __init__(self, message: str, refusals: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.refusals = refusals or {}


@dataclass
class Outgoing:
    mailbox: Mailbox
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    attachments: list[mime.PartSource] = field(default_factory=list)
    reply_to_copy: MessageCopy | None = None
    patient_ins: str = ""
    read_receipt: bool = False
    mss_headers: dict[str, str] = field(default_factory=dict)
    origin: str = Origin.WEBMAIL
    idempotency_key: str | None = None
    # Applicative BALs: deliveries wait in the validation queue (state HELD) until a professional validates.
    hold: bool = False
    # Filled by check_submission: each recipient's local BAL (None: remote).
    resolved: dict[str, Any] = field(default_factory=dict)


def _person_label(user: Any) -> str:
    return (user.get_full_name() or user.email) if user is not None else ""


def _from_header(mailbox: Mailbox) -> tuple[str, str]:
    owner = mailbox.owner if mailbox.owner_id else None
    name = mailbox.display_name or (owner.get_full_name() if owner is not None else "")
    return name, mailbox.address


def _sender_header(mailbox: Mailbox, user: Any) -> str:
    """Sending on behalf of a shared BAL: From is the BAL, Sender names the person (RFC 5322 §3.6.2)."""
    if user is None or mailbox.kind != MailboxKind.ORGANISATIONAL:
        return ""
    own = Mailbox.objects.filter(owner=user, kind=MailboxKind.NOMINATIVE).values_list("address", flat=True)
    address = own.first() or mailbox.address
    return f"{_person_label(user)} <{address}>"


def _recipients(outgoing: Outgoing) -> tuple[list[str], dict[str, str]]:
    seen: list[str] = []
    refusals: dict[str, str] = {}
    for raw in [*outgoing.to, *outgoing.cc, *outgoing.bcc]:
        try:
            address = normalise_address(raw)
        except ValueError as exc:
            refusals[raw] = str(exc)
            continue
        if address not in seen:
            seen.append(address)
    return seen, refusals


def _check_all(outgoing: Outgoing, addresses: list[str], acting_user: Any) -> dict[str, str]:
    refusals: dict[str, str] = {}
    reply = outgoing.reply_to_copy.message if outgoing.reply_to_copy else None
    for address in addresses:
        context = RecipientContext(
            sender_address=outgoing.mailbox.address,
            recipient_address=address,
            sender_mailbox=outgoing.mailbox,
            sender_user=acting_user,
            subject=outgoing.subject,
            headers=dict(outgoing.mss_headers),
            in_reply_to=reply.message_id if reply else "",
            references=tuple(references_of(reply)) if reply else (),
            stage="submit",
        )
        refusal = check_recipient(context)
        if refusal is not None:
            refusals[address] = refusal.message
        # Resolved once: the deliveries reuse the BAL the check found (None: another operator's address).
        outgoing.resolved[address] = context.recipient_mailbox
    return refusals


def check_submission(outgoing: Outgoing, *, acting_user: Any) -> list[str]:
    """Validate without storing: the normalised recipients, or SubmissionRefused (French reasons)."""
    if acting_user is not None and not can_send_from(acting_user, outgoing.mailbox):
        raise SubmissionRefused("Vous ne pouvez pas envoyer de message depuis cette boîte aux lettres.")
    if acting_user is None and outgoing.origin not in (Origin.API, Origin.SYSTEM):
        raise SubmissionRefused("Un envoi doit être fait par une personne identifiée.")
    if not outgoing.mailbox.is_active:
        raise SubmissionRefused("Cette boîte aux lettres est suspendue : l'envoi est impossible.")
    addresses, refusals = _recipients(outgoing)
    if not addresses and not refusals:
        raise SubmissionRefused("Indiquez au moins un destinataire.")
    refusals.update(_check_all(outgoing, addresses, acting_user))
    if refusals:
        raise SubmissionRefused(
            "Le message n'a pas été envoyé : certains destinataires sont refusés.", refusals
        )
    return addresses


def _headers(outgoing: Outgoing, message_id: str, acting_user: Any, now: Any) -> list[tuple[str, str]]:
    name, address = _from_header(outgoing.mailbox)
    reply = outgoing.reply_to_copy.message if outgoing.reply_to_copy else None
    refs = [*references_of(reply), reply.message_id] if reply else []
    headers = [
        ("From", f"{name} <{address}>" if name else address),
        ("Sender", _sender_header(outgoing.mailbox, acting_user)),
        ("To", ", ".join(outgoing.to)),
        ("Cc", ", ".join(outgoing.cc)),
        ("Subject", outgoing.subject),
        ("Date", mime.date_header(now)),
        ("Message-ID", message_id),
        ("In-Reply-To", reply.message_id if reply else ""),
        ("References", " ".join(refs)),
        ("Disposition-Notification-To", address if outgoing.read_receipt else ""),
    ]
    # X-MSS-NIL (the product's référence, Ref#2 ECO.2.4.3) goes on every message the platform emits.
    nil = (
        [("X-MSS-NIL", settings.MSS_NIL)]
        if settings.MSS_NIL and "X-MSS-NIL" not in outgoing.mss_headers
        else []
    )
    # A professional closing an exchange with [FIN] also sets X-MSS-MES: FIN, as MES prefers (ECO.2.2.8).
    fin = (
        [(X_MSS_MES, FIN_VALUE)]
        if is_fin_subject(outgoing.subject) and X_MSS_MES not in outgoing.mss_headers
        else []
    )
    return headers + nil + fin + sorted(outgoing.mss_headers.items())


@dataclass
class _Stored:
    raw: storage.StoredStream
    attachments: list[tuple[mime.PartSource, mime.WrittenPart]]


def _store_streams(outgoing: Outgoing, pk: uuid.UUID, data_key: bytes, headers: list) -> _Stored:
    """The raw message, encrypted; each attachment is stored once, inside it (read back by its range)."""
    raw, parts = storage.write_raw_message(
        pk,
        data_key,
        limit=settings.MESSAGE_MAX_BYTES,
        headers=headers,
        text=outgoing.text,
        html=outgoing.html,
        attachments=outgoing.attachments,
    )
    return _Stored(raw, list(zip(outgoing.attachments, parts, strict=True)))


def do_submit_message(outgoing: Outgoing, *, acting_user: Any) -> Message:
    """Store the message once (encrypted), file it in Envoyés, create one Delivery per recipient, enqueue.

    Raises SubmissionRefused (nothing stored) or storage.MessageTooLarge.
    """
    if outgoing.idempotency_key:
        existing = Message.objects.filter(idempotency_key=outgoing.idempotency_key).first()
        if existing is not None:
            return existing
    addresses = check_submission(outgoing, acting_user=acting_user)
    pk, data_key, now = uuid.uuid4(), new_data_key(), timezone.now()
    domain = outgoing.mailbox.domain
    message_id = mime.new_message_id(domain)
    headers = _headers(outgoing, message_id, acting_user, now)
    stored: _Stored | None = None
    try:
        with transaction.atomic():
            # Inside the transaction: small blobs are rows that commit with the message (one WAL flush).
            stored = _store_streams(outgoing, pk, data_key, headers)
            message = _create_message(outgoing, pk, data_key, message_id, headers, stored, acting_user, now)
            deliveries = _create_deliveries(message, addresses, outgoing.resolved, hold=outgoing.hold)
            _file_sent_copy(message, outgoing, data_key, acting_user, stored)
            record_event(
                "message.submitted",
                actor=acting_user,
                mailbox=outgoing.mailbox,
                target=message,
                details={
                    "recipients": addresses,
                    "size": message.size,
                    "sha256": message.sha256,
                    "origin": outgoing.origin,
                    "held": outgoing.hold,
                },
            )
            if not outgoing.hold:
                ids = [d.pk for d in deliveries]
                remote = [d.pk for d in deliveries if not d.is_local]
                transaction.on_commit(lambda: enqueue_deliveries(ids, remote_ids=remote))
    except BaseException:
        if stored is not None:  # files written for a transaction that did not commit
            storage.discard([stored.raw])
        raise
    return message


def _create_message(
    outgoing: Outgoing,
    pk: uuid.UUID,
    data_key: bytes,
    message_id: str,
    headers: list,
    stored: _Stored,
    acting_user: Any,
    now: Any,
) -> Message:
    reply = outgoing.reply_to_copy.message if outgoing.reply_to_copy else None
    name, address = _from_header(outgoing.mailbox)
    message = Message(
        id=pk,
        origin=outgoing.origin,
        message_id=message_id,
        in_reply_to=reply.message_id if reply else "",
        references=" ".join([*references_of(reply), reply.message_id]) if reply else "",
        sender_address=address,
        sender_name=name,
        from_mailbox=outgoing.mailbox,
        sent_by=acting_user,
        to_addresses=outgoing.to,
        cc_addresses=outgoing.cc,
        sent_at=now,
        created_at=now,
        size=stored.raw.size,
        sha256=stored.raw.sha256,
        subject_enc=content.seal_text(data_key, pk, "subject", outgoing.subject),
        snippet_enc=content.seal_text(data_key, pk, "snippet", make_snippet(outgoing.text)),
        body_text_enc=content.seal_text(data_key, pk, "text", outgoing.text),
        body_html_enc=content.seal_text(data_key, pk, "html", outgoing.html) if outgoing.html else None,
        headers_enc=content.seal_json(data_key, pk, "headers", [[k, v] for k, v in headers if v]),
        raw_blob=stored.raw.blob,
        has_attachments=bool(stored.attachments),
        wants_read_receipt=outgoing.read_receipt,
        is_fin=closes_exchange(outgoing.subject, outgoing.mss_headers),
        patient_ins=outgoing.patient_ins,
        mss_headers={k: v for k, v in outgoing.mss_headers.items() if k.upper().startswith("X-MSS-")},
        transit_key_wrap=content.wrap_transit(data_key, pk),
        idempotency_key=outgoing.idempotency_key,
    )
    fastsql.insert([message])
    attachments = [
        Attachment(
            message=message,
            position=position,
            filename_enc=content.seal_text(data_key, pk, f"filename-{position}", source.filename),
            content_type=source.content_type or "application/octet-stream",
            size=part.size,
            sha256=part.sha256,
            raw_start=part.start,
            raw_end=part.end,
        )
        for position, (source, part) in enumerate(stored.attachments)
    ]
    fastsql.insert(attachments)
    return message


def _create_deliveries(
    message: Message, addresses: list[str], resolved: dict[str, Any], *, hold: bool
) -> list[Delivery]:
    from apps.messaging.policies import resolve_recipient

    state = DeliveryState.HELD if hold else DeliveryState.QUEUED
    rows = []
    for address in addresses:
        mailbox = resolved[address] if address in resolved else resolve_recipient(address).mailbox
        rows.append(
            Delivery(
                message=message,
                recipient=address,
                recipient_mailbox=mailbox,
                is_local=mailbox is not None,
                state=state,
                created_at=message.created_at,
                state_changed_at=message.created_at,
                next_attempt_at=message.created_at,
            )
        )
    return list(fastsql.insert(rows))


def _file_sent_copy(
    message: Message, outgoing: Outgoing, data_key: bytes, acting_user: Any, stored: _Stored
) -> None:
    from apps.mailboxes.keys import mailbox_key
    from apps.mailboxes.quotas import do_add_usage
    from apps.messaging.store.threads import mark_replied, thread_root_for

    mailbox = outgoing.mailbox
    _version, key = mailbox_key(mailbox.pk)
    names = [source.filename for source, _ in stored.attachments]
    copy = MessageCopy(
        mailbox=mailbox,
        message=message,
        folder_id=system_folder_id(mailbox.pk, FolderRole.SENT),
        data_key_wrap=content.wrap_for_mailbox(data_key, message.pk, mailbox.pk),
        is_outgoing=True,
        is_read=True,
        received_at=message.created_at,
        thread_root=thread_root_for(mailbox.pk, message),
        search_tokens=search_index.build_tokens(
            key,
            full_text=[outgoing.text],
            prefix_text=[outgoing.subject, *names, *outgoing.to, *outgoing.cc],
        ),
    )
    fastsql.insert([copy])
    do_add_usage(mailbox.pk, message.size)
    if outgoing.reply_to_copy is not None:
        mark_replied(outgoing.reply_to_copy, acting_user)


def enqueue_deliveries(delivery_ids: list[int], *, remote_ids: list[int] | None = None) -> None:
    """Runs after commit: wake the batch depositor for local deliveries, one task per remote delivery.

    The deliveries are already durable, so a broker outage must not fail the request: the sweeper
    re-queues whatever could not be enqueued once the broker is back. `remote_ids` (those of
    `delivery_ids` bound to another operator) is looked up when the caller does not know it.
    """
    from apps.messaging.delivery import wake

    if not delivery_ids:
        return
    try:
        remote = set(
            Delivery.objects.filter(pk__in=delivery_ids, is_local=False).values_list("pk", flat=True)
            if remote_ids is None
            else remote_ids
        )
    except Exception:  # noqa: BLE001 — the database went away after the commit: the sweeper catches up
        logger.warning("deliveries %s: not enqueued, left to the sweeper", delivery_ids, exc_info=True)
        return
    if len(remote) < len(delivery_ids):
        wake.wake()
    for delivery_id in sorted(remote):
        try:
            enqueue(DELIVER_TASK, delivery_id)
        except Exception:  # noqa: BLE001 — kombu raises many kinds when Redis is down
            logger.warning("delivery %s: broker unavailable, left to the sweeper", delivery_id, exc_info=True)
            return


__all__ = ["Outgoing", "SubmissionRefused", "do_submit_message", "enqueue_deliveries"]
