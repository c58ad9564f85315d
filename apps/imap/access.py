"""Each person's IMAP folder list and the BALs it came from, kept per process between commands (ADR 0023),
checked against the access counter at every SELECT.

`folders._folders_and_mailboxes` costs three queries and Django's compilation of them (the person, their
BALs — a DISTINCT over four joined conditions — and their folders): most of a SELECT. What it reads changes
rarely, and every such change bumps one counter in its own transaction (`imap_access_version`, triggers of
migration messaging 0012: BALs, structures' IMAP switch, memberships, validation delegates, folders, a
user's `is_active`). An entry is stored with the counter's value read *before* the list was read, so it
is never newer than its stamp says. SELECT decides with `access_mailbox` on the entry's BAL (the policy
runs at every SELECT, on these inputs) and reads the counter in the same round trip as the folder's UIDNEXT
(`uidmap.select_state`): a different value means something may have changed, and the entry is read again
before anything is answered. Turning IMAP off for a BAL therefore takes effect at the next SELECT, as
before. Outside PostgreSQL (no counter) nothing is kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.db import connection
from django.http import Http404

from apps.accounts.models import User
from apps.imap import folders
from apps.mailboxes.models import Mailbox
from apps.mailboxes.policies import access_mailbox

MAX_PERSONS = 10_000
VERSION_SQL = "SELECT version FROM imap_access_version WHERE id = 1"


@dataclass(frozen=True)
class Entry:
    version: int | None  # the counter when the list was read (None: not kept, no counter here)
    user: User
    folders: list[folders.ImapFolder]
    mailboxes: dict[int, Mailbox]


_lock = threading.Lock()
_entries: OrderedDict[int, Entry] = OrderedDict()


def version_now() -> int | None:
    """Database thread: the access counter (None outside PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def cached(user_id: int) -> Entry | None:
    with _lock:
        found = _entries.get(user_id)
        if found is not None:
            _entries.move_to_end(user_id)
        return found


def load(user_id: int) -> Entry:
    """Database thread: the person's list read now, kept under the counter read just before it."""
    version = version_now()
    user = User.objects.get(pk=user_id)
    listed, mailboxes = folders._folders_and_mailboxes(user)  # noqa: SLF001 - this module's reason to be
    entry = Entry(version, user, listed, mailboxes)
    if version is not None:
        with _lock:
            _entries[user_id] = entry
            while len(_entries) > MAX_PERSONS:
                _entries.popitem(last=False)
    return entry


def forget(user_id: int) -> None:
    with _lock:
        _entries.pop(user_id, None)


def clear() -> None:
    with _lock:
        _entries.clear()


def resolve(entry: Entry, name: str) -> folders.ImapFolder | None:
    """The folder `name` designates in the entry if the policy lets the person use its BAL, else None:
    `access_mailbox` decides on the entry's BAL (an organisational BAL's membership is read once per
    entry and kept on it: a membership change bumps the counter, which drops the entry)."""
    wanted = "INBOX" if name.upper() == "INBOX" else name
    found = next((f for f in entry.folders if f.name == wanted), None)
    if found is None:
        return None
    try:
        access_mailbox(entry.user, entry.mailboxes[found.mailbox_id])
    except Http404:
        return None
    return found
