"""Reading and changing messages for IMAP commands (database threads), through the messaging services so
the webmail and IMAP share rules and journal: flags, moves, trash, deletion.

Flags (ADR 0023): `\\Seen` is per person in an organisational BAL (CopyRead, like the webmail) and per BAL
elsewhere; `\\Flagged`, `\\Answered` and `\\Deleted` are per BAL; `\\Draft` is "in the Drafts folder".
Work-queue state of organisational BALs shows as keywords `$Nouveau`, `$EnCours`, `$Traite` (one at a time)
and `$AssigneAMoi`; storing one of the three status keywords changes the status as the webmail does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from apps.accounts.models import User
from apps.messaging.models import CopyRead, FolderRole, MessageCopy, QueueStatus

QUEUE_KEYWORDS = {
    QueueStatus.NEW: "$Nouveau",
    QueueStatus.IN_PROGRESS: "$EnCours",
    QueueStatus.DONE: "$Traite",
}
KEYWORD_STATUS = {keyword: status for status, keyword in QUEUE_KEYWORDS.items()}
ASSIGNED_TO_ME = "$AssigneAMoi"
PERMANENT_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", *KEYWORD_STATUS]


# Columns no FETCH item reads (the search tokens, the webmail's sealed text and snippet): not loaded, so a
# FETCH of 50 envelopes moves a few kilobytes instead of every message's sealed body. Read lazily if used.
_NOT_FETCHED = (
    "search_tokens",
    "message__subject_enc",
    "message__snippet_enc",
    "message__body_text_enc",
    "message__body_html_enc",
    "message__references",
    "message__mss_headers",
    "message__transit_key_wrap",
)


@dataclass
class Row:
    copy: MessageCopy
    flags: list[str]


def rows(folder_id: int, uids: list[int], user_id: int, organisational: bool) -> list[Row]:
    """The copies of `uids` in the folder (UID order) with their flags as this person sees them."""
    copies = list(
        MessageCopy.objects.filter(folder_id=folder_id, uid__in=uids)
        .select_related("message", "folder", "mailbox")
        .defer(*_NOT_FETCHED)
        .order_by("uid")
    )
    seen_by_me: set[int] = set()
    if organisational and copies:
        seen_by_me = set(
            CopyRead.objects.filter(user_id=user_id, copy__in=copies).values_list("copy_id", flat=True)
        )
    return [Row(copy, flags_of(copy, user_id, organisational, seen_by_me)) for copy in copies]


@dataclass(frozen=True)
class LeanMessage:
    pk: Any
    size: int
    headers_enc: bytes | None
    raw_blob: str


@dataclass(frozen=True)
class LeanFolder:
    role: str


@dataclass
class LeanCopy:
    """The columns a FETCH of metadata and ENVELOPE reads (`fetching.fetch_items`, `flags_of`), read like a
    MessageCopy: one plain query instead of four model objects per message."""

    pk: int
    uid: int
    mailbox_id: int
    message_id: Any
    data_key_wrap: bytes
    received_at: dt.datetime
    is_read: bool
    is_answered: bool
    is_flagged: bool
    imap_deleted: bool
    queue_status: str
    assignee_id: int | None
    folder: LeanFolder
    message: LeanMessage


# FETCH items `lean_rows` can answer: no content, no BODYSTRUCTURE (those read the raw message anyway).
LEAN_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"})

# The person's own read mark (organisational BALs) in the same statement: one query, not two.
_LEAN_COLUMNS = (
    "SELECT c.id, c.uid, c.mailbox_id, c.message_id, c.data_key_wrap, c.received_at, c.is_read, "
    "c.is_answered, c.is_flagged, c.imap_deleted, c.queue_status, c.assignee_id, "
    "m.size, m.headers_enc, m.raw_blob, CASE WHEN %s THEN EXISTS (SELECT 1 FROM messaging_copyread r "
    "WHERE r.copy_id = c.id AND r.user_id = %s) ELSE false END "
    "FROM messaging_messagecopy c JOIN messaging_message m ON m.id = c.message_id "
)
_LEAN_SQL = _LEAN_COLUMNS + "WHERE c.folder_id = %s AND c.uid = ANY(%s) ORDER BY c.uid"
_NEWEST_SQL = _LEAN_COLUMNS + "WHERE c.folder_id = %s AND c.uid IS NOT NULL ORDER BY c.uid DESC LIMIT %s"


def lean_rows(folder_id: int, role: str, uids: list[int], user_id: int, organisational: bool) -> list[Row]:
    """`rows` for FETCH of metadata and ENVELOPE (the client's message list): (copy, flags) pairs whose
    copy is a `LeanCopy`, the columns needed in one query, no model objects."""
    if connection.vendor != "postgresql":  # the plain query relies on PostgreSQL's column types
        return rows(folder_id, uids, user_id, organisational)
    if not uids:
        return []
    with connection.cursor() as cursor:  # one array parameter, whatever the count
        cursor.execute(_LEAN_SQL, [organisational, user_id, folder_id, list(uids)])
        return lean_from(cursor.fetchall(), role, user_id, organisational)


def newest_statement(folder_id: int, count: int, user_id: int, organisational: bool) -> tuple[str, list]:
    """The lean rows of the folder's `count` newest copies, as a statement for SELECT's round trip
    (`uidmap.select_state`); read them with `lean_from`."""
    return _NEWEST_SQL, [organisational, user_id, folder_id, count]


def lean_from(found: list[tuple], role: str, user_id: int, organisational: bool) -> list[Row]:
    folder = LeanFolder(role)
    out = []
    for (
        pk, uid, mailbox_id, message_id, wrap, received_at, is_read, is_answered, is_flagged,
        imap_deleted, queue_status, assignee_id, size, headers, raw_blob, seen_by_me,
    ) in found:  # fmt: skip
        copy = LeanCopy(
            pk=pk,
            uid=uid,
            mailbox_id=mailbox_id,
            message_id=message_id,
            data_key_wrap=bytes(wrap),
            received_at=received_at,
            is_read=is_read,
            is_answered=is_answered,
            is_flagged=is_flagged,
            imap_deleted=imap_deleted,
            queue_status=queue_status,
            assignee_id=assignee_id,
            folder=folder,
            message=LeanMessage(message_id, size, None if headers is None else bytes(headers), raw_blob),
        )
        seen = {pk} if seen_by_me else set()
        out.append(Row(copy, flags_of(copy, user_id, organisational, seen)))  # type: ignore[arg-type]
    return out


def flags_of(copy: MessageCopy, user_id: int, organisational: bool, seen_by_me: set[int]) -> list[str]:
    flags = []
    if (copy.pk in seen_by_me) if organisational else copy.is_read:
        flags.append("\\Seen")
    if copy.is_answered:
        flags.append("\\Answered")
    if copy.is_flagged:
        flags.append("\\Flagged")
    if copy.imap_deleted:
        flags.append("\\Deleted")
    if copy.folder.role == FolderRole.DRAFTS:
        flags.append("\\Draft")
    if organisational:
        flags.append(QUEUE_KEYWORDS.get(copy.queue_status, "$Nouveau"))  # type: ignore[call-overload]
        if copy.assignee_id == user_id:
            flags.append(ASSIGNED_TO_ME)
    return flags


def store(row: Row, user_id: int, organisational: bool, mode: str, flags: tuple[str, ...]) -> None:
    """Apply STORE to one copy through the messaging services (each journals as in the webmail)."""
    from apps.messaging.webmail.services import do_mark_read, do_set_flag
    from apps.messaging.webmail.workqueue import do_set_queue_status

    user = User.objects.get(pk=user_id)
    current = set(row.flags)
    wanted = _wanted(current, mode, set(flags))
    copy = row.copy
    with transaction.atomic():
        if ("\\Seen" in wanted) != ("\\Seen" in current):
            _set_seen(copy, user, organisational, "\\Seen" in wanted, do_mark_read)
        if ("\\Flagged" in wanted) != ("\\Flagged" in current):
            do_set_flag(copy, flagged="\\Flagged" in wanted, user=user)
        if ("\\Answered" in wanted) != ("\\Answered" in current):
            MessageCopy.objects.filter(pk=copy.pk).update(is_answered="\\Answered" in wanted)
            copy.is_answered = "\\Answered" in wanted
        if ("\\Deleted" in wanted) != ("\\Deleted" in current):
            MessageCopy.objects.filter(pk=copy.pk).update(imap_deleted="\\Deleted" in wanted)
            copy.imap_deleted = "\\Deleted" in wanted
        status = [KEYWORD_STATUS[k] for k in wanted - current if k in KEYWORD_STATUS]
        if organisational and status:
            do_set_queue_status(copy, status[0], acting_user=user)
            copy.queue_status = status[0]
    seen = {copy.pk} if "\\Seen" in wanted else set()
    row.flags = flags_of(copy, user_id, organisational, seen)


def _wanted(current: set[str], mode: str, flags: set[str]) -> set[str]:
    if mode == "add":
        return current | flags
    if mode == "remove":
        return current - flags
    # FLAGS replaces what a client may set; \Draft (the folder) and the assignment are not flags to set,
    # and a work-queue status is only ever replaced by another one.
    kept = {f for f in current if f in ("\\Draft", ASSIGNED_TO_ME)}
    if not flags & set(KEYWORD_STATUS):
        kept |= current & set(KEYWORD_STATUS)
    return flags | kept


def _set_seen(copy: MessageCopy, user: User, organisational: bool, seen: bool, do_mark_read: Any) -> None:
    if seen:
        do_mark_read(copy, user=user)
    elif organisational:
        CopyRead.objects.filter(copy=copy, user=user).delete()  # only this person's mark
    else:
        do_mark_read(copy, user=user, read=False)


def expunge(folder_id: int, user_id: int, uids: list[int] | None) -> list[int]:
    """EXPUNGE: copies marked \\Deleted leave the folder — to the Corbeille (nothing is lost), or for good
    when they already are in it (as emptying the webmail's trash). Returns the expunged UIDs."""
    from apps.messaging.webmail.services import do_delete_copies, do_trash_copies

    user = User.objects.get(pk=user_id)
    marked = MessageCopy.objects.filter(folder_id=folder_id, imap_deleted=True).select_related(
        "folder", "mailbox", "message"
    )
    if uids is not None:
        marked = marked.filter(uid__in=uids)
    copies = list(marked)
    if not copies:
        return []
    gone = sorted(c.uid for c in copies if c.uid is not None)
    with transaction.atomic():
        if copies[0].folder.role == FolderRole.TRASH:
            do_delete_copies(copies, user=user)
        else:
            MessageCopy.objects.filter(pk__in=[c.pk for c in copies]).update(imap_deleted=False)
            do_trash_copies(copies, user=user)
    return gone


def move_or_copy(
    folder_id: int, uids: list[int], target_folder_id: int, user_id: int, move: bool
) -> list[tuple[Any, Any]]:
    """COPY / MOVE within one BAL: (source UID, new UID) pairs. A copy to another BAL is refused by the
    caller (a message is sent, not copied, between BALs)."""
    from apps.messaging.models import Folder
    from apps.messaging.webmail.services import do_move_copies

    user = User.objects.get(pk=user_id)
    target = Folder.objects.select_related("mailbox").get(pk=target_folder_id)
    copies = list(MessageCopy.objects.filter(folder_id=folder_id, uid__in=uids).order_by("uid"))
    if not copies:
        return []
    before = {c.pk: c.uid for c in copies}
    with transaction.atomic():
        if move:
            do_move_copies(copies, folder=target, user=user)
            moved = MessageCopy.objects.filter(pk__in=before).values_list("pk", "uid")
            return sorted((before[pk], uid) for pk, uid in moved)
        return _duplicate(copies, target, user)


def _duplicate(copies: list[MessageCopy], target: Any, user: User) -> list[tuple[Any, Any]]:
    from apps.audit.services import record_event
    from apps.mailboxes.quotas import do_add_usage
    from apps.messaging.store import uids as uid_alloc

    pairs = []
    fresh = []
    for copy in copies:
        source_uid = copy.uid
        copy.pk, copy.id, copy.uid, copy.folder_id, copy.delivery_id = None, None, None, target.pk, None
        copy._state.adding = True
        fresh.append((source_uid, copy))
    uid_alloc.allocate([c for _uid, c in fresh])
    for source_uid, copy in fresh:
        copy.save(force_insert=True)
        do_add_usage(copy.mailbox_id, copy.message.size)
        pairs.append((source_uid, copy.uid))
    record_event(
        "message.copied", actor=user, mailbox=target.mailbox, target=target, details={"count": len(pairs)}
    )
    return pairs
