"""The message-number <-> UID map of a folder (ADR 0023): one per folder and process, shared by every
session that selected the folder, bounded.

A folder's map is the sorted array of its UIDs (8 bytes each: 8 MB for a million messages), loaded once
and then extended by a cheap indexed query (`uid > last`) when a change is announced. A session does not
copy it: it keeps a *view* (the array and its own length), so new UIDs appended for other sessions stay
invisible to it until it is told of them (EXISTS), as RFC 3501 requires. An expunge builds a new array
(sessions still holding the old one keep their numbering until they report the EXPUNGEs). The cache holds
at most `MAX_UIDS` UIDs in all; the least recently used folders are dropped beyond that.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
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


def _load_all(folder_id: int) -> array:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT uid FROM messaging_messagecopy WHERE folder_id = %s AND uid IS NOT NULL ORDER BY uid",
            [folder_id],
        )
        return array("q", (row[0] for row in cursor.fetchall()))


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
    (SELECT) also counts the folder, catching removals no notification announced."""
    with _lock:
        found = _maps.get(folder_id)
        if found is not None:
            _maps.move_to_end(folder_id)
    if found is not None and verify and not found.stale:
        last = found.uids[-1] if found.uids else 0
        found.stale = _count(folder_id) != len(found.uids) + len(_newer(folder_id, last))
    if found is None or found.stale:
        fresh = _FolderMap(_load_all(folder_id))
        with _lock:
            _maps[folder_id] = fresh
            _trim()
        return View(fresh.uids, len(fresh.uids))
    last = found.uids[-1] if found.uids else 0
    newer = _newer(folder_id, last)
    with _lock:
        if newer and (not found.uids or found.uids[-1] < newer[0]):
            found.uids.extend(newer)  # appended past every view's count: views stay valid
        return View(found.uids, len(found.uids))


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
    with _lock:
        _maps.clear()
