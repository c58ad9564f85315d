"""Group commit of the inbound spool: one statement, one WAL flush, one publish for every session waiting.

Sessions that finished DATA hand their encrypted message (`services.SpoolEntry`) to the process's writer and
wait. The writer, a task of the event loop, commits everything pending in one statement over its own
psycopg connection (autocommit, synchronous commit on), then releases every waiting session at once: each
answers 250. While a batch is being committed, the sessions finishing meanwhile gather for the next one, so
the batch grows with the load and an idle gateway still commits a lone message at once. Then one ingest task
is published for the batch, from a thread of its own (a broker outage must not stall the loop; the row is
safe anyway and the sweeper re-queues it); batches committed while a publish is under way share the next.

If the batch fails, every session of it gets the exception (its reply is 451: the peer keeps the message and
retries), the blobs of its large messages are removed and nothing of it is stored (one statement). A batch
failing for a reason other than the connection (a row PostgreSQL refuses) is retried one message at a time
so that one bad row cannot take the others down with it. PostgreSQL only: with SQLite (development) the
gateway commits each message on its own in a database thread (`services.do_spool_message`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from django.db import connections

from apps.gateway import services

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # rows per statement (18 parameters each, under PostgreSQL's 65,535)
MAX_BATCH_BYTES = 16 * 1024 * 1024  # ciphertext per statement: large row-held messages make small batches
CONNECT_TIMEOUT = 10
IDLE_CHECK_SECONDS = 5.0
# A publish costs ~1 ms of CPU (kombu, Redis round trip): batches committed within this delay share one. The
# 250s are already sent; only the start of the ingest waits. At 0.05 s a gateway process accepting 20
# messages a second (a busy shared host) published for nearly every message: ~1 ms of CPU each, and as many
# ingest tasks. The ingest itself lets a partial batch fill for 0.2 s (GATEWAY_INGEST_FILL_MS): waiting as
# long here costs no latency that matters and at most 5 publishes a second per process.
PUBLISH_LINGER_SECONDS = 0.2


def connection_params() -> dict[str, Any]:
    """psycopg's arguments for the default database, read at each connect (tests redirect it)."""
    params = dict(connections["default"].get_connection_params())
    # Django's cursor class and adapters stay Django's; its prepare_threshold (None: no prepared statements,
    # for transaction-mode poolers, unless the deployment enables them) is kept.
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return params


def _prepare_publish() -> None:
    try:
        services.prepare_ingest_publish()
    except Exception:  # the first publish will try again (and log its own failure)
        logger.warning("gateway: could not prepare the ingest task's publishing", exc_info=True)


class SpoolWriter:
    """`run_db(fn, *args)` runs `fn` in a database thread (removing a blob may touch the database)."""

    def __init__(self, run_db: Callable[..., Awaitable[Any]]) -> None:
        self._run_db = run_db
        self._pending: list[tuple[services.SpoolEntry, asyncio.Future[None]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._used_at = 0.0  # loop time of the connection's last use
        # A broker that hangs delays publishes, never the SMTP replies. Ids committed while a publish is
        # under way go out together in the next one.
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-publish")
        self._publish_lock = threading.Lock()
        self._to_publish: list[str] = []

        self._busy = False
        self._stopped = False
        self.batches = 0  # committed batches, and the messages in them (logs, tests)
        self.committed = 0

    def prepare(self) -> None:
        """Fill Celery's task registry now (every app's tasks imported: ~0.5 s of CPU, which fell on the
        first messages a process accepted), in a daemon thread of its own: neither the event loop nor a
        stop (which waits for the publishing thread) waits for it."""
        threading.Thread(target=_prepare_publish, name="gateway-prepare-publish", daemon=True).start()

    @property
    def waiting(self) -> int:
        """Sessions waiting for the next batch (not counting the one being committed)."""
        return len(self._pending)

    async def spool(self, entry: services.SpoolEntry) -> None:
        """Return once `entry` is committed; raise when its batch failed (nothing of it was stored)."""
        if self._stopped:
            await self._discard([entry])
            raise RuntimeError("gateway: the spool writer is stopped")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="gateway-spool-writer")
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((entry, future))
        assert self._wakeup is not None
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._take_batch()
                self._busy = True
                try:
                    await self._commit_batch(batch)
                finally:
                    self._busy = False

    def _take_batch(self) -> list[tuple[services.SpoolEntry, asyncio.Future[None]]]:
        """The oldest pending messages, up to MAX_BATCH rows and MAX_BATCH_BYTES (one at least)."""
        count, size = 0, 0
        for entry, _future in self._pending[:MAX_BATCH]:
            size += len(entry.ciphertext or b"")
            if count and size > MAX_BATCH_BYTES:
                break
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _commit_batch(self, batch: list[tuple[services.SpoolEntry, asyncio.Future[None]]]) -> None:
        live = [(entry, future) for entry, future in batch if not future.cancelled()]
        # A session gone before its turn is owed no 250: nothing of its message is kept.
        await self._discard([entry for entry, future in batch if future.cancelled()])
        if not live:
            return
        try:
            await self._execute([entry for entry, _ in live])
        except Exception as exc:
            if len(live) > 1 and not self._connection_failed(exc):
                logger.warning("gateway: a batch of %d was refused (%s); one by one", len(live), exc)
                for one in live:
                    await self._commit_batch([one])
                return
            logger.exception("gateway: could not commit a batch of %d message(s)", len(live))
            await self._discard([entry for entry, _ in live])
            for _entry, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.committed += len(live)
        for _entry, future in live:
            if not future.done():
                future.set_result(None)
        self._publish_later([str(entry.spool_id) for entry, _ in live])

    def _publish_later(self, ids: list[str]) -> None:
        with self._publish_lock:
            scheduled = bool(self._to_publish)
            self._to_publish.extend(ids)
        if not scheduled:
            try:
                self._publisher.submit(self._publish_pending)
            except RuntimeError:  # shut down: the rows are committed, the sweeper will queue them
                logger.warning("gateway: %d message(s) left for the sweeper to queue", len(ids))

    def _publish_pending(self) -> None:
        time.sleep(
            PUBLISH_LINGER_SECONDS
        )  # in the publishing thread: lets the next batches join this publish
        with self._publish_lock:
            ids, self._to_publish = self._to_publish, []
        services.enqueue_ingest_batch(ids)

    async def _discard(self, entries: list[services.SpoolEntry]) -> None:
        for entry in entries:
            if entry.blob:  # a large message's blob (small ones were only in memory)
                try:
                    await self._run_db(entry.discard)
                except Exception:  # an orphan blob without its key is unreadable: a clean-up job's work
                    logger.exception("gateway: could not remove blob %s", entry.blob)

    def _connection_failed(self, exc: Exception) -> bool:
        return self._conn is None or self._conn.broken or isinstance(exc, psycopg.OperationalError)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        """The writer's connection; after an idle spell it is checked first (a server restarted meanwhile
        would otherwise cost the next batch its 250s), as Django's CONN_HEALTH_CHECKS does."""
        loop = asyncio.get_running_loop()
        if (
            self._conn is not None
            and not self._conn.closed
            and loop.time() - self._used_at > IDLE_CHECK_SECONDS
        ):
            try:
                await self._conn.execute("SELECT 1")
            except psycopg.Error:
                await self.close_connection()
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(**connection_params(), autocommit=True)
            # The 250 promises the message survives a crash: no role or database setting may relax it.
            await self._conn.execute("SET synchronous_commit TO on")
        self._used_at = loop.time()
        return self._conn

    async def _execute(self, entries: list[services.SpoolEntry]) -> None:
        conn = await self._connection()
        try:
            await services.do_spool_batch(conn, entries)
        except Exception:
            if conn.broken:  # dropped: the next batch reconnects
                await self.close_connection()
            raise

    async def close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def stop(self, timeout: float = 30.0) -> None:
        """Let the pending batches commit (their sessions get their replies), then close."""
        self._stopped = True  # a session finishing DATA from now on answers 451: the peer will retry
        deadline = asyncio.get_running_loop().time() + timeout
        while (self._pending or self._busy) and self._task is not None and not self._task.done():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.close_connection()
        # A task run in place of its publish (eager mode: tests, development) may have opened a database
        # connection in the publishing thread; it is closed there, the thread that owns it.
        self._publisher.submit(connections.close_all)
        self._publisher.shutdown(wait=True)
