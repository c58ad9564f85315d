"""One listener per IMAP process (ADR 0023): a single PostgreSQL connection LISTENs on `imap_folder`, where
the copy triggers of the `imap_uids` migration announce, at commit, which folders gained, changed (flags
too) or lost copies — whoever changed them (deposit worker, webmail, another IMAP process). The listener
marks the shared UID maps stale when copies left a folder and wakes the sessions that selected it (IDLE
answers at once; others report at their next command). No session holds a database connection of its own.

If the connection breaks (PostgreSQL restarted), it reconnects with back-off; meanwhile nothing is
announced, so on reconnection every map is marked stale and every session woken to check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

from apps.imap import uidmap

logger = logging.getLogger(__name__)
CHANNEL = "imap_folder"


def connection_params() -> dict[str, Any]:
    params = dict(connections["default"].get_connection_params())
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    params.setdefault("connect_timeout", 5)
    return params


class Listener:
    def __init__(
        self, sessions: Callable[[], Iterable[Any]], on_access_change: Callable[[], None] = lambda: None
    ) -> None:
        self._sessions = sessions
        self._on_access_change = on_access_change  # `a:` a BAL or structure opened/closed to IMAP
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()
        # Per folder: how many announcements arrived, and the map refresh in flight (the announcement
        # count when it started, its future). 200 sessions woken by one deposit share ONE refresh.
        self._announced: dict[int, int] = {}
        self._refreshing: dict[int, tuple[int, asyncio.Future]] = {}
        # For what SELECT read ahead (apps/imap/selected.py, `Prefetch`): a number per announcement, the
        # latest one per folder, and an epoch bumped at each (re)connection and access change.
        self.epoch = 0
        self._sequence = 0
        self._latest: dict[int, int] = {}

    def mark(self) -> tuple[int, int] | None:
        """Where the announcements stand now (None while not listening: nothing would be announced)."""
        return (self.epoch, self._sequence) if self.connected.is_set() else None

    def unchanged_since(self, mark: tuple[int, int], folder_id: int) -> bool:
        """Nothing announced for the folder since `mark`, and the listener connected all along."""
        return self.connected.is_set() and mark[0] == self.epoch and self._latest.get(folder_id, 0) <= mark[1]

    async def refreshed_view(self, folder_id: int, run_db_read: Callable[..., Any]) -> uidmap.View:
        """The folder's current view for a woken session: joins a refresh started after the latest
        announcement (it sees every change announced so far) or starts one."""
        wanted = self._announced.get(folder_id, 0)
        running = self._refreshing.get(folder_id)
        if running is not None and running[0] >= wanted:
            return await asyncio.shield(running[1])
        future: asyncio.Future = asyncio.ensure_future(run_db_read(uidmap.current, folder_id))
        self._refreshing[folder_id] = (wanted, future)

        def done(_future: asyncio.Future) -> None:
            if self._refreshing.get(folder_id, (0, None))[1] is future:
                del self._refreshing[folder_id]

        future.add_done_callback(done)
        return await asyncio.shield(future)

    def start(self) -> None:
        if connections["default"].vendor == "postgresql":
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **connection_params(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.epoch += 1
                    self.connected.set()
                    delay = 0.5
                    self._wake_all()  # anything may have changed while we were not listening
                    uidmap.set_listening(True)  # from now on every removal is announced
                    async for notice in conn.notifies():
                        self.dispatch(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - database down or restarted: listen again when it is back
                logger.warning("imap push: listener connection lost, reconnecting", exc_info=True)
            finally:
                uidmap.set_listening(False)  # SELECT counts again until the next LISTEN
            self.connected.clear()
            self.epoch += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    def dispatch(self, payload: str) -> None:
        kind, _, ids = payload.partition(":")
        if kind == "a":
            self.epoch += 1
            self._on_access_change()
            return
        folders = {int(i) for i in ids.split(",") if i.isdigit()}
        self._sequence += 1
        if len(self._latest) > 100_000:  # bounded: forgetting them all is a new epoch
            self._latest.clear()
            self.epoch += 1
        for folder_id in folders:
            self._announced[folder_id] = self._announced.get(folder_id, 0) + 1
            self._latest[folder_id] = self._sequence
        if kind == "d":
            for folder_id in folders:
                uidmap.mark_stale(folder_id)
        for session in self._sessions():
            selected = session.selected
            if selected is not None and selected.folder.folder_id in folders:
                if kind == "u":  # flags or work-queue state changed: report them as FETCH FLAGS
                    selected.flags_pending = True
                session.changed.set()

    def _wake_all(self) -> None:
        uidmap.clear()
        for folder_id in self._refreshing:  # refreshes started before the reconnection are not joined
            self._announced[folder_id] = self._announced.get(folder_id, 0) + 1
        self._on_access_change()
        for session in self._sessions():
            if session.selected is not None:
                session.selected.flags_pending = True
                session.changed.set()
