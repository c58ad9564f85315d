"""SMTP submission for mail clients and practice software (port 587; 127.0.0.1:2587 under `make run`).

STARTTLS first (TLS 1.2+), then AUTH: PLAIN or LOGIN with an application password the person created in the
webmail (apps.accounts.app_passwords), or XOAUTH2 with a Pro Santé Connect access token
(apps.accounts.psc.bearer). MAIL FROM must be a BAL the person may send from (messaging's `can_send_from`),
each RCPT passes messaging's `check_recipient` (liste blanche, local BAL, MSS-C rules), and DATA goes through
the same `do_submit_message` as the webmail: re-encoded by the platform (From/Sender set by the BAL, our
Message-ID), stored encrypted, delivered by the same pipeline. Database work runs in a thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
import ssl
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from apps.accounts.app_passwords import check_app_password
from apps.accounts.attempts import MAIL_CLIENT, consume_attempt
from apps.gateway.replies import TEMPORARY_AUTH_FAILURE, TEMPORARY_FAILURE, ascii_text
from apps.gateway.submission_parse import submit_raw
from mssante_lib.loopthread import in_fresh_connection, serving_in_thread

logger = logging.getLogger(__name__)
T = TypeVar("T")
INVALID = "535 5.7.8 Authentication credentials invalid"


def too_many_attempts(seconds: int) -> str:
    # RFC 4954 §6: 454 4.7.0 for a temporary authentication failure; ASCII text, as every reply here.
    return f"454 4.7.0 Trop de tentatives d'authentification echouees : reessayez dans {seconds} s"


_db = in_fresh_connection


def _xoauth2_user(blob: bytes) -> tuple[str, str]:
    """RFC 7628-style `user=<email>^Aauth=Bearer <token>^A^A` -> (email, token)."""
    fields = dict(part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01") if "=" in part)
    auth = fields.get("auth", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    return fields.get("user", ""), token


class SubmissionHandler:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_db, fn, *args))

    async def _blob(self, server: SMTP, args: list[str]) -> bytes | None:
        if len(args) > 1:
            try:
                return base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return None
        answer = await server.challenge_auth("")
        return answer if isinstance(answer, bytes) else None

    async def handle_exception(self, error: Exception) -> str:
        """Anything unexpected in a command (database down, a bug): 451 in French, never a 5xx: the client
        keeps its message and retries."""
        logger.exception("submission: command failed, answering 451")
        return str(TEMPORARY_FAILURE)

    async def _authenticate(self, server: SMTP, login: str, check: Callable[[], Any]) -> AuthResult:
        """Every AUTH mechanism: the failed-attempt budget of mail clients first (apps.accounts.attempts),
        then the credential; a success gives its attempt back. An outage of ours is not a wrong password:
        454 in French, and the attempt is given back."""
        peer = getattr(server.session, "peer", None)
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else None
        try:
            usage = await self._run(consume_attempt, MAIL_CLIENT, login, ip)
            if not usage:
                logger.info("submission: AUTH refused for %r, too many failures", login[:100])
                return AuthResult(success=False, handled=False, message=too_many_attempts(usage.retry_after))
            try:
                user = await self._run(check)
            except Exception:
                await self._run(usage.rollback)
                raise
        except Exception:  # noqa: BLE001 — Redis, PostgreSQL or Pro Sante Connect unreachable
            logger.exception("submission: AUTH could not be checked, answering 454")
            return AuthResult(success=False, handled=False, message=str(TEMPORARY_AUTH_FAILURE))
        if user is None:
            logger.info("submission: AUTH refused for %r", login[:100])
            return AuthResult(success=False, handled=False, message=INVALID)
        await self._run(usage.rollback)
        return AuthResult(success=True, auth_data=user)

    async def _check_password(self, server: SMTP, login: str, password: str) -> AuthResult:
        return await self._authenticate(server, login, functools.partial(check_app_password, login, password))

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._blob(server, args)
        parts = blob.split(b"\x00") if blob is not None else []
        if len(parts) != 3:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed AUTH PLAIN")
        return await self._check_password(
            server, parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        )

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await self._blob(server, args) if len(args) > 1 else await server.challenge_auth("Username:")
        password = await server.challenge_auth("Password:")
        if not isinstance(login, bytes) or not isinstance(password, bytes):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed AUTH LOGIN")
        return await self._check_password(
            server, login.decode("utf-8", "replace"), password.decode("utf-8", "replace")
        )

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        from apps.accounts.psc.bearer import user_for_access_token

        blob = await self._blob(server, args)
        email, token = _xoauth2_user(blob or b"")
        if not token:
            return AuthResult(success=False, handled=False, message=INVALID)
        return await self._authenticate(server, email, functools.partial(user_for_access_token, email, token))

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        from apps.gateway.submission_parse import check_sender_mailbox

        try:
            refusal = await self._run(check_sender_mailbox, session.auth_data, address)
        except Exception:  # noqa: BLE001 — database down: the client retries later
            logger.exception("submission: sender check failed, answering 451")
            return str(TEMPORARY_FAILURE)
        if refusal:
            return ascii_text(f"550 5.7.1 {refusal}")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        from apps.gateway.submission_parse import check_submission_recipient

        try:
            refusal = await self._run(
                check_submission_recipient, session.auth_data, envelope.mail_from, address
            )
        except Exception:  # noqa: BLE001 — database down: the client retries later
            logger.exception("submission: recipient check failed, answering 451")
            return str(TEMPORARY_FAILURE)
        if refusal is not None:
            return ascii_text(f"{refusal.smtp_code} {refusal.smtp_enhanced} {refusal.message}")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            reply = await self._run(
                submit_raw,
                session.auth_data,
                envelope.mail_from,
                envelope.rcpt_tos,
                envelope.original_content or envelope.content,
            )
        except Exception:  # noqa: BLE001 — database or storage down: the client keeps its message and retries
            logger.exception("submission: DATA failed")
            return str(TEMPORARY_FAILURE)
        return ascii_text(reply)


@dataclass(frozen=True)
class SubmissionConfig:
    host: str
    port: int
    tls_context: ssl.SSLContext
    hostname: str
    data_size_limit: int
    db_threads: int = 4
    timeout: float = 300


class SubmissionServer:
    def __init__(self, config: SubmissionConfig) -> None:
        self.config = config
        self.executor = ThreadPoolExecutor(max_workers=config.db_threads, thread_name_prefix="submission-db")
        self.handler = SubmissionHandler(self.executor)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    def _make(self) -> SMTP:
        config = self.config
        return SMTP(
            self.handler,
            data_size_limit=config.data_size_limit,
            hostname=config.hostname,
            ident="MSSante submission",
            tls_context=config.tls_context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["CRAM-MD5"],
            timeout=config.timeout,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._make, self.config.host, self.config.port)
        self.port = self.server.sockets[0].getsockname()[1]
        logger.info("submission: listening on %s:%d (STARTTLS, AUTH)", self.config.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown, True)

    @contextlib.contextmanager
    def running(self) -> Iterator[SubmissionServer]:
        """Serve from a background thread for the duration of the block (tests)."""
        loop = asyncio.new_event_loop()
        with serving_in_thread(loop, self.start, self.stop, name="submission-loop"):
            yield self
