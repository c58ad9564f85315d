"""IDLE with aioimaplib: a deposit, and a deletion made in the webmail, reach an IDLE session within a
second through the process's single LISTEN connection (no database connection per session)."""

from __future__ import annotations

import asyncio
import time

import aioimaplib
from django.db import close_old_connections

from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.webmail.services import do_delete_copies
from tests.asyncrun import run_coroutine
from tests.imap.conftest import app_password
from tests.messaging.helpers import send


def _in_thread(fn, *args):
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


def _first_inbox_copy(mailbox) -> MessageCopy:
    inbox = MessageCopy.objects.filter(mailbox=mailbox, folder__role=FolderRole.INBOX)
    return inbox.select_related("mailbox", "message").order_by("uid").first()


async def _push_lines(client: aioimaplib.IMAP4_SSL, deadline: float) -> list[str]:
    lines: list[str] = []
    while time.monotonic() < deadline:
        try:
            pushed = await asyncio.wait_for(client.wait_server_push(), deadline - time.monotonic())
        except TimeoutError:
            break
        lines += [
            p.decode() if isinstance(p, bytes) else str(p)
            for p in (pushed if isinstance(pushed, list) else [pushed])
        ]
        if any("EXISTS" in line or "EXPUNGE" in line for line in lines):
            break
    return lines


def test_idle_learns_of_a_deposit_and_an_expunge_within_a_second(
    connect, dr_alice, alice_bal, sec_bob, cardio_bal
):
    secret = app_password(dr_alice)
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Premier", text="x")
    server = connect.server

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        client = aioimaplib.IMAP4_SSL(
            "localhost", server.imaps_port, ssl_context=connect.pki.client_context()
        )
        await client.wait_hello_from_server()
        assert (await client.login(dr_alice.email, secret)).result == "OK"
        assert (await client.select("INBOX")).result == "OK"
        idle = await client.idle_start(timeout=30)
        assert len(server.sessions) == 1  # and one listener connection for the whole process
        started = time.monotonic()
        await loop.run_in_executor(None, _in_thread, send, cardio_bal, sec_bob, [alice_bal.address])
        lines = await _push_lines(client, time.monotonic() + 5)
        assert any(line.endswith("2 EXISTS") for line in lines), lines
        assert time.monotonic() - started < 1.0 + 1.0  # the deposit itself is in the window
        copy = await loop.run_in_executor(
            None,
            _in_thread,
            lambda: (
                MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
                .select_related("mailbox", "message")
                .order_by("uid")
                .first()
            ),
        )
        deleted_at = time.monotonic()
        await loop.run_in_executor(None, _in_thread, lambda: do_delete_copies([copy], user=dr_alice))
        lines = await _push_lines(client, time.monotonic() + 5)
        assert any(line.endswith("1 EXPUNGE") for line in lines), lines
        assert time.monotonic() - deleted_at < 1.0
        client.idle_done()
        await asyncio.wait_for(idle, 5)
        await client.logout()

    run_coroutine(scenario())


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _kill_other_backends(spared: int) -> int:
    """What a PostgreSQL restart does to the IMAP process: every one of its connections goes away (the
    test's own connection is spared so the test can go on)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [spared],
        )
        return cursor.fetchone()[0]


def test_idle_sessions_recover_when_the_database_connections_are_cut(
    connect, dr_alice, alice_bal, sec_bob, cardio_bal
):
    secret = app_password(dr_alice)
    server = connect.server
    spared = _backend_pid()  # the test's connection (the coroutine below would get another one)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        client = aioimaplib.IMAP4_SSL(
            "localhost", server.imaps_port, ssl_context=connect.pki.client_context()
        )
        await client.wait_hello_from_server()
        assert (await client.login(dr_alice.email, secret)).result == "OK"
        assert (await client.select("INBOX")).result == "OK"
        idle = await client.idle_start(timeout=60)
        await asyncio.sleep(0.5)
        assert (
            await loop.run_in_executor(None, _in_thread, _kill_other_backends, spared) >= 1
        )  # the listener at least
        deadline = time.monotonic() + 10
        while not server.listener.connected.is_set() or time.monotonic() < deadline - 9:
            await asyncio.sleep(0.1)
            assert time.monotonic() < deadline, "the listener did not reconnect"
        await loop.run_in_executor(None, _in_thread, send, cardio_bal, sec_bob, [alice_bal.address])
        lines = await _push_lines(client, time.monotonic() + 10)
        assert any(line.endswith("1 EXISTS") for line in lines), lines
        client.idle_done()
        assert (await asyncio.wait_for(idle, 5)).result == "OK"
        await client.logout()

    run_coroutine(scenario())
