"""The selected folder of a session: its view of the message numbers (apps.imap.uidmap) and the changes
it reports (EXISTS, EXPUNGE) at NOOP, IDLE and after commands, as RFC 3501 §7.4.1 allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apps.imap import uidmap
from apps.imap.folders import ImapFolder
from apps.imap.items import SequenceSet

if TYPE_CHECKING:
    from apps.imap.session import Session


@dataclass
class SelectedFolder:
    folder: ImapFolder
    readonly: bool
    view: uidmap.View

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
        by itself, so its own changes are certainly in what it reports."""
        listener = getattr(session.server, "listener", None)
        if announced and listener is not None:
            fresh = await listener.refreshed_view(self.folder.folder_id, session.server.run_db_read)
        else:
            fresh = await session.server.run_db_read(uidmap.current, self.folder.folder_id)
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
