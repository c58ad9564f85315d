"""Drafts: a message being written, saved as the user types, encrypted like a sent message.

A draft has its own data key, wrapped for its BAL (`content.wrap_for_mailbox`, the draft id standing for the
message id in every AAD), so a draft is as unreadable at rest as a message. Its fields are one sealed JSON
document; its attachments are streamed, encrypted, into the blob store while they are uploaded
(apps.messaging.compose.uploads). Sending builds an `Outgoing`, calls `do_submit_message` and deletes the
draft; a refused submission keeps it untouched.

Journal: creating, attaching, removing, deleting and sending are recorded; the content updates of autosave
are not, on purpose: a draft is its author's private work in progress and an event every few seconds of
typing would drown the BAL's journal without telling anything the submission does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.annuaire.identifiers import IdentifierError, check_ins
from apps.audit.services import record_event
from apps.crypto import keys as crypto_keys
from apps.mailboxes.keys import mailbox_key
from apps.mailboxes.models import Mailbox
from apps.messaging.delivery.submit import Outgoing, SubmissionRefused, do_submit_message
from apps.messaging.models import Draft, DraftAttachment, Message, MessageCopy
from apps.messaging.policies import FIN_MARKER, FIN_VALUE, X_MSS_MES, is_fin_subject
from apps.messaging.store import content, mime, storage

DRAFT_FIELD = "draft"
ATTACHMENT_PART = "draft-attachment"
# base64 turns 57 bytes into 76 characters and a CRLF: the share of MESSAGE_MAX_BYTES files may take,
# less some room for the headers and the text, so an accepted upload does not make the message too large.
_B64_IN, _B64_OUT = 57, 78
TEXT_HEADROOM = 256 * 1024


@dataclass
class DraftContent:
    """What the author typed. Addresses are kept as typed: they are checked when the message is sent."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    patient_ins: str = ""
    read_receipt: bool = False
    close_exchange: bool = False  # [FIN]: the professional ends a patient exchange
    from_mailbox_id: int | None = None
    forward_of: int | None = None  # the copy whose attachments were re-attached

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DraftContent:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in (data or {}).items() if key in known})

    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


@dataclass(frozen=True)
class DraftKeying:
    """A draft's id and data key, known before its row exists so that an upload can stream into it."""

    draft_id: uuid.UUID
    data_key: bytes
    draft: Draft | None = None

    @classmethod
    def new(cls) -> DraftKeying:
        return cls(uuid.uuid4(), crypto_keys.new_data_key())

    @classmethod
    def of(cls, draft: Draft) -> DraftKeying:
        return cls(draft.pk, data_key_of_draft(draft), draft)


@dataclass(frozen=True)
class UploadedPart:
    filename: str
    content_type: str
    stored: storage.StoredStream


def data_key_of_draft(draft: Draft) -> bytes:
    _version, key = mailbox_key(draft.mailbox_id, create=False)
    return crypto_keys.unwrap_data_key(
        bytes(draft.data_key_wrap), key, message_id=str(draft.pk), mailbox_id=draft.mailbox_id
    )


def open_draft(draft: Draft, data_key: bytes | None = None) -> DraftContent:
    key = data_key if data_key is not None else data_key_of_draft(draft)
    return DraftContent.from_json(content.open_json(key, draft.pk, DRAFT_FIELD, draft.content_enc))


def attachment_filename(draft_id: object, attachment: DraftAttachment, data_key: bytes) -> str:
    return content.open_text(data_key, draft_id, f"filename-{attachment.blob}", attachment.filename_enc)


def attachment_chunks(draft_id: object, attachment: DraftAttachment, data_key: bytes) -> Iterator[bytes]:
    return storage.read_stream(draft_id, ATTACHMENT_PART, attachment.blob, data_key)


def attachment_budget(draft: Draft | None) -> int:
    """How many more plaintext bytes of files the draft may take before the encoded message is too large."""
    limit = settings.MESSAGE_MAX_BYTES * _B64_IN // _B64_OUT - TEXT_HEADROOM
    used = 0
    if draft is not None:
        used = draft.attachments.aggregate(total=Sum("size"))["total"] or 0
    return max(limit - used, 0)


def write_attachment(
    keying: DraftKeying, chunks: Iterable[bytes], *, limit: int | None
) -> storage.StoredStream:
    """Encrypt a file into the blob store under the draft's key (raises storage.MessageTooLarge)."""
    return storage.write_stream(keying.draft_id, ATTACHMENT_PART, chunks, keying.data_key, limit=limit)


def _forwarded_parts(copy: MessageCopy, keying: DraftKeying) -> list[UploadedPart]:
    """Re-encrypt the original's attachments under the draft's key, streamed from the blob store."""
    message = copy.message
    message_key = content.data_key_of_copy(copy)
    parts: list[UploadedPart] = []
    try:
        for attachment in message.attachments.all():
            name = content.open_text(
                message_key, message.pk, f"filename-{attachment.position}", attachment.filename_enc
            )
            chunks = storage.read_attachment(
                message.pk,
                attachment.position,
                attachment.blob,
                attachment.raw_range(message.raw_blob),
                message_key,
            )
            parts.append(
                UploadedPart(name, attachment.content_type, write_attachment(keying, chunks, limit=None))
            )
    except BaseException:
        storage.discard(part.stored for part in parts)
        raise
    return parts


def _upsert(mailbox: Mailbox, data: DraftContent, keying: DraftKeying, author: Any, reply_to: Any) -> Draft:
    sealed = content.seal_json(keying.data_key, keying.draft_id, DRAFT_FIELD, asdict(data))
    now = timezone.now()
    if keying.draft is not None:
        Draft.objects.filter(pk=keying.draft_id).update(content_enc=sealed, updated_at=now)
        draft = keying.draft
        draft.content_enc, draft.updated_at = sealed, now
        return draft
    draft = Draft.objects.create(
        id=keying.draft_id,
        mailbox=mailbox,
        author=author,
        data_key_wrap=content.wrap_for_mailbox(keying.data_key, keying.draft_id, mailbox.pk),
        content_enc=sealed,
        reply_to_copy=reply_to,
        created_at=now,
        updated_at=now,
    )
    record_event(
        "draft.created",
        actor=author,
        mailbox=mailbox,
        target=draft,
        details={"reply_to_copy": getattr(reply_to, "pk", None), "forward_of": data.forward_of},
    )
    return draft


def _attach(draft: Draft, keying: DraftKeying, parts: list[UploadedPart], author: Any) -> None:
    for part in parts:
        DraftAttachment.objects.create(
            draft=draft,
            filename_enc=content.seal_text(
                keying.data_key, draft.pk, f"filename-{part.stored.blob}", part.filename
            ),
            content_type=part.content_type or "application/octet-stream",
            size=part.stored.size,
            sha256=part.stored.sha256,
            blob=part.stored.blob,
        )
        record_event(
            "draft.attachment_added",
            actor=author,
            mailbox=draft.mailbox,
            target=draft,
            details={"size": part.stored.size, "sha256": part.stored.sha256},
        )


def do_save_draft(
    mailbox: Mailbox,
    data: DraftContent,
    *,
    acting_user: Any,
    keying: DraftKeying,
    uploads: list[UploadedPart] | None = None,
    reply_to_copy: MessageCopy | None = None,
    forward_copy: MessageCopy | None = None,
) -> Draft:
    """Create (`keying.draft` is None) or update a draft, attaching blobs already written under its key.

    The caller has checked that the user may write in `mailbox` and read `reply_to_copy`/`forward_copy`.
    A forwarded message's attachments are copied once, when the draft is created.
    """
    parts = list(uploads or [])
    if keying.draft is None and forward_copy is not None:
        data.forward_of = forward_copy.pk
        parts += _forwarded_parts(forward_copy, keying)
    try:
        with transaction.atomic():
            if keying.draft is not None:
                Draft.objects.select_for_update().filter(pk=keying.draft_id).first()
            draft = _upsert(mailbox, data, keying, acting_user, reply_to_copy)
            _attach(draft, keying, parts, acting_user)
    except BaseException:
        storage.discard(part.stored for part in parts)
        raise
    return draft


def do_remove_draft_attachment(draft: Draft, attachment_id: int, *, acting_user: Any) -> bool:
    with transaction.atomic():
        attachment = DraftAttachment.objects.filter(draft=draft, pk=attachment_id).first()
        if attachment is None:
            return False
        blob = attachment.blob
        attachment.delete()
        Draft.objects.filter(pk=draft.pk).update(updated_at=timezone.now())
        record_event("draft.attachment_removed", actor=acting_user, mailbox=draft.mailbox, target=draft)
        transaction.on_commit(lambda: storage.release([blob]))
    return True


def do_delete_draft(draft: Draft, *, acting_user: Any, reason: str = "deleted") -> None:
    """Delete the draft; its blobs go once the deletion is committed (a rollback keeps them readable)."""
    with transaction.atomic():
        blobs = list(DraftAttachment.objects.filter(draft=draft).values_list("blob", flat=True))
        record_event(
            "draft.deleted",
            actor=acting_user,
            mailbox=draft.mailbox,
            target=draft,
            details={"reason": reason},
        )
        Draft.objects.filter(pk=draft.pk).delete()
        transaction.on_commit(lambda: storage.release(blobs))


def _sending_mailbox(draft: Draft, data: DraftContent) -> Mailbox:
    """A reply leaves from the BAL that received the original; otherwise the BAL chosen in From."""
    if draft.reply_to_copy is not None:
        return draft.reply_to_copy.mailbox
    if data.from_mailbox_id in (None, draft.mailbox_id):
        return draft.mailbox
    chosen = Mailbox.objects.filter(pk=data.from_mailbox_id).first()
    if chosen is None:
        raise SubmissionRefused("Choisissez la boîte aux lettres depuis laquelle envoyer le message.")
    return chosen


def _checked_ins(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return check_ins(value)
    except IdentifierError as exc:
        raise SubmissionRefused(f"Patient concerné : {exc}") from None


def idempotency_key_of(draft_id: object) -> str:
    """A double click on « Envoyer » sends the draft once: the second submission finds this key."""
    return f"webmail-draft-{draft_id}"


def _part_source(draft: Draft, attachment: DraftAttachment, data_key: bytes) -> mime.PartSource:
    """Read from the blob store each time the message writer asks (once for the file, once for the MIME)."""

    def chunks() -> Iterator[bytes]:
        return attachment_chunks(draft.pk, attachment, data_key)

    return mime.PartSource(
        attachment_filename(draft.pk, attachment, data_key), attachment.content_type, chunks
    )


def outgoing_of(draft: Draft, data_key: bytes) -> Outgoing:
    data = open_draft(draft, data_key)
    files = draft.attachments.order_by("created_at", "pk")
    attachments = [_part_source(draft, one, data_key) for one in files]
    return Outgoing(
        mailbox=_sending_mailbox(draft, data),
        to=data.to,
        cc=data.cc,
        bcc=data.bcc,
        subject=_fin_subject(data.subject) if data.close_exchange else data.subject,
        text=data.body,
        attachments=attachments,
        reply_to_copy=draft.reply_to_copy,
        patient_ins=_checked_ins(data.patient_ins),
        read_receipt=data.read_receipt,
        mss_headers={X_MSS_MES: FIN_VALUE} if data.close_exchange else {},
        idempotency_key=idempotency_key_of(draft.pk),
    )


def _fin_subject(subject: str) -> str:

    return subject if is_fin_subject(subject) else f"{subject} {FIN_MARKER}".strip()


def do_send_draft(draft: Draft, *, acting_user: Any) -> Message:
    """Submit the draft (see do_submit_message) and delete it. SubmissionRefused or storage.MessageTooLarge
    leave the draft as it was, so the author corrects it and sends again."""
    outgoing = outgoing_of(draft, data_key_of_draft(draft))
    message = do_submit_message(outgoing, acting_user=acting_user)
    do_delete_draft(draft, acting_user=acting_user, reason="sent")
    return message
