"""The inbound SMTP server (aiosmtpd): other MSSanté operators deliver to our BALs over mutual TLS.

asyncio serves the sessions; everything that touches the database (policy checks, the spool commit) runs in
a pool of threads (`GATEWAY_DB_THREADS`), each with its own Django connection, closed when broken or too
old. Any failure there answers 451 4.3.0: the peer keeps the message and retries; it never gets 250 for a
message we did not store, nor a 5xx for an outage of ours. Refusals and codes: docs/decisions/0009.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, TypeVar

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, TLSSetupException, syntax
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from apps.gateway import policies, replies, services, tls_alert
from apps.gateway.sessions import Sessions
from apps.gateway.spool_writer import SpoolWriter
from apps.gateway.tls import describe_session, peer_certificate

if TYPE_CHECKING:
    from cryptography import x509

logger = logging.getLogger(__name__)
T = TypeVar("T")

# aiosmtpd's own replies, given an enhanced status code and a reason (checked on 1.4.6).
_STOCK_REPLIES = {
    "530 Must issue a STARTTLS command first": str(replies.TLS_REQUIRED),
    "554 Command refused due to lack of security": str(replies.TLS_REQUIRED),
}


_thread_state = threading.local()
# How often a DB thread lets Django re-check its connection (CONN_MAX_AGE, CONN_HEALTH_CHECKS): each check
# costs a round trip on the next query, which per SMTP command was a third of the gateway's database time.
CONNECTION_CHECK_SECONDS = 5.0


def decision_reuse_seconds() -> float:
    """How long an accepted MAIL FROM or RCPT TO decision is reused by a gateway process without a database
    thread (each hop to one cost ~0.3 ms of the event loop, the recipient check ~0.5 ms more).

    Only with the per-process liste blanche snapshot (production), which is itself up to a second stale;
    refusals are never reused, and the deposit applies the recipient rules again (state, quota, policies).
    """
    default = 1.0 if getattr(settings, "LISTE_BLANCHE_PROCESS_CACHE", True) else 0.0
    return float(getattr(settings, "GATEWAY_DECISION_REUSE_SECONDS", default))


_opened_in: set[int] = set()  # ids of DB threads holding a connection
_opened_lock = threading.Lock()


def _close_own_connections() -> None:
    connections.close_all()
    with _opened_lock:
        _opened_in.discard(threading.get_ident())


def _close_thread_connections(executor: ThreadPoolExecutor, timeout: float = 5.0) -> None:
    """Close the connection of every DB thread: closing tasks are submitted until each thread ran one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _opened_lock:
            if not _opened_in.intersection(t.ident for t in threading.enumerate()):
                return
        executor.submit(_close_own_connections).result(timeout=timeout)


def _run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """In a DB thread: the connection is kept between calls, checked every few seconds and after errors."""
    now = time.monotonic()
    if now - getattr(_thread_state, "checked_at", 0.0) > CONNECTION_CHECK_SECONDS:
        close_old_connections()
        _thread_state.checked_at = now
    with _opened_lock:
        _opened_in.add(threading.get_ident())
    try:
        return fn(*args, **kwargs)
    except Exception:
        close_old_connections()  # a broken connection is dropped: the next call reconnects
        _thread_state.checked_at = 0.0
        raise


def _run_db_read(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`_run_db` for a read (MAIL FROM, RCPT TO checks): a connection left stale by a PostgreSQL restart is
    replaced and the read run once more, so the first command after the database is back gets its true
    answer, not a spurious 4xx."""
    try:
        return _run_db(fn, *args, **kwargs)
    except (OperationalError, InterfaceError):
        for connection in connections.all(initialized_only=True):
            connection.close()
        return _run_db(fn, *args, **kwargs)


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with our texts for its built-in refusals, and DATA read in chunks, not line by line.

    aiosmtpd reads DATA one line at a time (a coroutine round per line: ~270 for 20 KB), which was a third
    of the gateway's CPU per message. Here DATA is read in 64 KiB chunks and the end marker searched in
    them; the size limit still discards (not buffers) what exceeds it and answers 552 after the end marker.
    """

    def __init__(self, handler: GatewayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._too_big = replies.too_big(self.data_size_limit or 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies leave at once
        super().connection_made(transport)
        self.event_handler.sessions.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.event_handler.sessions.closed(self)
        super().connection_lost(exc)

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            if status.startswith("552 Error:"):  # SIZE parameter over the limit
                status = self._too_big
            status = _STOCK_REPLIES.get(status, status)
        await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's own, without the `typing.Protocol` class it defines at every call (a fifth of the
        event loop's time went to MAIL and RCPT address parsing, most of it creating that class), and
        with a fast path for the usual `<dot-atom@host.name>` (same result as the RFC 5322 parser's)."""
        if not arg:
            return "", ""
        plain = _PLAIN_ANGLE_ADDR.match(arg)
        if plain is not None:
            rest = arg[plain.end() :].lstrip(" \t")
            if not rest.startswith("(") and not (
                self.local_part_limit and len(plain.group(1).rpartition("@")[0]) > self.local_part_limit
            ):
                return plain.group(1), rest
        try:
            address, rest = (get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec)(arg)
        except HeaderParseError:
            return None, None
        addr = address.addr_spec
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 (aiosmtpd command name)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        sessions = self.event_handler.sessions
        sessions.in_data.add(self)  # a stopping gateway lets this message finish first (sessions.py)
        try:
            content = await read_data(self._reader, self.data_size_limit or 0)
            if content is None:
                self._set_post_data_state()
                await self.push(self._too_big)
                return
            self.envelope.content = self.envelope.original_content = content
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push("250 OK" if status is MISSING else status)
        finally:
            sessions.in_data.discard(self)


_END = b"\r\n.\r\n"
# `<local@domain>` with a dot-atom local part and an LDH domain: what get_angle_addr returns unchanged. A
# comment after it, quoting, address literals and the rest go through the full parser.
_PLAIN_ANGLE_ADDR = re.compile(
    r"<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
)


async def read_data(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The DATA payload up to CRLF.CRLF, dot-unstuffed (RFC 5321 §4.5.2); None when over `limit` bytes.

    A virtual CRLF in front lets an empty message (a lone ".") match the same end marker. Bytes read past
    the marker (a client pipelining its next command) go back into the reader.
    """
    buffer = bytearray(b"\r\n")
    scanned = 0
    too_big = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionResetError("connection closed during DATA")
        buffer += chunk
        end = buffer.find(_END, scanned)
        if end >= 0:
            break
        scanned = max(len(buffer) - len(_END) + 1, 0)
        if limit and len(buffer) - 2 > limit:
            too_big = True
            # Keep only the tail that may hold the start of the end marker: memory stays bounded.
            del buffer[2 : len(buffer) - len(_END)]
            scanned = 0
    leftover = bytes(buffer[end + len(_END) :])
    if leftover:
        reader._buffer[0:0] = leftover  # type: ignore[attr-defined]  # asyncio.StreamReader's buffer
    payload = bytes(buffer[: end + 2]).replace(b"\r\n.", b"\r\n")[2:]
    if too_big or (limit and len(payload) > limit):
        return None
    return payload


@dataclass
class _Transaction:
    """Per-session facts kept beside aiosmtpd's envelope."""

    peer_dn: str = ""
    declared_size: int = 0
    subject: x509.Name | None = None  # the client certificate's, once MAIL has looked at it
    certificate: x509.Certificate | None = None
    trace_prefix: str = ""  # the Received line up to the spool id, for `trace_helo`
    trace_helo: str | None = None


class GatewayHandler:
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        *,
        hostname: str,
        max_recipients: int,
        spool_writer: SpoolWriter | None = None,
    ) -> None:
        self.executor = executor
        self.hostname = hostname
        self.max_recipients = max_recipients
        self.spool_writer = spool_writer
        self.reuse_seconds = decision_reuse_seconds()
        self.sessions = Sessions()
        # key -> (until, decision, the declared size it was accepted for)
        self._accepted: dict[tuple[Any, ...], tuple[float, Any, int]] = {}

    def _reused(self, key: tuple[Any, ...], size: int = 0) -> Any:
        """The accepted decision remembered for `key` if still fresh and made for a size at least `size`,
        else None. What is accepted for a size is accepted for any smaller one: the quota and the size
        limits of the recipient policies only ever refuse what is too large."""
        found = self._accepted.get(key)
        if found is None or found[0] <= time.monotonic() or size > found[2]:
            return None
        return found[1]

    def _remember(self, key: tuple[Any, ...], decision: Any, size: int = 0) -> None:
        if self.reuse_seconds > 0:
            if len(self._accepted) > 10_000:  # bounded: expired keys are not swept one by one
                self._accepted.clear()
            self._accepted[key] = (time.monotonic() + self.reuse_seconds, decision, size)

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_run_db, fn, *args, **kwargs))

    async def _db_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_run_db_read, fn, *args, **kwargs))

    @staticmethod
    def _ssl_object(server: SMTP) -> ssl.SSLObject | None:
        transport = server.transport
        return transport.get_extra_info("ssl_object") if transport is not None else None

    @staticmethod
    def _state(session: Session) -> _Transaction:
        state = getattr(session, "gateway", None)
        if state is None:
            state = _Transaction()
            session.gateway = state  # type: ignore[attr-defined]
        return state

    async def handle_EHLO(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """No AUTH here (operators authenticate by certificate); our replies carry enhanced status codes."""
        session.host_name = hostname
        kept = [line for line in responses if not line.startswith("250-AUTH")]
        return [*kept[:-1], "250-ENHANCEDSTATUSCODES", kept[-1]]

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):  # a refused certificate: the peer got its TLS alert
            cause = error.__cause__
            logger.warning(
                "gateway: TLS handshake refused: %s", getattr(cause, "verify_message", "") or cause
            )
            return str(replies.TEMPORARY_FAILURE)  # written to a closed connection: nobody reads it
        logger.exception("gateway: session error, answering 451")
        return str(replies.TEMPORARY_FAILURE)

    async def handle_MAIL(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        ssl_object = self._ssl_object(server)
        if ssl_object is None:
            return str(replies.TLS_REQUIRED)
        state = self._state(session)
        if state.subject is None:  # the TLS session's certificate, parsed once per session
            certificate = peer_certificate(ssl_object)
            if certificate is None:
                logger.info("gateway: %s refused at MAIL: no client certificate", session.peer)
                return str(replies.NO_CLIENT_CERTIFICATE)
            state.certificate, state.subject = certificate, certificate.subject
            state.peer_dn = certificate.subject.rfc4514_string()
        sender = "" if address == "<>" else address
        try:
            refusal = await self._check_sender(state, sender)
        except Exception:
            logger.exception("gateway: sender check failed, answering 451")
            return str(replies.TEMPORARY_FAILURE)
        if refusal is not None:
            logger.info("gateway: MAIL FROM <%s> refused: %s", sender, refusal)
            return refusal
        state.declared_size = _declared_size(options)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Expediteur accepte"

    async def _check_sender(self, state: _Transaction, sender: str) -> str | None:
        assert state.certificate is not None
        # The serial too: another certificate with the same DN (a revoked one) is decided anew.
        key = ("mail", sender, state.peer_dn, state.certificate.serial_number)
        if self._reused(key):
            return None
        refusal = await self._db_read(policies.check_peer_sender, sender, state.certificate)
        if refusal is None:
            self._remember(key, True)
        return refusal

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return str(replies.TOO_MANY_RECIPIENTS)
        sender = "" if envelope.mail_from == "<>" else (envelope.mail_from or "")
        size = self._state(session).declared_size
        key = ("rcpt", sender, address)
        try:
            decision = self._reused(key, size)
            if decision is None:
                decision = await self._db_read(policies.check_inbound_recipient, sender, address, size=size)
                if decision.refusal is None:
                    self._remember(key, decision, size)
        except Exception:
            logger.exception("gateway: recipient check failed, answering 451")
            return str(replies.TEMPORARY_FAILURE)
        if decision.refusal is not None:
            logger.info("gateway: RCPT TO <%s> refused: %s", address, decision.refusal)
            return decision.refusal
        if decision.address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(decision.address)
            envelope.rcpt_options.extend(options)
        return "250 2.1.5 Destinataire accepte"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        state = self._state(session)
        ssl_object = self._ssl_object(server)
        spool_id = uuid.uuid4()
        peer_ip = session.peer[0] if isinstance(session.peer, tuple) else None
        raw = self._received_header(session, envelope, spool_id, ssl_object) + bytes(
            envelope.original_content or b""
        )
        spool_envelope = services.SpoolEnvelope(
            sender="" if envelope.mail_from == "<>" else (envelope.mail_from or ""),
            recipients=list(envelope.rcpt_tos),
            peer_dn=state.peer_dn,
            peer_ip=peer_ip,
            helo=_printable(session.host_name or ""),
            tls_version=(ssl_object.version() or "") if ssl_object else "",
        )
        try:
            await self._spool(raw, spool_envelope, spool_id)
        except Exception:
            logger.exception("gateway: could not store message from <%s>, answering 451", envelope.mail_from)
            return str(replies.TEMPORARY_FAILURE)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "gateway: accepted %s from <%s> (%s) for %d recipient(s), %d bytes",
                spool_id,
                spool_envelope.sender,
                state.peer_dn,
                len(spool_envelope.recipients),
                len(raw),
            )
        return replies.ACCEPTED.format(spool_id=spool_id)

    async def _spool(self, raw: bytes, envelope: services.SpoolEnvelope, spool_id: uuid.UUID) -> None:
        """Returns once the message is durably stored (group commit on PostgreSQL); raises otherwise."""
        if self.spool_writer is None:
            await self._db(services.do_spool_message, raw, envelope, spool_id=spool_id)
            return
        if len(raw) <= services.inline_max_bytes():
            entry = services.prepare_spool_entry(raw, envelope, spool_id)  # in memory: ~0.1 ms for 20 KB
        else:  # a blob written and fsync'd: file (or database) I/O stays off the event loop
            entry = await self._db(services.prepare_spool_entry, raw, envelope, spool_id)
        await self.spool_writer.spool(entry)

    def _received_header(
        self, session: Session, envelope: Envelope, spool_id: uuid.UUID, ssl_object: ssl.SSLObject | None
    ) -> bytes:
        """The trace line RFC 5321 §4.4 asks every receiving server to prepend (its fixed part is made once
        per session and HELO name: it showed in the event loop's profile)."""
        state = self._state(session)
        if not state.trace_prefix or state.trace_helo != session.host_name:
            helo = replies.ascii_text(session.host_name or "unknown")[:200]
            peer_ip = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
            state.trace_prefix = (
                f"Received: from {helo} ([{peer_ip}])\r\n\tby {self.hostname} with ESMTPS"
                f" ({describe_session(ssl_object)}) id "
            )
            state.trace_helo = session.host_name
        recipient = envelope.rcpt_tos[0] if len(envelope.rcpt_tos) == 1 else ""
        line = (
            f"{state.trace_prefix}{spool_id}"
            + (f"\r\n\tfor <{recipient}>" if recipient else "")
            + f"; {_rfc5322_now()}\r\n"
        )
        return line.encode("ascii", "replace")


_date_of_second: tuple[int, str] = (0, "")


def _rfc5322_now() -> str:
    """`formatdate()` of the current second, made once a second."""
    global _date_of_second
    second = int(time.time())
    if _date_of_second[0] != second:
        _date_of_second = (second, formatdate(second, localtime=False))
    return _date_of_second[1]


def _printable(text: str) -> str:
    """The peer's HELO name as stored: control characters (NUL would make PostgreSQL refuse the row) go."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else "?" for ch in text)


def _declared_size(options: list[str]) -> int:
    for option in options:
        key, _, value = option.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    port: int  # STARTTLS listener; 0 = any free port (tests)
    smtps_port: int | None  # implicit TLS listener; None = none
    tls_context: ssl.SSLContext
    hostname: str
    data_size_limit: int
    db_threads: int = 8
    max_recipients: int = 100
    timeout: float = 300
    # Several gateway processes may share the ports (SO_REUSEPORT): the kernel spreads connections.
    reuse_port: bool = False


class GatewayServer:
    """Both listeners on one event loop: `start()`/`stop()` in a loop, or `running()` from a thread."""

    def __init__(self, config: GatewayConfig) -> None:
        tls_alert.install()
        self.config = config
        self.executor = ThreadPoolExecutor(max_workers=config.db_threads, thread_name_prefix="gateway-db")
        # Group commit needs PostgreSQL (one multi-row statement over psycopg); SQLite commits one by one.
        self.handler = GatewayHandler(
            self.executor, hostname=config.hostname, max_recipients=config.max_recipients
        )
        self.spool_writer = (
            SpoolWriter(self.handler._db) if connections["default"].vendor == "postgresql" else None
        )
        self.handler.spool_writer = self.spool_writer
        self.servers: list[asyncio.AbstractServer] = []
        self.port = 0
        self.smtps_port = 0

    def _factory(self, *, starttls: bool) -> Callable[[], GatewaySMTP]:
        config = self.config

        def make() -> GatewaySMTP:
            return GatewaySMTP(
                self.handler,
                data_size_limit=config.data_size_limit,
                hostname=config.hostname,
                ident="MSSante gateway",
                tls_context=config.tls_context if starttls else None,
                require_starttls=starttls,
                timeout=config.timeout,
                loop=asyncio.get_running_loop(),
            )

        return make

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        reuse = config.reuse_port
        plain = await loop.create_server(
            self._factory(starttls=True), config.host, config.port, reuse_port=reuse
        )
        self.servers.append(plain)
        self.port = plain.sockets[0].getsockname()[1]
        if config.smtps_port is not None:
            implicit = await loop.create_server(
                self._factory(starttls=False),
                config.host,
                config.smtps_port,
                ssl=config.tls_context,
                reuse_port=reuse,
            )
            self.servers.append(implicit)
            self.smtps_port = implicit.sockets[0].getsockname()[1]
        logger.info(
            "gateway: listening on %s:%d (STARTTLS)%s",
            config.host,
            self.port,
            f" and :{self.smtps_port} (TLS)" if self.smtps_port else "",
        )
        if self.spool_writer is not None:
            self.spool_writer.prepare()  # once listening: the first 220 does not wait for it

    async def stop(self) -> None:
        """Stop accepting, let the messages in DATA finish (1.5 s at most), answer 421 to the other open
        sessions, commit what is pending, close: within 5 s (issue 17)."""
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.handler.sessions.drain()
        if self.spool_writer is not None:
            await self.spool_writer.stop(timeout=2.0)
        # Transactions already in a DB thread finish (a peer waiting on its DATA reply gets it), and each DB
        # thread closes its own connection (Django connections belong to the thread that opened them).
        await asyncio.get_running_loop().run_in_executor(None, _close_thread_connections, self.executor)
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown, True)

    @contextlib.contextmanager
    def running(self) -> Iterator[GatewayServer]:
        """Serve from a background thread for the duration of the block (tests, benchmarks)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            # Sessions still open when the block ends are cut, as a stopping process would cut them.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        thread = threading.Thread(target=serve, name="gateway-loop", daemon=True)
        thread.start()
        started.wait(timeout=30)
        if errors:
            raise errors[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)


def default_hostname(configured: str) -> str:
    # Computed once: aiosmtpd would otherwise call socket.getfqdn() (a DNS lookup) for every connection.
    return configured or socket.getfqdn()
