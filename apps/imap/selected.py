"""The selected folder of a session: its view of the message numbers (apps.imap.uidmap) and the changes
it reports (EXISTS, EXPUNGE, FETCH FLAGS) at NOOP, IDLE and after commands, as RFC 3501 §7.4.1 allows.

Flag changes are found by their stamp (`MessageCopy.modseq`, set by a PostgreSQL trigger from one global
sequence): the copies of the folder stamped since the session's previous report. Stamps are taken when a
transaction writes and become visible when it commits, so a slow transaction may commit a stamp lower
than one already reported; each report therefore looks back to the *previous* report's high mark and skips
what it already sent (`sent`), which covers a commit that lands up to one report late.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection

from apps.imap import uidmap
from apps.imap.folders import ImapFolder
from apps.imap.items import SequenceSet
from apps.imap.responses import fetch_response, flag_list

if TYPE_CHECKING:
    from apps.imap.session import Session

MAX_FLAG_REPORT = 1000  # flag changes reported at once; a client resynchronises beyond (it re-reads FLAGS)
PREFETCH_AGE = 5.0  # seconds: what SELECT read ahead answers the FETCH that follows it, not a later one


@dataclass
class Prefetch:
    """The newest copies (lean rows: flags, envelope, sizes) that SELECT read in its own round trip, for
    the FETCH of the message list that clients send next. It answers that FETCH exactly as the database
    did at SELECT, so only while that is still the folder's state as far as this process can know: no
    change announced for the folder since (push listener connected all along, apps/imap/push.py), no
    command of this session that may change it (session.KEEP_PREFETCH), the UIDs asked all within what was
    read, and for `PREFETCH_AGE` seconds at most. A change committed elsewhere in the instant between and
    not yet announced is reported when it is (`FETCH FLAGS` at the next NOOP or IDLE, it is stamped), as
    for a FETCH that ran just before it. Otherwise FETCH reads the database as before."""

    rows: dict[int, Any]  # uid -> mailstore.Row
    low: int  # every copy with a UID from `low` to `high` is in `rows` (0: the whole folder)
    high: int
    envelopes: dict[Any, Any]  # encoded ENVELOPEs by message id
    mark: tuple[int, int]  # the listener's mark taken before SELECT's round trip
    encoded: dict[Any, dict[int, bytes]] = field(default_factory=dict)  # see selecting.Newest.encoded
    taken: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, newest: Any, view: uidmap.View, limit: int) -> Prefetch:
        """From `selecting.Newest` (read `limit` at most, under the listener's `mark`)."""
        rows = {int(row.copy.uid): row for row in newest.rows}
        low = 0 if len(rows) < limit else min(rows)
        return cls(rows, low, view.last_uid, newest.envelopes, newest.mark, newest.encoded)

    def bodies(self, rows: list[Any], atts: tuple[Any, ...], uid: bool) -> list[tuple[int, bytes]]:
        """(UID, encoded FETCH body) of `rows` for these items: each encoded once for the rows' life."""
        from apps.imap.fetching import fetch_items
        from apps.imap.responses import fetch_body

        known = self.encoded.setdefault((atts, uid), {})
        out = []
        for row in rows:
            key = int(row.copy.uid)
            body = known.get(key)
            if body is None:
                items = fetch_items(row.copy, row.flags, atts, uid=uid, envelopes=self.envelopes)
                body = known[key] = fetch_body(items)
            out.append((key, body))
        return out

    def rows_for(self, uids: list[int], folder_id: int, listener: Any) -> list[Any] | None:
        """The rows of `uids` (ascending) if this can still answer for them, else None."""
        if not uids or uids[0] < self.low or uids[-1] > self.high or listener is None:
            return None
        if time.monotonic() - self.taken > PREFETCH_AGE or not listener.unchanged_since(self.mark, folder_id):
            return None
        return [self.rows[uid] for uid in uids if uid in self.rows]


@dataclass
class SelectedFolder:
    folder: ImapFolder
    readonly: bool
    view: uidmap.View
    modseq: int = 0  # highest flag stamp reported (or the sequence's value at SELECT)
    floor: int = 0  # the previous report's high mark: the next report looks back to it
    flags_pending: bool = True  # set by the push listener when the folder's copies changed
    sent: dict[int, int] = field(default_factory=dict)  # uid -> stamp already reported above `floor`
    prefetch: Prefetch | None = None  # what SELECT read ahead, while it stands

    def uids_of(self, seq: SequenceSet, *, uid: bool) -> list[int]:
        """The UIDs a sequence set names (message numbers, or UIDs with `uid`); nonexistent ones dropped."""
        view = self.view
        if not view.count:
            return []
        out: list[int] = []
        if uid:
            for low, high in seq.bounds(view.last_uid):
                start = view.number_of_at_least(low)
                for index in range(start, view.count):
                    value = view.uids[index]
                    if value > high:
                        break
                    out.append(value)
            return sorted(set(out))
        for low, high in seq.bounds(view.count):
            out.extend(view.uids[index - 1] for index in range(max(low, 1), min(high, view.count) + 1))
        return sorted(set(out))

    async def report_changes(self, session: Session, *, announced: bool = False) -> None:
        """`announced`: woken in IDLE by the push listener; the sessions it woke share one refresh of the
        folder's map (started after the announcement). After a command of its own, a session refreshes
        by itself, so its own changes are certainly in what it reports. Flag changes (`flags_pending`) are
        read with the map in one trip, per session (the flags shown depend on the person)."""
        folder = self.folder
        listener = getattr(session.server, "listener", None)
        changed: list = []
        if self.flags_pending:
            self.flags_pending = False
            fresh, changed = await session.server.run_db_read(
                _view_and_flags, folder.folder_id, self.floor, session.user_id, folder.organisational
            )
        elif announced and listener is not None:
            fresh = await listener.refreshed_view(folder.folder_id, session.server.run_db_read)
        else:
            fresh = await session.server.run_db_read(uidmap.current, folder.folder_id)
        old = self.view
        known = old.count  # what the client believes the folder holds
        if fresh.uids is not old.uids:
            kept = set(fresh.uids[: fresh.count])
            for number in range(old.count, 0, -1):  # descending: each number is valid when sent
                if old.uids[number - 1] not in kept:
                    await session.send(b"* %d EXPUNGE\r\n" % number)
                    known -= 1
        self.view = fresh
        if fresh.count != known:
            await session.send(b"* %d EXISTS\r\n" % fresh.count)
        await self._report_flags(session, changed)

    async def _report_flags(self, session: Session, changed: list[tuple[int, int, list[str]]]) -> None:
        if not changed and self.modseq == self.floor:
            return
        high = self.modseq
        for uid, stamp, flags in changed:
            high = max(high, stamp)
            if self.sent.get(uid) == stamp:
                continue
            self.sent[uid] = stamp
            number = self.view.number_of(uid)
            if number is not None:
                await session.send(fetch_response(number, [("UID", uid), ("FLAGS", flag_list(flags))]))
        self.floor, self.modseq = self.modseq, high
        self.sent = {uid: stamp for uid, stamp in self.sent.items() if stamp > self.floor}


def modseq_now() -> int:
    """Database thread: the flag stamp sequence's current value (0 where there is none: SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(  # a sequence never used yet hands out its last_value next
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM messaging_copy_modseq"
        )
        return int(cursor.fetchone()[0])


def _view_and_flags(
    folder_id: int, since: int, user_id: int, organisational: bool
) -> tuple[uidmap.View, list[tuple[int, int, list[str]]]]:
    """Database thread: the folder's fresh view and the (uid, stamp, flags) of copies stamped after
    `since`, flags as this person sees them."""
    from apps.imap import mailstore

    view = uidmap.current(folder_id)
    stamped = list(
        mailstore.MessageCopy.objects.filter(folder_id=folder_id, modseq__gt=since, uid__isnull=False)
        .order_by("modseq")
        .values_list("uid", "modseq")[:MAX_FLAG_REPORT]
    )
    if not stamped:
        return view, []
    stamps = {int(uid or 0): int(stamp or 0) for uid, stamp in stamped}
    rows = mailstore.rows(folder_id, list(stamps), user_id, organisational)
    return view, [(int(r.copy.uid or 0), stamps[int(r.copy.uid or 0)], r.flags) for r in rows]
