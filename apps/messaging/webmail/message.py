"""Reading one message: its decrypted content, attachments, thread and, in a shared BAL, its work-queue state.

Everything here is read-only; opening a message is marked read by the view through services_copies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils.http import content_disposition_header

from apps.crypto.envelope import DecryptionError
from apps.mailboxes.models import MailboxKind
from apps.messaging.compose.selectors import list_replying
from apps.messaging.models import Attachment, CopyRead, InternalNote, MessageCopy
from apps.messaging.store import content, storage, xdm
from apps.messaging.webmail.sanitize import SafeHtml, sanitize_html
from apps.messaging.webmail.selectors import LIST_FIELDS, UNREADABLE, open_copy_fields

log = logging.getLogger(__name__)

THREAD_LIMIT = 200
XDM_PREFIX = "XDM/1.0/DDM+"


@dataclass
class AttachmentInfo:
    position: int
    filename: str
    content_type: str
    size: int
    blob: str
    message_id: Any
    raw: tuple[str, int, int] | None = None  # (raw blob, start, end): stored inside the raw message

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf" or self.filename.lower().endswith(".pdf")

    @property
    def is_xdm(self) -> bool:
        return xdm.looks_like_xdm(self.filename, self.content_type)

    def content_disposition(self, *, inline: bool) -> str:
        return content_disposition_header(not inline, self.filename or f"piece-{self.position}") or ""


@dataclass
class ThreadItem:
    copy: MessageCopy
    subject: str
    snippet: str


@dataclass
class QueueInfo:
    readers: list[CopyRead]
    notes: list[tuple[InternalNote, str]]
    replying: list[str]  # names of the people drafting an answer right now
    members: list[Any]


@dataclass
class MessageView:
    copy: MessageCopy
    subject: str
    text: str
    html: SafeHtml | None
    attachments: list[AttachmentInfo]
    thread: list[ThreadItem] = field(default_factory=list)
    queue: QueueInfo | None = None
    readable: bool = True

    @property
    def display_subject(self) -> str:
        """The subject without the `XDM/1.0/DDM+` technical prefix, hidden from people (SC.MSS/UX.28)."""
        return display_subject(self.subject)


def display_subject(subject: str) -> str:
    return subject[len(XDM_PREFIX) :].strip() if subject.startswith(XDM_PREFIX) else subject


def needs_read_mark(copy: MessageCopy, user: Any) -> bool:
    """Unread copy, or a shared BAL whose read-by list does not name this person yet."""
    if not copy.is_read:
        return True
    if copy.mailbox.kind != MailboxKind.ORGANISATIONAL:
        return False
    return not CopyRead.objects.filter(copy=copy, user=user).exists()


def list_attachments(copy: MessageCopy, data_key: bytes) -> list[AttachmentInfo]:
    found = []
    for row in Attachment.objects.filter(message_id=copy.message_id).order_by("position"):
        name = content.open_text(data_key, copy.message_id, f"filename-{row.position}", row.filename_enc)
        found.append(_info(copy, row, name))
    return found


def _info(copy: MessageCopy, row: Attachment, name: str) -> AttachmentInfo:
    raw = row.raw_range(copy.message.raw_blob)
    return AttachmentInfo(row.position, name, row.content_type, row.size, row.blob, copy.message_id, raw)


def get_attachment(copy: MessageCopy, position: int) -> AttachmentInfo | None:
    try:
        data_key = content.data_key_of_copy(copy)
    except DecryptionError:
        return None
    row = Attachment.objects.filter(message_id=copy.message_id, position=position).first()
    if row is None:
        return None
    name = content.open_text(data_key, copy.message_id, f"filename-{position}", row.filename_enc)
    return _info(copy, row, name)


def attachment_chunks(copy: MessageCopy, attachment: AttachmentInfo) -> Iterator[bytes]:
    """The decrypted bytes, segment by segment (64 KiB): a download never holds the file in memory."""
    data_key = content.data_key_of_copy(copy)
    return storage.read_attachment(
        copy.message_id, attachment.position, attachment.blob, attachment.raw, data_key
    )


def read_xdm(copy: MessageCopy, attachment: AttachmentInfo) -> xdm.XdmPackage | str:
    """The package, or the French reason it cannot be read."""
    try:
        return xdm.read_package(attachment_chunks(copy, attachment))
    except xdm.XdmError as exc:
        return str(exc)


def list_thread(copy: MessageCopy) -> list[ThreadItem]:
    """The copies of this BAL in the same conversation, oldest first (the root's thread_root is NULL)."""
    root = copy.thread_root or copy.pk
    copies = (
        MessageCopy.objects.filter(mailbox_id=copy.mailbox_id)
        .filter(Q(pk=root) | Q(thread_root=root))
        .select_related("message", "assignee")
        .only(*LIST_FIELDS)
        .order_by("received_at", "id")[:THREAD_LIMIT]
    )
    items = []
    for one in copies:
        opened = open_copy_fields(one, "subject", "snippet") or {"subject": UNREADABLE, "snippet": ""}
        items.append(ThreadItem(one, display_subject(opened["subject"]), opened["snippet"]))
    return items if len(items) > 1 else []


def get_queue_info(copy: MessageCopy, *, user: Any, data_key: bytes | None) -> QueueInfo:
    from apps.mailboxes.selectors import list_members

    readers = list(CopyRead.objects.filter(copy=copy).select_related("user").order_by("read_at"))
    notes = []
    for note in InternalNote.objects.filter(copy=copy).select_related("author"):
        notes.append((note, open_note(copy, note, data_key)))
    replying = list_replying(copy, exclude_user=user)
    members = [membership.user for membership in list_members(copy.mailbox)]
    return QueueInfo(readers, notes, replying, members)


def open_note(copy: MessageCopy, note: InternalNote, data_key: bytes | None) -> str:
    if data_key is None:
        return UNREADABLE
    try:
        return content.open_text(data_key, copy.message_id, f"note-{copy.pk}", note.body_enc)
    except DecryptionError:
        return UNREADABLE


def get_message_view(copy: MessageCopy, *, user: Any, allow_remote_images: bool = False) -> MessageView:
    """The message as its reader sees it: decrypted, HTML sanitised, attachments listed, thread around it."""
    try:
        data_key = content.data_key_of_copy(copy)
    except DecryptionError:
        log.warning("copy %s: content cannot be decrypted", copy.pk)
        return MessageView(copy, UNREADABLE, "", None, [], readable=False)
    message = copy.message
    html_source = content.open_text(data_key, message.pk, "html", message.body_html_enc)
    view = MessageView(
        copy=copy,
        subject=content.open_text(data_key, message.pk, "subject", message.subject_enc),
        text=content.open_text(data_key, message.pk, "text", message.body_text_enc),
        html=sanitize_html(html_source, allow_remote_images=allow_remote_images) if html_source else None,
        attachments=list_attachments(copy, data_key) if message.has_attachments else [],
        thread=list_thread(copy),
    )
    if copy.mailbox.kind == MailboxKind.ORGANISATIONAL:
        view.queue = get_queue_info(copy, user=user, data_key=data_key)
    return view
