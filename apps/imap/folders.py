"""What a person sees over IMAP (database threads): their nominative BAL as INBOX and its folders, every
other BAL they may act in under the shared namespace `Partagés/<adresse>/…` (RFC 2342), special-use
attributes (RFC 6154). Visibility is `apps.mailboxes` policy: `list_mailboxes_for` mirrors `access_mailbox`,
and every folder a command names is resolved again through `access_mailbox` — a BAL or folder one may not
use does not exist (NONEXISTENT), it is never "forbidden". A BAL whose managers turned IMAP off
(`can_use_imap`) does not exist over IMAP either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.http import Http404

from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import access_mailbox, can_use_imap
from apps.mailboxes.selectors import list_mailboxes_for
from apps.messaging.models import SYSTEM_FOLDERS, Folder, FolderRole
from apps.messaging.store.folders import ensure_folders

SHARED = "Partagés"
DELIMITER = "/"
SPECIAL_USE = {
    FolderRole.SENT: "\\Sent",
    FolderRole.DRAFTS: "\\Drafts",
    FolderRole.TRASH: "\\Trash",
    FolderRole.ARCHIVE: "\\Archive",
}


@dataclass(frozen=True)
class ImapFolder:
    name: str  # the IMAP name (Unicode; modified UTF-7 on the wire)
    folder_id: int
    mailbox_id: int
    role: str
    writable: bool
    organisational: bool

    @property
    def attributes(self) -> list[str]:
        special = SPECIAL_USE.get(self.role)  # type: ignore[call-overload]
        return [special] if special else []


def folders_for(user: Any) -> list[ImapFolder]:
    """Every folder of every BAL `user` may act in, personal namespace first."""
    return _folders_and_mailboxes(user)[0]


def _folders_and_mailboxes(user: Any) -> tuple[list[ImapFolder], dict[int, Mailbox]]:
    """`folders_for` and the BALs it read (by id): SELECT checks the policy on them without reading them
    again. Two queries when every BAL has its system folders (the usual case): the BALs, their folders."""
    usable = [u for u in list_mailboxes_for(user) if can_use_imap(u.mailbox)]
    personal = next((u for u in usable if u.mailbox.kind == MailboxKind.NOMINATIVE), None)
    ids = [u.mailbox.pk for u in usable]
    by_mailbox = _folders_by_mailbox(ids)
    # A BAL missing a system folder (never opened yet): created once here, not checked by a query per BAL
    # at every SELECT and LIST.
    lacking = [pk for pk in ids if not set(SYSTEM_FOLDERS) <= {f.role for f in by_mailbox.get(pk, [])}]
    if lacking:
        for pk in lacking:
            ensure_folders(pk)
        by_mailbox = _folders_by_mailbox(ids)
    out = []
    for item in usable:
        prefix = "" if item is personal else f"{SHARED}{DELIMITER}{item.mailbox.address}"
        organisational = item.mailbox.kind == MailboxKind.ORGANISATIONAL
        for folder in by_mailbox.get(item.mailbox.pk, []):
            out.append(
                ImapFolder(
                    _name(prefix, folder),
                    folder.pk,
                    folder.mailbox_id,
                    folder.role,
                    item.can_write,
                    organisational,
                )
            )
    return out, {u.mailbox.pk: u.mailbox for u in usable}


def _folders_by_mailbox(mailbox_ids: list[int]) -> dict[int, list[Folder]]:
    rows = Folder.objects.filter(mailbox_id__in=mailbox_ids).order_by("position", "name")
    by_mailbox: dict[int, list[Folder]] = {}
    for folder in rows:
        by_mailbox.setdefault(folder.mailbox_id, []).append(folder)
    return by_mailbox


def _name(prefix: str, folder: Folder) -> str:
    if folder.role == FolderRole.INBOX:
        return prefix or "INBOX"
    # The webmail's « Dossier/Sous-dossier » is the IMAP hierarchy as is (same delimiter).
    return f"{prefix}{DELIMITER}{folder.name}" if prefix else folder.name


def resolve(user: Any, name: str) -> ImapFolder | None:
    """The folder `name` designates if `user` may use it (policy checked again), else None."""
    wanted = "INBOX" if name.upper() == "INBOX" else name
    listed, mailboxes = _folders_and_mailboxes(user)
    found = next((f for f in listed if f.name == wanted), None)
    if found is None:
        return None
    try:
        # The BAL as read just now by this call (active, IMAP allowed): the policy decides on it, without
        # reading it a second time.
        access_mailbox(user, mailboxes[found.mailbox_id])
    except Http404:
        return None
    return found


def listing(user: Any, reference: str, pattern: str) -> list[tuple[ImapFolder | None, str]]:
    """LIST: (folder, name) matches, with the non-selectable parents (`Partagés`) the tree needs."""
    folders = folders_for(user)
    names = {f.name: f for f in folders}
    for name in list(names):  # parents the tree needs but that hold no messages: `Partagés`, and the
        parts = name.split(DELIMITER)  # parent of a subfolder whose parent was removed outside IMAP
        for depth in range(1, len(parts)):
            names.setdefault(DELIMITER.join(parts[:depth]), None)  # type: ignore[arg-type]
    regex, inbox = _pattern(reference + pattern), _pattern((reference + pattern).upper())
    return [
        (folder, name)
        for name, folder in names.items()
        if regex.fullmatch(name) or (name == "INBOX" and inbox.fullmatch(name))
    ]


def _pattern(pattern: str) -> re.Pattern[str]:
    # `*` matches across levels, `%` within one (RFC 3501 §6.3.8); INBOX is case-insensitive.
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.S)


def has_children(name: str, names: list[str]) -> bool:
    return any(other.startswith(name + DELIMITER) for other in names)
