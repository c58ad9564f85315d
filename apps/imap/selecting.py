"""SELECT's database work (a database thread): one round trip in the usual case (ADR 0023).

- The policy decides on the person's kept folder list (apps/imap/access.py), and the access counter read
  in the same round trip proves that list current (else it is read again and the policy decides again).
- The folder's shared UID map gives the view (apps/imap/uidmap.py); UIDNEXT, the UIDs above the map's
  last one and the flag stamp sequence's value (selected.py reports changes stamped later) come in the
  same round trip.
- The newest `PREFETCH` copies (flags, envelope, sizes: what a client's message list FETCHes next) are
  read ahead for the FETCH that follows (selected.Prefetch). They are kept per folder and person and read
  again only when the folder may have changed: a change announced since they were read (push listener),
  a new UIDNEXT, or a new highest flag stamp in the folder (read in the same round trip). Memory only,
  bounded (`MAX_KEPT`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from apps.imap import access, envelopes, fetching, folders, mailstore, uidmap

PREFETCH = 50  # the first screen of a message list
MAX_KEPT = 1_000  # (folder, person) pairs whose newest copies are kept
# The access counter, the flag stamp sequence's value and the folder's highest stamp (an index-only read
# of the partial (folder, modseq) index), for SELECT's round trip.
# Columns of the map's own statement (apps/imap/uidmap.py), `f` being the folder: one statement.
_STATE_COLUMNS = (
    ", (SELECT version FROM imap_access_version WHERE id = 1), "
    "(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM messaging_copy_modseq), "
    "(SELECT max(modseq) FROM messaging_messagecopy m WHERE m.folder_id = f.id AND m.modseq IS NOT NULL)"
)


@dataclass(frozen=True)
class Newest:
    rows: list[mailstore.Row]  # lean rows, newest first
    envelopes: dict[Any, Any]  # their ENVELOPEs, encoded, by message id
    mark: tuple[int, int]  # the listener's mark taken before they were read
    uidnext: int
    highest: int | None  # the folder's highest flag stamp when they were read
    # FETCH responses' bodies already encoded from these rows, by (items asked, UID command): filled and
    # read by the event loop only (selected.Prefetch).
    encoded: dict[Any, dict[int, bytes]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Selection:
    folder: folders.ImapFolder
    view: uidmap.View
    uidnext: int
    modseq: int
    newest: Newest | None = None


_lock = threading.Lock()
_kept: OrderedDict[tuple[int, int], Newest] = OrderedDict()


def _still(key: tuple[int, int], listener: Any) -> Newest | None:
    with _lock:
        found = _kept.get(key)
    if found is None or listener is None or not listener.unchanged_since(found.mark, key[0]):
        return None
    return found


def _keep(key: tuple[int, int], newest: Newest) -> None:
    with _lock:
        _kept[key] = newest
        _kept.move_to_end(key)
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)


def clear() -> None:
    with _lock:
        _kept.clear()


def selection(
    user_id: int, name: str, listener: Any = None, mark: tuple[int, int] | None = None
) -> Selection | None:
    """The folder `name` if the policy lets the person open it, with its view, UIDNEXT and flag stamp;
    with a listener `mark` (taken by the caller before this call) also its newest copies."""
    from apps.imap.selected import modseq_now

    entry = access.cached(user_id)
    fresh = entry is None
    if entry is None:
        entry = access.load(user_id)
    folder = access.resolve(entry, name)  # the policy, evaluated at every SELECT
    if folder is None and not fresh and entry.version != access.version_now():
        entry, fresh = access.load(user_id), True  # a folder created or a BAL opened since
        folder = access.resolve(entry, name)
    if folder is None:
        return None
    if entry.version is None:  # no counter (not PostgreSQL): nothing kept, nothing read ahead
        view, uidnext = uidmap.current_with_uidnext(folder.folder_id, True)
        return Selection(folder, view, uidnext, modseq_now())
    key = (folder.folder_id, user_id)
    kept = _still(key, listener) if mark is not None else None
    extra = []
    if mark is not None and kept is None:
        extra.append(mailstore.newest_statement(folder.folder_id, PREFETCH, user_id, folder.organisational))
    view, uidnext, results = uidmap.select_state(folder.folder_id, True, extra, (_STATE_COLUMNS, []))
    version, modseq, highest = results[0][0]
    if not fresh and version != entry.version:
        access.forget(user_id)  # something changed since the list was read: read it again, decide again
        return selection(user_id, name, listener, mark)
    if mark is None:
        return Selection(folder, view, uidnext, int(modseq))
    if kept is not None and (kept.uidnext != uidnext or kept.highest != highest):
        kept = None  # new copies or changed flags: read them again (a second trip, only then)
        found = uidmap.uidnext_and_newer(folder.folder_id, view.last_uid, [
            mailstore.newest_statement(folder.folder_id, PREFETCH, user_id, folder.organisational)
        ])[2][0]  # fmt: skip
    else:
        found = results[-1]
    if kept is None:
        rows = mailstore.lean_from(found, folder.role, user_id, folder.organisational)
        encoded = envelopes.encoded_for([row.copy for row in rows], fetching.envelope_of)
        kept = Newest(rows, encoded, mark, uidnext, highest)
        _keep(key, kept)
    return Selection(folder, view, uidnext, int(modseq), kept)
