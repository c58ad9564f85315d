"""Reading a BAL: folders with unread counts, keyset pages of a folder, search (one message and its
thread: selectors_message.py).

Speed at 1,000,000 copies in one BAL (docs/benchmarks.md): a page is one index range scan on
`copy_folder_keyset` continued from a (received_at, id) cursor, never OFFSET nor COUNT(*) over the folder;
unread counts read the partial index `copy_unread` and stop at UNREAD_CAP per folder; only the 50 rows
shown are decrypted (subject and snippet), through one cached BAL key and one data-key unwrap per row;
a row's thread size is a correlated count on the `thread_root` index, evaluated for those rows only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.crypto.envelope import DecryptionError
from apps.mailboxes.keys import mailbox_key
from apps.mailboxes.models import Mailbox
from apps.messaging.models import SYSTEM_FOLDERS, Folder, FolderRole, MessageCopy
from apps.messaging.store import content, search_index
from apps.messaging.store.folders import ensure_folders

log = logging.getLogger(__name__)

PAGE_SIZE = 50
UNREAD_CAP = 1000
UNREADABLE = "(contenu illisible)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The columns a list row needs: never the bodies (up to megabytes each) nor the raw headers.
LIST_FIELDS = (
    "id",
    "mailbox_id",
    "folder_id",
    "message_id",
    "data_key_wrap",
    "is_outgoing",
    "received_at",
    "is_read",
    "is_flagged",
    "is_answered",
    "thread_root",
    "queue_status",
    "assignee_id",
    "answered_by_id",
    "message__kind",
    "message__sender_address",
    "message__sender_name",
    "message__to_addresses",
    "message__subject_enc",
    "message__snippet_enc",
    "message__has_attachments",
    "message__is_fin",
    "message__size",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__email",
)


@dataclass
class FolderEntry:
    folder: Folder
    unread: int

    @property
    def unread_label(self) -> str:
        return f"{UNREAD_CAP - 1}+" if self.unread >= UNREAD_CAP else str(self.unread)

    @property
    def depth(self) -> int:
        """0 for a top folder, 1 for « Comptes/2026 »... (« / » separates a folder from its subfolders, as
        in IMAP)."""
        return self.folder.name.count("/") if self.folder.role == FolderRole.CUSTOM else 0

    @property
    def label(self) -> str:
        """The name shown in the tree: the last segment, its parents being the lines above."""
        return self.folder.name.rsplit("/", 1)[-1] if self.depth else self.folder.name


def _tree_order(folder: Folder) -> tuple[int, tuple[str, ...]]:
    # Segment by segment, so that « Comptes/2026 » follows « Comptes » and not « Comptes rendus » (a space
    # sorts before « / » in a plain comparison of the names).
    return (folder.position, tuple(part.casefold() for part in folder.name.split("/")))


@dataclass
class CopyRow:
    """A list row with what the template shows already computed (a page renders 50 of them)."""

    copy: MessageCopy
    subject: str
    snippet: str
    thread_size: int = 1

    @cached_property
    def correspondent(self) -> str:
        message = self.copy.message
        if self.copy.is_outgoing:
            return "À : " + ", ".join(message.to_addresses)
        return message.sender_name or message.sender_address

    @cached_property
    def received(self) -> datetime:
        return timezone.localtime(self.copy.received_at)

    @property
    def received_iso(self) -> str:
        return self.received.isoformat()

    @property
    def received_label(self) -> str:
        return self.received.strftime("%d/%m/%Y %H:%M")

    @property
    def assignee_label(self) -> str:
        assignee = self.copy.assignee
        return (assignee.get_full_name() or assignee.email) if assignee is not None else ""


@dataclass
class CopyPage:
    rows: list[CopyRow]
    next_cursor: str | None
    filters: dict[str, str] = field(default_factory=dict)


# --- cursors ---------------------------------------------------------------------------------------------


def make_cursor(copy: MessageCopy) -> str:
    micros = (copy.received_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{copy.pk}"


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """The (received_at, id) a cursor names, or None for a missing or malformed one (first page)."""
    if not raw:
        return None
    micros, _, pk = raw.partition(".")
    if not (micros.lstrip("-").isdigit() and pk.isdigit()):
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except OverflowError:
        return None


def _before(cursor: tuple[datetime, int]) -> ExpressionWrapper:
    # A row comparison is an index condition on (received_at, id): the scan starts at the cursor instead
    # of walking every newer row (which `received_at < x OR (= x AND id < y)` would make PostgreSQL do).
    table = MessageCopy._meta.db_table
    sql = f'("{table}"."received_at", "{table}"."id") < (%s, %s)'
    # Only the model's own table name is interpolated; values are bound parameters.
    return ExpressionWrapper(RawSQL(sql, cursor), output_field=BooleanField())  # noqa: S611


def get_neighbours(copy: MessageCopy) -> tuple[int | None, int | None]:
    """The ids of the next newer and next older copies of the same folder (keyboard triage: k / j)."""
    table = MessageCopy._meta.db_table
    key = (copy.received_at, copy.pk)
    same = MessageCopy.objects.filter(mailbox_id=copy.mailbox_id, folder_id=copy.folder_id)
    after = ExpressionWrapper(
        RawSQL(f'("{table}"."received_at", "{table}"."id") > (%s, %s)', key),  # noqa: S611
        output_field=BooleanField(),
    )
    newer = same.filter(after).order_by("received_at", "id").values_list("pk", flat=True).first()
    older = same.filter(_before(key)).order_by("-received_at", "-id").values_list("pk", flat=True).first()
    return newer, older


# --- folders ---------------------------------------------------------------------------------------------


def _unread_count() -> RawSQL:
    # A bounded count per folder: it reads at most UNREAD_CAP entries of the partial index `copy_unread`
    # (migration 0004), whatever the size of the folder. Only table names and a constant are interpolated.
    copies, folders = MessageCopy._meta.db_table, Folder._meta.db_table
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {copies} c WHERE c.mailbox_id = {folders}.mailbox_id "  # noqa: S608
        f"AND c.folder_id = {folders}.id AND NOT c.is_read LIMIT {UNREAD_CAP}) AS u"
    )
    return RawSQL(sql, [])  # noqa: S611


def list_folders(mailbox: Mailbox) -> list[FolderEntry]:
    """The BAL's folders (system ones first), each with its unread count capped at UNREAD_CAP: one query."""
    queryset = Folder.objects.filter(mailbox=mailbox).annotate(unread=_unread_count())
    folders = list(queryset)
    if not set(SYSTEM_FOLDERS) <= {folder.role for folder in folders}:
        ensure_folders(mailbox.pk)  # first visit of a new BAL
        folders = list(queryset.all())
    folders.sort(key=_tree_order)
    return [FolderEntry(folder, folder.unread) for folder in folders]  # type: ignore[attr-defined]


def get_folder(mailbox: Mailbox, folder_id: int) -> Folder | None:
    return Folder.objects.filter(mailbox=mailbox, pk=folder_id).first()


def get_system_folder(mailbox: Mailbox, role: str) -> Folder:
    return ensure_folders(mailbox.pk)[role]


# --- decrypting rows -------------------------------------------------------------------------------------


def open_copy_fields(copy: MessageCopy, *fields: str) -> dict[str, str] | None:
    """Decrypt the named text fields of a copy's message; None when the BAL can no longer read it."""
    try:
        key = content.data_key_of_copy(copy)
        return {name: content.open_text(key, copy.message_id, name, _enc(copy, name)) for name in fields}
    except DecryptionError:
        log.warning("copy %s: content cannot be decrypted", copy.pk)
        return None


def _enc(copy: MessageCopy, name: str) -> Any:
    attribute = {"text": "body_text_enc", "html": "body_html_enc"}.get(name, f"{name}_enc")
    return getattr(copy.message, attribute)


def _rows(copies: list[MessageCopy]) -> list[CopyRow]:
    rows = []
    for copy in copies:
        opened = open_copy_fields(copy, "subject", "snippet") or {"subject": UNREADABLE, "snippet": ""}
        size = 1 + getattr(copy, "thread_replies", 0)
        rows.append(CopyRow(copy, opened["subject"], opened["snippet"], size))
    return rows


def _thread_replies() -> RawSQL:
    # Evaluated for the rows of the page only (after the keyset LIMIT), through the thread_root index.
    table = MessageCopy._meta.db_table
    sql = (
        f"SELECT COUNT(*) FROM {table} t "  # noqa: S608
        f'WHERE t.thread_root = COALESCE("{table}"."thread_root", "{table}"."id")'
    )
    return RawSQL(sql, [])  # noqa: S611


def _list_queryset(mailbox: Mailbox) -> QuerySet[MessageCopy]:
    return (
        MessageCopy.objects.filter(mailbox=mailbox)
        .select_related("message", "assignee")
        .only(*LIST_FIELDS)
        .annotate(thread_replies=_thread_replies())
        .order_by("-received_at", "-id")
    )


# --- pages and search ------------------------------------------------------------------------------------

QUEUE_FILTERS = ("status", "assignee")


def queue_filter(filters: dict[str, str], user: Any) -> Q:
    """Work-queue filters of an organisational BAL's list: status, and assignee (`moi`, `personne`)."""
    condition = Q()
    status = filters.get("status", "")
    if status in ("new", "in_progress", "done"):
        condition &= Q(queue_status=status)
    assignee = filters.get("assignee", "")
    if assignee == "moi":
        condition &= Q(assignee=user)
    elif assignee == "personne":
        condition &= Q(assignee__isnull=True)
    return condition


def list_folder_page(
    mailbox: Mailbox,
    folder: Folder,
    *,
    after: str | None = None,
    condition: Q | None = None,
    size: int | None = None,
) -> CopyPage:
    """One page of a folder, newest first, continuing after `after` (a cursor from the previous page)."""
    size = size or PAGE_SIZE
    queryset = _list_queryset(mailbox).filter(folder=folder)
    if condition is not None:
        queryset = queryset.filter(condition)
    cursor = parse_cursor(after)
    if cursor is not None:
        queryset = queryset.filter(_before(cursor))
    copies = list(queryset[: size + 1])
    more = len(copies) > size
    copies = copies[:size]
    return CopyPage(_rows(copies), make_cursor(copies[-1]) if more else None)


def _sqlite_token_condition(groups: list[list[str]]) -> ExpressionWrapper:
    """SQLite (`make run` without PostgreSQL): the tokens are stored as space-separated text."""
    table = MessageCopy._meta.db_table
    clauses, params = [], []
    for group in groups:
        ors = " OR ".join(f"(' ' || \"{table}\".\"search_tokens\" || ' ') LIKE %s" for _ in group)
        clauses.append(f"({ors})")
        params += [f"% {token} %" for token in group]
    return ExpressionWrapper(RawSQL(" AND ".join(clauses), params), output_field=BooleanField())  # noqa: S611


# PostgreSQL: the query is a tsquery *literal* (CAST), like the stored tsvector literal; to_tsquery() would
# run the text parser over the hex tokens and split some of them (`1e5abc…` reads as the number 1e5).
RECENT_WINDOW = 5000


def _ids(sql: str, params: list[Any]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _matching_ids(mailbox_id: int, tsquery: str, scope: tuple[str, int], limit: int) -> list[int]:
    """PostgreSQL: the newest `limit` matches, in two bounded steps instead of one plan that can go wrong.

    Left alone, the planner walks the date index testing each copy — instant for a common word, seconds
    for a word that never occurs (every copy of the BAL tested). So: (1) test only the RECENT_WINDOW
    newest copies; if they hold `limit` matches these are the newest ones. (2) Otherwise the word is rare:
    the GIN index finds all its matches (OFFSET 0 fences the subquery so the date index cannot be chosen),
    then the newest are kept. Only table names and constants are interpolated.
    """
    table, (condition, value) = MessageCopy._meta.db_table, scope
    recent = (
        f"SELECT id FROM (SELECT id, received_at, search_tokens FROM {table} "  # noqa: S608
        f"WHERE mailbox_id = %s AND {condition} ORDER BY received_at DESC, id DESC LIMIT {RECENT_WINDOW}) r "
        f"WHERE search_tokens @@ CAST(%s AS tsquery) ORDER BY received_at DESC, id DESC LIMIT {limit}"
    )
    found = _ids(recent, [mailbox_id, value, tsquery])
    if len(found) == limit:
        return found
    rare = (
        f"SELECT id FROM (SELECT id, received_at, folder_id FROM {table} "  # noqa: S608
        f"WHERE mailbox_id = %s AND search_tokens @@ CAST(%s AS tsquery) OFFSET 0) h "
        f"WHERE {condition} ORDER BY received_at DESC, id DESC LIMIT {limit}"
    )
    return _ids(rare, [mailbox_id, tsquery, value])


def search_copies(
    mailbox: Mailbox,
    query: str,
    *,
    folder: Folder | None = None,
    trash_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[CopyRow] | None:
    """The newest copies matching every word of `query` (blind index); None when the query has no word.
    Without `folder`, every folder but the Corbeille (searched only when asked for, like mail clients)."""
    _version, key = mailbox_key(mailbox.pk)
    groups = search_index.query_groups(key, query)
    if not groups:
        return None
    if folder is not None:
        scope = ("folder_id = %s", folder.pk)
    else:
        scope = ("folder_id <> %s", trash_id or get_system_folder(mailbox, FolderRole.TRASH).pk)
    queryset = _list_queryset(mailbox)
    if connection.vendor == "postgresql":
        ids = _matching_ids(mailbox.pk, search_index.tsquery(groups), scope, limit)
        return _rows(list(queryset.filter(pk__in=ids))) if ids else []
    condition = Q(folder_id=scope[1]) if folder is not None else ~Q(folder_id=scope[1])
    return _rows(list(queryset.filter(condition).filter(_sqlite_token_condition(groups))[:limit]))
