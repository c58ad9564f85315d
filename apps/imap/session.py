"""One IMAP connection: reads whole commands (literals included), dispatches them, enforces the session's
limits (idle timeout, PSC token expiry, shutdown) and writes responses.

Handlers (`apps.imap.handlers_*`) register with `@command`; each gets the session and the parsed command,
writes its untagged responses with `send`, and returns the tagged completion (`Done`). Database work goes
through `session.db(fn, …)`: the server's thread pool, never the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.utils import timezone

from apps.imap import responses
from apps.imap.auth import Identity
from apps.imap.commands import Command, CommandError, parse_command
from apps.imap.tokens import literal_at_end

logger = logging.getLogger(__name__)
T = TypeVar("T")


class SessionHost(Protocol):
    """What a session needs of its server (apps/imap/server.py), so that the session does not import it."""

    config: Any
    trace: list[bytes] | None

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def run_db_read(self, fn: Callable[..., T], *args: Any) -> T: ...

    def admit(self, session: Session, user_id: int) -> bool: ...


MAX_LINE = 64 * 1024
EXPIRED = (
    "Votre jeton Pro Santé Connect a expiré : la session est fermée. Reconnectez-vous avec un nouveau jeton."
)

# Commands that change nothing in the selected folder: what SELECT read ahead stays usable after them
# (a FETCH that marks messages \Seen drops it itself).
KEEP_PREFETCH = frozenset(
    {"FETCH", "SEARCH", "NOOP", "CHECK", "CAPABILITY", "ID", "NAMESPACE", "LIST", "LSUB", "STATUS"}
)
SHUTDOWN = "Arrêt du serveur IMAP : reconnectez-vous dans un instant."


class State(enum.Enum):
    NOT_AUTHENTICATED = 1
    AUTHENTICATED = 2
    SELECTED = 3
    LOGOUT = 4


ANY = frozenset(State) - {State.LOGOUT}
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


@dataclass(frozen=True)
class Done:
    """A command's tagged completion: `OK`, `NO` or `BAD`, an optional response code, a French text."""

    state: str = "OK"
    text: str = "Terminé."
    code: str = ""


Handler = Callable[["Session", Command], Awaitable[Done]]


@dataclass(frozen=True)
class Registration:
    handler: Handler
    states: frozenset[State]
    capabilities: tuple[str, ...] = ()


HANDLERS: dict[str, Registration] = {}


def command(*names: str, states: frozenset[State], capabilities: tuple[str, ...] = ()) -> Callable:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = Registration(handler, states, capabilities)
        return handler

    return register


class Closing(Exception):
    """Raised by a handler that ended the session (LOGOUT, expiry): the loop stops reading."""


@dataclass(eq=False)
class Session:
    server: SessionHost
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tls: bool
    peer: str
    state: State = State.NOT_AUTHENTICATED
    identity: Identity | None = None
    client: str = ""
    enabled: set[str] = field(default_factory=set)
    selected: Any = None  # apps.imap.mailbox.SelectedFolder once a folder is selected
    busy: bool = False
    idling: bool = False
    closing: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set by the push listener
    bye_sent: bool = False
    end_reason: str = ""
    end_code: str = "AUTHENTICATIONFAILED"
    counted: bool = False  # counted in the server's per-person and per-address limits
    pending: list[bytes] = field(default_factory=list)  # `send_later` data, written with the next send
    _expiry_task: asyncio.Task | None = None
    _task: asyncio.Task | None = None

    @property
    def user_id(self) -> int:
        if self.identity is None:
            raise RuntimeError("no identity before authentication")
        return self.identity.user_id

    # ---- plumbing ---------------------------------------------------------------------------------------
    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.server.run_db(fn, *args)

    async def db_read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read (run again once on a new connection if the thread's one was cut)."""
        return await self.server.run_db_read(fn, *args)

    async def send(self, data: bytes) -> None:
        if self.server.trace is not None:  # tests: every response is checked with imapclient's parser
            self.server.trace.append(data)
        if self.pending:
            data, self.pending = b"".join(self.pending) + data, []
        self.writer.write(data)
        await self.writer.drain()

    def send_later(self, data: bytes) -> None:
        """Untagged data written with whatever is sent next (at the latest the command's completion): one
        TLS record and one socket write for SELECT's or a short FETCH's whole answer, not two."""
        if self.server.trace is not None:
            self.server.trace.append(data)
        self.pending.append(data)

    async def untagged(self, *parts: Any) -> None:
        await self.send(responses.untagged(*parts))

    async def bye(self, text: str, code: str = "") -> None:
        self.bye_sent = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(responses.status("*", "BYE", text, code))

    def capabilities(self) -> list[str]:
        caps = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE"]
        if self.state == State.NOT_AUTHENTICATED:
            if not self.tls:
                caps += ["STARTTLS", "LOGINDISABLED"]
            else:
                caps += [f"AUTH={name}" for name in self.server.config.mechanisms]
            return caps
        for registration in HANDLERS.values():
            caps += [cap for cap in registration.capabilities if cap not in caps]
        return caps

    async def start_tls(self) -> None:
        await self.writer.start_tls(self.server.config.tls_context)
        self.tls = True

    # ---- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        self._task = asyncio.current_task()
        try:
            await self.send(responses.status("*", "OK", "Serveur IMAP MSSanté prêt.", self._greeting_code()))
            while not self.closing:
                data = await self._next_command()
                if data is None:
                    break
                await self._execute(data)
        except asyncio.CancelledError:  # shutdown (or token expiry) while waiting for a command or in IDLE
            if not self.bye_sent:
                await self.bye(SHUTDOWN)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, Closing):
            pass  # the client went away or the session was closed: nothing left to answer, cleanup below
        finally:
            await self._close()

    async def _close(self) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        self.writer.close()
        try:
            # A TLS close waits for the peer's close_notify: a silent client must not hold the shutdown.
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the connection is gone either way
            self.writer.transport.abort()

    def _greeting_code(self) -> str:
        return "CAPABILITY " + " ".join(self.capabilities())

    async def _next_command(self) -> bytes | None:
        try:
            async with asyncio.timeout(self.server.config.idle_timeout):  # no task per command (wait_for)
                return await self._read_command()
        except TimeoutError:
            await self.bye("Session inactive depuis trop longtemps : déconnexion.")
            return None
        except asyncio.LimitOverrunError:
            await self.bye("Ligne de commande trop longue.")
            return None

    async def _read_command(self) -> bytes | None:
        data = bytearray()
        while True:
            line = await self.reader.readuntil(b"\r\n")
            data += line
            announced = literal_at_end(line)
            if announced is None:
                return bytes(data)
            size, plus = announced
            if size > self.server.config.max_literal or len(data) > MAX_LINE * 4:
                if plus:  # the client is already sending it: the stream cannot be resynchronised
                    await self.bye("Littéral trop grand.", "TOOBIG")
                    return None
                tag = data.split(b" ", 1)[0].decode("ascii", "replace")
                await self.send(responses.status(tag, "NO", "Message trop volumineux.", "TOOBIG"))
                return await self._read_command()
            if not plus:
                await self.send(responses.continuation("Prêt à recevoir."))
            data += await self.reader.readexactly(size)
            self._ack_now()

    def _ack_now(self) -> None:
        """ACK the literal just read at once. A client writes the literal, then the rest of its line in a
        second small write that Nagle's algorithm holds until the literal is acknowledged — which the
        kernel would delay up to 40 ms while we wait for that very line (imaplib: every UID SEARCH
        CHARSET UTF-8 TEXT of an accented word took 40 ms more)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    async def _execute(self, data: bytes) -> None:
        try:
            cmd = parse_command(data)
        except CommandError as exc:
            await self.send(responses.status(exc.tag or "*", "BAD", f"Commande invalide : {exc}"))
            return
        registration = HANDLERS.get(cmd.name)
        if registration is None:
            await self.send(responses.status(cmd.tag, "BAD", "Commande inconnue."))
            return
        if self.state not in registration.states:
            await self.send(responses.status(cmd.tag, "BAD", _state_text(self.state)))
            return
        if self._expired():
            await self.send(responses.status(cmd.tag, "NO", EXPIRED, "AUTHENTICATIONFAILED"))
            await self.bye(EXPIRED, "AUTHENTICATIONFAILED")
            raise Closing
        if self.selected is not None and cmd.name not in KEEP_PREFETCH:
            self.selected.prefetch = None  # this command may change the folder: what SELECT read is old
        self.busy = True
        try:
            done = await registration.handler(self, cmd)
        except CommandError as exc:
            done = Done("BAD", f"Commande invalide : {exc}")
        except Closing:
            raise
        except Exception:
            logger.exception("imap: %s failed", cmd.name)
            done = Done("NO", "Erreur temporaire du serveur, réessayez.", "UNAVAILABLE")
        finally:
            self.busy = False
        if done.state:  # "" = the handler answered itself (STARTTLS answers before its handshake)
            await self.send(responses.status(cmd.tag, done.state, done.text, done.code))
        if self.state == State.LOGOUT:
            raise Closing
        if self.end_reason:
            await self.bye(self.end_reason, self.end_code)
            raise Closing
        if self.closing:
            await self.bye(SHUTDOWN)
            raise Closing

    # ---- identity and expiry ----------------------------------------------------------------------------
    def authenticated(self, identity: Identity) -> None:
        self.identity = identity
        self.state = State.AUTHENTICATED
        if identity.expires_at is not None:
            self._expiry_task = asyncio.get_running_loop().create_task(
                self._end_at_expiry(identity.expires_at)
            )

    def _expired(self) -> bool:
        expires = self.identity.expires_at if self.identity else None
        return expires is not None and timezone.now() >= expires

    async def _end_at_expiry(self, expires_at: dt.datetime) -> None:
        """An IDLE session cannot be answered with a tagged NO: it gets an unsolicited BYE at expiry."""
        while True:
            delay = (expires_at - timezone.now()).total_seconds()
            await asyncio.sleep(max(0.0, min(delay, 3600.0)))
            if delay <= 0:
                break
        while not self.idling and not self.writer.is_closing():
            await asyncio.sleep(1)
        if self.idling and self._task is not None:
            await self.bye(EXPIRED, "AUTHENTICATIONFAILED")
            self._task.cancel()

    def end(self, text: str, code: str = "AUTHENTICATIONFAILED") -> None:
        """Credentials or access withdrawn: BYE now if waiting (or in IDLE), else right after the running
        command."""
        if self.idling or not self.busy:
            asyncio.get_running_loop().create_task(self._end_now(text, code))
        else:
            self.end_reason, self.end_code = text, code

    async def _end_now(self, text: str, code: str) -> None:
        await self.bye(text, code)
        if self._task is not None:
            self._task.cancel()

    def shutdown(self) -> None:
        """Server stopping: a session waiting for a command gets BYE now; a busy one after its command."""
        self.closing = True
        if (self.idling or not self.busy) and self._task is not None:
            self._task.cancel()


def _state_text(state: State) -> str:
    if state == State.NOT_AUTHENTICATED:
        return "Authentifiez-vous d'abord."
    if state == State.AUTHENTICATED:
        return "Sélectionnez d'abord un dossier."
    return "Commande impossible dans cet état."
