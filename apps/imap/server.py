"""The IMAP server process: listeners (STARTTLS and implicit TLS), sessions, the database thread pool,
session limits and graceful shutdown. Built like the SMTP gateway (ADR 0009): asyncio for the sessions,
the database in `db_threads` threads, each keeping its Django connection between calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from apps.imap import auth
from apps.imap.session import Session
from mssante_lib.loopthread import in_fresh_connection, serving_in_thread

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int  # STARTTLS (143 in production); 0 = a free port
    tls_context: ssl.SSLContext
    imaps_port: int | None = None  # implicit TLS (993)
    db_threads: int = 4
    idle_timeout: float = 30 * 60
    max_literal: int = 25 * 1024 * 1024
    sessions_per_user: int = 20
    sessions_per_address: int = 50
    mechanisms: tuple[str, ...] = auth.MECHANISMS
    shutdown_grace: float = 30.0
    revocation_check: float = 2.0  # seconds between checks that sessions' app passwords are still valid


_db = in_fresh_connection


def _db_read(fn: Callable[..., T], *args: Any) -> T:
    """A read, without Django's connection health check (a `SELECT 1` round trip before every call, as
    much as SELECT's own query): a connection that was cut (PostgreSQL restarted) fails the read, which is
    then run again once on a new connection — an IDLE session recovers instead of failing its report."""
    from django.db import InterfaceError, OperationalError, close_old_connections, connection

    try:
        close_old_connections()
        if connection.connection is not None:
            connection.health_check_done = True  # type: ignore[attr-defined]
        try:
            return fn(*args)
        finally:
            close_old_connections()
    except (OperationalError, InterfaceError):
        connection.close()
        return _db(fn, *args)


def _revoked_passwords(ids: list[int]) -> set[int]:
    from django.db.models import Q

    from apps.accounts.models import AppPassword

    gone = AppPassword.objects.filter(pk__in=ids).filter(
        Q(revoked_at__isnull=False) | Q(user__is_active=False)
    )
    found = set(AppPassword.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return set(gone.values_list("pk", flat=True)) | (set(ids) - found)


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Server context for mail clients: TLS 1.2 minimum, forward-secret AEAD suites, no client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS")
    context.load_cert_chain(cert_file, key_file)
    return context


class ImapServer:
    def __init__(self, config: ImapConfig) -> None:
        from apps.imap import handlers  # noqa: F401 - registers the commands

        self.config = config
        self.executor = ThreadPoolExecutor(max_workers=config.db_threads, thread_name_prefix="imap-db")
        self.servers: list[asyncio.AbstractServer] = []
        self.sessions: set[Session] = set()
        self.tasks: set[asyncio.Task] = set()
        self.per_user: Counter[int] = Counter()
        self.per_address: Counter[str] = Counter()
        self.port = 0
        self.imaps_port = 0
        self.trace: list[bytes] | None = None
        from apps.imap.push import Listener

        self.access_changed = asyncio.Event()
        self.listener = Listener(lambda: list(self.sessions), self.access_changed.set)

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_db, fn, *args))

    async def run_db_read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_db_read, fn, *args))

    # ---- session limits -----------------------------------------------------------------------------
    def admit(self, session: Session, user_id: int) -> bool:
        """Count an authenticated session; False beyond the per-person or per-address limit."""
        config = self.config
        if self.per_user[user_id] >= config.sessions_per_user:
            return False
        if self.per_address[session.peer] >= config.sessions_per_address:
            return False
        self.per_user[user_id] += 1
        self.per_address[session.peer] += 1
        return True

    def _release(self, session: Session) -> None:
        if session.identity is not None and session.counted:
            self.per_user[session.identity.user_id] -= 1
            self.per_address[session.peer] -= 1
            if self.per_user[session.identity.user_id] <= 0:
                del self.per_user[session.identity.user_id]
            if self.per_address[session.peer] <= 0:
                del self.per_address[session.peer]

    # ---- revocation ---------------------------------------------------------------------------------
    async def _watch_revocations(self) -> None:
        """Revoking an application password (or disabling the account) ends its live sessions within
        `revocation_check` seconds: one query per process for all its sessions."""
        while True:
            await asyncio.sleep(self.config.revocation_check)
            live = {
                s.identity.app_password_id: s
                for s in list(self.sessions)
                if s.identity and s.identity.app_password_id
            }
            if not live:
                continue
            try:
                revoked = await self.run_db(_revoked_passwords, list(live))
            except Exception:  # noqa: BLE001 - database unreachable: check again at the next round
                logger.warning("imap: revocation check failed", exc_info=True)
                continue
            for session in self.sessions.copy():
                if session.identity is not None and session.identity.app_password_id in revoked:
                    session.end(auth.REVOKED)

    # ---- IMAP turned off ------------------------------------------------------------------------------
    async def _watch_access(self) -> None:
        """A BAL or structure closed to IMAP (or a BAL suspended, a member removed) ends the sessions that
        lost it: at once when the listener hears of it (`a:`), else at the next periodic check."""
        while True:
            period = 60.0 if self.listener.connected.is_set() else self.config.revocation_check
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.access_changed.wait(), period)
            self.access_changed.clear()
            live = [s for s in list(self.sessions) if s.identity is not None and not s.bye_sent]
            if not live:
                continue
            pairs = [(s.user_id, s.selected.folder.mailbox_id if s.selected else None) for s in live]
            try:
                ended = await self.run_db_read(auth.lost_access, pairs)
            except Exception:  # noqa: BLE001 - database unreachable: check again at the next round
                logger.warning("imap: access check failed", exc_info=True)
                continue
            for session, pair in zip(live, pairs, strict=True):
                if pair in ended:
                    session.end(auth.ACCESS_ENDED, "UNAVAILABLE")

    # ---- connections ----------------------------------------------------------------------------------
    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tls: bool) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        session = Session(self, reader, writer, tls=tls, peer=str(peer[0]))
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self._release(session)
            if task is not None:
                self.tasks.discard(task)

    async def start(self) -> None:
        config = self.config
        plain = await asyncio.start_server(
            functools.partial(self._on_connect, tls=False), config.host, config.port, limit=64 * 1024
        )
        self.servers.append(plain)
        self.port = plain.sockets[0].getsockname()[1]
        if config.imaps_port is not None:
            implicit = await asyncio.start_server(
                functools.partial(self._on_connect, tls=True),
                config.host,
                config.imaps_port,
                ssl=config.tls_context,
                limit=64 * 1024,
            )
            self.servers.append(implicit)
            self.imaps_port = implicit.sockets[0].getsockname()[1]
        self.listener.start()
        self._revocations = asyncio.get_running_loop().create_task(self._watch_revocations())
        self._access = asyncio.get_running_loop().create_task(self._watch_access())
        logger.info(
            "imap: listening on %s:%d (STARTTLS) and %s (TLS)", config.host, self.port, self.imaps_port
        )

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        await self._connected(reader, writer, tls)

    async def stop(self) -> None:
        """Close the listeners, let running commands finish (their sessions then get BYE), close the rest."""
        for server in self.servers:
            server.close()
        for session in list(self.sessions):
            session.shutdown()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=self.config.shutdown_grace)
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        await self.listener.stop()
        self._revocations.cancel()
        self._access.cancel()
        await asyncio.gather(self._revocations, self._access, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown, True)

    @contextlib.contextmanager
    def running(self) -> Iterator[ImapServer]:
        """Serve from a background thread for the duration of the block (tests)."""
        loop = asyncio.new_event_loop()
        self.loop = loop
        with serving_in_thread(loop, self.start, self.stop, name="imap-loop", join_timeout=60):
            yield self
