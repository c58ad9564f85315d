"""Faults under IDLE sessions. PostgreSQL restarted: the test runs the IMAP server on a private PostgreSQL
cluster of its own (tests/plugins/throwaway.py; the shared server is never touched), restarts it, and the
sessions recover — the listener reconnects, a deposit made after the restart is pushed, the UIDs are whole.
A deposit worker killed mid-batch: sessions hear only of committed copies, and of the rest after recovery.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from apps.imap.server import ImapServer
from apps.messaging.models import FolderRole, MessageCopy
from tests.asyncrun import run_coroutine
from tests.gateway.test_faults import _copy_test_database, _database_at
from tests.imap.conftest import app_password, idle_session, imap_config
from tests.imap.test_push import _in_thread, _push_lines
from tests.messaging.helpers import send
from tests.plugins.throwaway import ThrowawayPostgres, wait_until

pytestmark = pytest.mark.slow


def test_idle_sessions_survive_a_postgresql_restart(
    transactional_db,
    imap_pki,
    throwaway_postgres: ThrowawayPostgres,
    dr_alice,
    alice_bal,
    sec_bob,
    cardio_bal,
):
    secret = app_password(dr_alice)
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Avant", text="x")
    _copy_test_database(throwaway_postgres)
    with _database_at(throwaway_postgres), ImapServer(imap_config(imap_pki)).running() as server:

        async def scenario() -> None:
            loop = asyncio.get_running_loop()
            port = server.imaps_port
            sessions = [await idle_session(port, imap_pki, dr_alice, secret, timeout=120) for _ in range(3)]
            await asyncio.sleep(0.3)
            await loop.run_in_executor(None, throwaway_postgres.stop)  # fast shutdown: every connection cut
            await asyncio.sleep(1)
            await loop.run_in_executor(None, throwaway_postgres.start)
            deadline = time.monotonic() + 30
            while not server.listener.connected.is_set():
                assert time.monotonic() < deadline, "the listener did not reconnect"
                await asyncio.sleep(0.1)
            await loop.run_in_executor(None, _in_thread, send, cardio_bal, sec_bob, [alice_bal.address])
            for client, idle in sessions:
                lines = await _push_lines(client, time.monotonic() + 10)
                assert "2 EXISTS" in lines, lines
                client.idle_done()
                assert (await asyncio.wait_for(idle, 10)).result == "OK"
            # Every session goes on working (a pool thread's dead connection costs at most one retry).
            for client, _idle in sessions:
                for _attempt in range(2):
                    answer = await client.uid("fetch", "1:*", "(FLAGS)")
                    if answer.result == "OK":
                        break
                assert answer.result == "OK", answer
                assert sum("FETCH" in str(line) for line in answer.lines) == 2
                await client.logout()

        run_coroutine(scenario())
        uids = list(
            MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
            .order_by("uid")
            .values_list("uid", flat=True)
        )
        assert uids == [1, 2]  # the deposit after the restart got the next UID, nothing lost or doubled


def test_a_worker_killed_during_a_deposit_an_idle_session_waits_for(
    connect, celery_queue, celery_worker_factory, dr_alice, alice_bal, sec_bob, cardio_bal
):
    """The deposit worker dies mid-batch (SIGKILL, deposits slowed so the kill lands inside one): the IDLE
    session is told only of committed copies, then of the rest once a restarted worker redelivers; the
    UIDs end up 1..n with no hole and no double."""
    from tests.messaging.test_delivery_faults import _delivered, _sweep_as_if_later

    secret = app_password(dr_alice)
    total = 10
    messages = [
        send(cardio_bal, sec_bob, [alice_bal.address], deliver=False, subject=f"Résultat {n}", text="…").pk
        for n in range(total)
    ]
    server = connect.server

    def wait_delivered(count: int, timeout: float) -> None:
        wait_until(lambda: _delivered(messages) >= count, timeout=timeout, what=f"{count} deliveries")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        client, idle = await idle_session(server.imaps_port, connect.pki, dr_alice, secret, timeout=300)
        worker = await loop.run_in_executor(
            None,
            lambda: celery_worker_factory(
                concurrency=1,
                include=["tests.messaging.test_delivery_faults"],
                extra_env={
                    "SLOW_DEPOSIT_SECONDS": "0.5",
                    "CELERY_VISIBILITY_TIMEOUT": "3",
                    "DELIVERY_BATCH_SIZE": "2",
                },
            ),
        )
        await loop.run_in_executor(None, _in_thread, wait_delivered, 2, 90)
        worker.kill(signal.SIGKILL)
        at_kill = await loop.run_in_executor(None, _in_thread, _delivered, messages)
        assert at_kill < total  # the kill landed before the end
        seen = 0
        for line in await _push_lines(client, time.monotonic() + 3, until="never"):
            if line.endswith(" EXISTS"):
                seen = max(seen, int(line.split()[0]))
        assert seen <= at_kill  # never told of a copy the dead worker did not commit
        assert await loop.run_in_executor(None, _in_thread, _sweep_as_if_later)
        await loop.run_in_executor(None, worker.start)
        await loop.run_in_executor(None, _in_thread, wait_delivered, total, 180)
        deadline = time.monotonic() + 10
        while seen < total and time.monotonic() < deadline:
            for line in await _push_lines(client, deadline):
                if line.endswith(" EXISTS"):
                    seen = max(seen, int(line.split()[0]))
        assert seen == total
        client.idle_done()
        assert (await asyncio.wait_for(idle, 10)).result == "OK"
        await client.logout()

    run_coroutine(scenario())
    uids = list(
        MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
        .order_by("uid")
        .values_list("uid", flat=True)
    )
    assert uids == list(range(1, total + 1))
