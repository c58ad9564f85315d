"""The message-number <-> UID map of a folder (ADR 0023): one per folder and process, shared by every
session that selected the folder, bounded.

A folder's map is the sorted array of its UIDs (8 bytes each: 8 MB for a million messages), loaded once
and then extended by a cheap indexed query (`uid > last`) when a change is announced. A session does not
copy it: it keeps a *view* (the array and its own length), so new UIDs appended for other sessions stay
invisible to it until it is told of them (EXISTS), as RFC 3501 requires. An expunge builds a new array
(sessions still holding the old one keep their numbering until they report the EXPUNGEs). The cache holds
at most `MAX_UIDS` UIDs in all; the least recently used folders are dropped beyond that.

SELECT does no work proportional to the folder: while the process's push listener is connected
(`set_listening`), every removal is announced (`mark_stale`), so a loaded map is only extended by the UIDs
above its last one. Without a listener (it is reconnecting, or none runs) SELECT counts the folder's copies
to catch removals, as before.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

MAX_UIDS = 20_000_000


@dataclass(frozen=True)
class View:
    uids: array  # sorted UIDs; only the first `count` belong to this view
    count: int

    def uid_at(self, number: int) -> int:
        return self.uids[number - 1]

    def number_of(self, uid: int) -> int | None:
        index = bisect_left(self.uids, uid, 0, self.count)
        return index + 1 if index < self.count and self.uids[index] == uid else None

    def number_of_at_least(self, uid: int) -> int:
        """Index (0-based) of the first UID >= uid in this view."""
        return bisect_left(self.uids, uid, 0, self.count)

    def all_uids(self) -> list[int]:
        return list(self.uids[: self.count])

    @property
    def last_uid(self) -> int:
        return self.uids[self.count - 1] if self.count else 0


class _FolderMap:
    def __init__(self, uids: array) -> None:
        self.uids = uids
        self.stale = False  # an expunge (or a move out) was announced: reload in full


_lock = threading.Lock()
_maps: OrderedDict[int, _FolderMap] = OrderedDict()
# True while this process's push listener is connected: removals are then announced (apps.imap.push).
_listening = False
# Bumped by `clear`: a map loaded across a clear (a listener reconnecting) is used once, never kept.
_generation = 0


def set_listening(listening: bool) -> None:
    global _listening  # noqa: PLW0603 - one flag per process, set by its one listener
    _listening = listening


def _load_all(folder_id: int) -> array:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One row instead of a million: the server joins the UIDs, Python splits them (3-4x faster).
            cursor.execute(
                "SELECT string_agg(uid::text, ',' ORDER BY uid) FROM messaging_messagecopy "
                "WHERE folder_id = %s AND uid IS NOT NULL",
                [folder_id],
            )
            joined = cursor.fetchone()[0]
            return array("q", map(int, joined.split(","))) if joined else array("q")
        cursor.execute(
            "SELECT uid FROM messaging_messagecopy WHERE folder_id = %s AND uid IS NOT NULL ORDER BY uid",
            [folder_id],
        )
        return array("q", (row[0] for row in cursor.fetchall()))


Statement = tuple[str, list]  # (SQL, parameters): more work for the same round trip (SELECT's)


def uidnext_and_newer(
    folder_id: int, after: int, extra: Sequence[Statement] = (), columns: Statement = ("", [])
) -> tuple[int, list[int], list[list[tuple]]]:
    """The folder's UIDNEXT, its UIDs above `after` and the rows of the `extra` statements, in one round
    trip where the database allows (PostgreSQL: the statements sent together). `columns` (PostgreSQL):
    more values for the same row (`, (SELECT …)`), returned first among the results."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # `columns` and `extra` are this package's constant SQL; every value is a parameter.
            sql = (
                "SELECT f.uidnext, ARRAY(SELECT c.uid FROM messaging_messagecopy c WHERE c.folder_id = f.id "  # noqa: S608
                f"AND c.uid > %s ORDER BY c.uid){columns[0]} FROM messaging_folder f WHERE f.id = %s"
            )
            params: list = [after, *columns[1], folder_id]
            for statement, more in extra:
                sql, params = f"{sql};\n{statement}", params + list(more)
            cursor.execute(sql, params)
            row = cursor.fetchone()
            results = [[tuple(row[2:])]] if columns[0] and row else []
            for _statement in extra:
                cursor.nextset()
                results.append(cursor.fetchall())
            return (int(row[0]), list(row[1]), results) if row else (1, [], results)
        cursor.execute("SELECT uidnext FROM messaging_folder WHERE id = %s", [folder_id])
        row = cursor.fetchone()
        results = []
        for statement, more in extra:
            cursor.execute(statement, list(more))
            results.append(cursor.fetchall())
    return (int(row[0]) if row else 1), _newer(folder_id, after), results


def _newer(folder_id: int, after: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT uid FROM messaging_messagecopy WHERE folder_id = %s AND uid > %s ORDER BY uid",
            [folder_id, after],
        )
        return [row[0] for row in cursor.fetchall()]


def _count(folder_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM messaging_messagecopy WHERE folder_id = %s AND uid IS NOT NULL", [folder_id]
        )
        return cursor.fetchone()[0]


def current(folder_id: int, verify: bool = False) -> View:
    """Database thread: the folder's up-to-date view (loading or extending the shared map). `verify`
    (SELECT) also counts the folder when no listener announces removals."""
    return current_with_uidnext(folder_id, verify)[0]


def current_with_uidnext(folder_id: int, verify: bool = False) -> tuple[View, int]:
    """`current` and the folder's UIDNEXT: at most two short indexed queries on a loaded map."""
    view, uidnext, _results = select_state(folder_id, verify)
    return view, uidnext


def select_state(
    folder_id: int, verify: bool = False, extra: Sequence[Statement] = (), columns: Statement = ("", [])
) -> tuple[View, int, list[list[tuple]]]:
    """SELECT's database work on the map: the up-to-date view, UIDNEXT and the rows of `extra` statements
    (the access counter, the flag stamp, the newest copies: `handlers.mailbox`), one round trip on a
    loaded map."""
    with _lock:
        found = _maps.get(folder_id)
        if found is not None:
            _maps.move_to_end(folder_id)
    if found is not None and verify and not found.stale and not _listening:
        last = found.uids[-1] if found.uids else 0
        found.stale = _count(folder_id) != len(found.uids) + len(_newer(folder_id, last))
    if found is None or found.stale:
        generation = _generation
        fresh = _FolderMap(_load_all(folder_id))
        last = fresh.uids[-1] if fresh.uids else 0
        uidnext, newer, results = uidnext_and_newer(folder_id, last, extra, columns)
        fresh.uids.extend(newer)  # committed between the two queries
        with _lock:
            if generation == _generation:
                _maps[folder_id] = fresh
                _trim()
        return View(fresh.uids, len(fresh.uids)), uidnext, results
    last = found.uids[-1] if found.uids else 0
    uidnext, newer, results = uidnext_and_newer(folder_id, last, extra, columns)
    with _lock:
        if newer and (not found.uids or found.uids[-1] < newer[0]):
            found.uids.extend(newer)  # appended past every view's count: views stay valid
        return View(found.uids, len(found.uids)), uidnext, results


def mark_stale(folder_id: int) -> None:
    """Copies left the folder (expunge, move): the next `current` reloads it."""
    with _lock:
        found = _maps.get(folder_id)
        if found is not None:
            found.stale = True


def _trim() -> None:
    total = sum(len(m.uids) for m in _maps.values())
    while total > MAX_UIDS and len(_maps) > 1:
        _folder, dropped = _maps.popitem(last=False)
        total -= len(dropped.uids)


def clear() -> None:
    global _generation  # noqa: PLW0603
    with _lock:
        _maps.clear()
        _generation += 1
