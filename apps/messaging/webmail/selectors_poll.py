"""The state the list's polling compares: one query, whatever the size of the BAL.

The state is, for each folder of the BAL, its unread count (bounded by UNREAD_CAP, read on the partial
index `copy_unread`), and the id of the BAL's most recent copy (the first entry of `copy_mailbox_keyset`).
New mail, a message read or marked unread changes it; the ETag of the poll is a digest of it. (A newest
copy per folder was tried first: for an empty folder PostgreSQL walked the whole BAL's keyset index
looking for one, 3.7 s on the 1,000,000-message BAL.) It is computed together with the BAL row, so that
the poll costs the BAL's load (which the access policy needs anyway) and, for a shared BAL, the
membership check: two queries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import connection
from django.db.models.expressions import RawSQL

from apps.mailboxes.models import Mailbox
from apps.messaging.models import Folder, MessageCopy
from apps.messaging.webmail.selectors import UNREAD_CAP


@dataclass(frozen=True)
class FolderState:
    folder_id: int
    unread: int

    @property
    def unread_label(self) -> str:
        return f"{UNREAD_CAP - 1}+" if self.unread >= UNREAD_CAP else str(self.unread)


def _state_sql() -> RawSQL:
    copies, folders, mailboxes = MessageCopy._meta.db_table, Folder._meta.db_table, Mailbox._meta.db_table
    aggregate = "string_agg(entry, ',')" if connection.vendor == "postgresql" else "group_concat(entry, ',')"
    # Only table names and an integer constant are interpolated.
    sql = (
        f"SELECT {aggregate} FROM (SELECT CAST(f.id AS TEXT) || ':' || CAST(("  # noqa: S608
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {copies} c WHERE c.mailbox_id = f.mailbox_id "
        f"AND c.folder_id = f.id AND NOT c.is_read LIMIT {int(UNREAD_CAP)}) AS u) AS TEXT) AS entry "
        f"FROM {folders} f WHERE f.mailbox_id = {mailboxes}.id ORDER BY f.id) AS states"
    )
    return RawSQL(sql, [])  # noqa: S611


def _newest_sql() -> RawSQL:
    copies, mailboxes = MessageCopy._meta.db_table, Mailbox._meta.db_table
    sql = (
        f"SELECT COALESCE((SELECT c.id FROM {copies} c WHERE c.mailbox_id = {mailboxes}.id "  # noqa: S608
        "ORDER BY c.received_at DESC, c.id DESC LIMIT 1), 0)"
    )
    return RawSQL(sql, [])  # noqa: S611


def mailbox_with_state(mailbox_id: int) -> Mailbox | None:
    """The BAL with `poll_state` (its folders' unread counts) and `poll_newest` (its newest copy's id), or
    None if it does not exist."""
    queryset = Mailbox.objects.annotate(poll_state=_state_sql(), poll_newest=_newest_sql())
    return queryset.filter(pk=mailbox_id).first()


def parse_state(raw: str | None) -> list[FolderState]:
    states = []
    for entry in (raw or "").split(","):
        parts = entry.split(":")
        if len(parts) == 2 and all(part.isdigit() for part in parts):
            states.append(FolderState(int(parts[0]), int(parts[1])))
    return states


def state_etag(states: list[FolderState], *, newest: int, folder_id: int, filters: str = "") -> str:
    """A weak ETag for the list of one folder (the list also depends on the folder and queue filters)."""
    text = f"{folder_id}|{filters}|{newest}|" + ",".join(f"{s.folder_id}:{s.unread}" for s in states)
    return 'W/"' + hashlib.blake2b(text.encode(), digest_size=12).hexdigest() + '"'
