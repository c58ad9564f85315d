"""IDLE with aioimaplib: a deposit, a deletion made in the webmail, a flag changed in the webmail or by
another IMAP session and an expunge by another IMAP session reach an IDLE session within a second, through
the process's single LISTEN connection (no database connection per session)."""

from __future__ import annotations

import asyncio
import time

import aioimaplib
from django.db import close_old_connections
from imapclient import IMAPClient

from apps.imap import utf7
from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.webmail.services import do_delete_copies, do_set_flag
from tests.asyncrun import run_coroutine
from tests.imap.conftest import app_password, idle_session
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


async def _push_lines(client: aioimaplib.IMAP4_SSL, deadline: float, until: str = "") -> list[str]:
    """Untagged lines pushed before `deadline`; returns early once one contains `until` (or, without it,
    an EXISTS or EXPUNGE)."""
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
        if until and any(until in line for line in lines):
            break
        if not until and any("EXISTS" in line or "EXPUNGE" in line for line in lines):
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
        client, idle = await idle_session(server.imaps_port, connect.pki, dr_alice, secret, timeout=30)
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
        client, idle = await idle_session(server.imaps_port, connect.pki, dr_alice, secret, timeout=60)
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


def _imap_client(connect, user, secret: str) -> IMAPClient:
    client = IMAPClient("localhost", port=connect.server.imaps_port, ssl_context=connect.pki.client_context())
    client.login(user.email, secret)
    return client


def test_idle_learns_of_flag_changes_and_of_another_sessions_expunge_within_a_second(
    connect, dr_alice, alice_bal, sec_bob, cardio_bal
):
    secret = app_password(dr_alice)
    for subject in ("Premier", "Second"):
        send(cardio_bal, sec_bob, [alice_bal.address], subject=subject, text="x")
    server = connect.server
    first = _first_inbox_copy(alice_bal)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        client, idle = await idle_session(server.imaps_port, connect.pki, dr_alice, secret, timeout=60)
        await asyncio.sleep(0.2)

        # 1. The webmail flags the first message.
        started = time.monotonic()
        await loop.run_in_executor(None, _in_thread, lambda: do_set_flag(first, flagged=True, user=dr_alice))
        lines = await _push_lines(client, time.monotonic() + 5, until="FETCH")
        assert time.monotonic() - started < 1.0, lines
        assert any(
            line.startswith(f"1 FETCH (UID {first.uid} FLAGS (") and "\\Flagged" in line for line in lines
        ), lines

        # 2. Another IMAP session (another device) marks the second one read, then deletes the first.
        other = await loop.run_in_executor(None, _imap_client, connect, dr_alice, secret)
        await loop.run_in_executor(None, other.select_folder, "INBOX")
        started = time.monotonic()
        await loop.run_in_executor(None, other.add_flags, [2], [b"\\Seen"])
        lines = await _push_lines(client, time.monotonic() + 5, until="2 FETCH")
        assert time.monotonic() - started < 1.0, lines
        assert any(line.startswith("2 FETCH") and "\\Seen" in line for line in lines), lines

        await loop.run_in_executor(None, other.add_flags, [1], [b"\\Deleted"])
        lines = await _push_lines(client, time.monotonic() + 5, until="1 FETCH")
        assert any("\\Deleted" in line for line in lines), lines
        started = time.monotonic()
        await loop.run_in_executor(None, other.expunge)
        lines = await _push_lines(client, time.monotonic() + 5, until="EXPUNGE")
        assert time.monotonic() - started < 1.0, lines
        assert "1 EXPUNGE" in lines, lines
        await loop.run_in_executor(None, other.logout)

        client.idle_done()
        assert (await asyncio.wait_for(idle, 5)).result == "OK"
        # The client's numbering after the push agrees with the server's: the old second is now 1.
        fetched = await client.fetch("1", "(FLAGS)")
        assert any("\\Seen" in str(line) for line in fetched.lines), fetched.lines
        await client.logout()

    run_coroutine(scenario())


def test_a_read_mark_in_an_organisational_bal_is_pushed_to_its_reader_only_as_their_flag(
    connect, dr_alice, sec_bob, cardio_bal, alice_bal
):
    """Bob reads in the webmail: Bob's IDLE session sees \\Seen; Alice's sees the message still unread."""
    from apps.messaging.webmail.services import do_mark_read

    send(alice_bal, dr_alice, [cardio_bal.address], subject="Pour le secrétariat", text="x")
    copy = _first_inbox_copy(cardio_bal)
    secrets = {dr_alice.pk: app_password(dr_alice), sec_bob.pk: app_password(sec_bob)}
    server = connect.server
    name = f"Partagés/{cardio_bal.address}"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        port, folder = server.imaps_port, utf7.encode(name)
        bob, bob_idle = await idle_session(port, connect.pki, sec_bob, secrets[sec_bob.pk], folder)
        alice, alice_idle = await idle_session(port, connect.pki, dr_alice, secrets[dr_alice.pk], folder)
        await asyncio.sleep(0.2)
        await loop.run_in_executor(None, _in_thread, lambda: do_mark_read(copy, user=sec_bob))
        bob_lines = await _push_lines(bob, time.monotonic() + 5, until="FETCH")
        assert any("1 FETCH" in line and "\\Seen" in line for line in bob_lines), bob_lines
        alice_lines = await _push_lines(alice, time.monotonic() + 2, until="FETCH")
        assert not any("\\Seen" in line for line in alice_lines), alice_lines
        for client, idle in ((bob, bob_idle), (alice, alice_idle)):
            client.idle_done()
            assert (await asyncio.wait_for(idle, 5)).result == "OK"
            await client.logout()

    run_coroutine(scenario())
