"""Group commit: sessions finishing DATA together are committed in ONE statement (one transaction, one WAL
flush, one publish) and all answered 250; a failure gives every session of the batch a 451 and stores
nothing of it. The batch is made deterministic by holding a lock on the spool table: the first message's
INSERT waits on it, and the sessions finishing meanwhile gather for the next batch.
"""

from __future__ import annotations

import contextlib
import smtplib
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.audit.services import do_seal_pending
from apps.audit.verify import verify_chain
from apps.gateway.models import InboundMessage
from apps.gateway.server import GatewayServer
from apps.messaging.store import blobs
from tests.gateway.conftest import PEER_DOMAIN, gateway_config, sample_message
from tests.gateway.test_faults import _copy_test_database, _database_at
from tests.plugins.throwaway import ThrowawayPostgres, wait_until

pytestmark = pytest.mark.slow

SENDER = f"dr.voisin@{PEER_DOMAIN}"
ALICE = "alice.martin@demo.mssante.fr"
SPOOL_TABLE = InboundMessage._meta.db_table
BODIES = ["premier", "message 1", "message 2", "message 3"]


def _blob_files() -> int:
    return sum(1 for path in blobs.store_dir().rglob("*") if path.is_file())


def _ready_session(connect, port: int) -> smtplib.SMTP:  # noqa: ANN001
    session = connect(port)
    assert session.mail(SENDER)[0] == 250
    assert session.rcpt(ALICE)[0] == 250
    return session


def _send_data(pool: ThreadPoolExecutor, session: smtplib.SMTP, body: str) -> Future[tuple[int, bytes]]:
    """DATA from a thread: smtplib blocks until the reply, which waits for the commit."""
    return pool.submit(session.data, sample_message(SENDER, ALICE, body=body))


def _queue_behind_a_blocked_batch(
    gateway: GatewayServer,
    connect,  # noqa: ANN001
    pool: ThreadPoolExecutor,
    bodies: list[str],
) -> tuple[Future[tuple[int, bytes]], list[Future[tuple[int, bytes]]]]:
    """While the spool table is locked: the first message, whose batch waits on the lock, then the others
    gathered behind it (each session has finished DATA and waits for its reply)."""
    sessions = [_ready_session(connect, gateway.port) for _ in bodies]
    writer = gateway.spool_writer
    assert writer is not None
    first = _send_data(pool, sessions[0], bodies[0])
    wait_until(lambda: writer._busy, timeout=10, what="the first batch waiting on the lock")
    rest = [_send_data(pool, session, body) for session, body in zip(sessions[1:], bodies[1:], strict=True)]
    wait_until(lambda: writer.waiting == len(rest), timeout=10, what=f"{len(rest)} sessions waiting")
    return first, rest


@contextlib.contextmanager
def _spool_table_locked(url: str | None = None) -> Iterator[None]:
    """SHARE lock (INSERT waits on it) from a connection of ours, until the block ends."""
    if url is None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {SPOOL_TABLE} IN SHARE MODE")
            yield
        return
    conn = psycopg.connect(url)
    try:
        conn.execute(f"LOCK TABLE {SPOOL_TABLE} IN SHARE MODE")
        yield
        with contextlib.suppress(psycopg.OperationalError):  # the test may have stopped the server
            conn.commit()
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def test_sessions_finishing_together_are_committed_in_one_transaction_and_all_get_250(
    liste_blanche, alice_bal, pki, connect, celery_queue
):
    with GatewayServer(gateway_config(pki)).running() as gateway, ThreadPoolExecutor(8) as pool:
        with _spool_table_locked():
            first, batch = _queue_behind_a_blocked_batch(gateway, connect, pool, BODIES)
        replies = [first.result(timeout=20), *(future.result(timeout=20) for future in batch)]
        assert gateway.spool_writer is not None
        assert (gateway.spool_writer.batches, gateway.spool_writer.committed) == (2, 4)

    assert [code for code, _ in replies] == [250] * 4
    spool_ids = [text.decode().rsplit("(id ", 1)[1].rstrip(")") for _, text in replies]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, xmin::text FROM gateway_inboundmessage")
        xmin_of = dict(cursor.fetchall())
        cursor.execute(
            "SELECT target_id, xmin::text FROM audit_auditevent WHERE action = %s",
            ["gateway.message_received"],
        )
        event_xmin_of = dict(cursor.fetchall())
    assert sorted(xmin_of) == sorted(spool_ids)  # every 250 has its row
    # The three gathered sessions share one transaction, journal events included; the first had its own.
    assert len({xmin_of[spool_id] for spool_id in spool_ids[1:]}) == 1
    assert xmin_of[spool_ids[0]] != xmin_of[spool_ids[1]]
    assert event_xmin_of == xmin_of
    event = AuditEvent.objects.get(target_id=spool_ids[2])
    assert event.target_type == "gateway.inboundmessage"
    assert event.details == {
        "sender": SENDER,
        "recipients": [ALICE],
        "size": event.details["size"],
        "peer_ip": "127.0.0.1",
    }
    assert event.actor_label.startswith("CN=mx.hopital-voisin.fr")
    # Written by the gateway's own statement, the events seal into the journal's chain like any other.
    assert do_seal_pending() >= 4
    assert verify_chain().first_break is None
    # At most one ingest task per batch (batches committed during a publish share the next), each message
    # in exactly one.
    published = [task.args[0] for task in celery_queue.pending()]
    assert {task.name for task in celery_queue.pending()} == {"apps.gateway.tasks.ingest_inbound_batch"}
    assert 1 <= len(published) <= 2
    assert sorted(spool_id for ids in published for spool_id in ids) == sorted(spool_ids)


def test_a_database_failure_during_a_batch_gives_every_session_451_and_stores_nothing(
    liste_blanche, alice_bal, pki, connect, throwaway_postgres: ThrowawayPostgres, settings, tmp_path
):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"
    # Small messages (in the row) and a large one (a blob file, which must go too) in the same batch.
    settings.GATEWAY_SPOOL_INLINE_BYTES = 1000
    settings.MESSAGE_INLINE_MAX_BYTES = 0
    _copy_test_database(throwaway_postgres)
    with (
        _database_at(throwaway_postgres),
        GatewayServer(gateway_config(pki)).running() as gateway,
        ThreadPoolExecutor(8) as pool,
    ):
        with _spool_table_locked(throwaway_postgres.url):
            bodies = [*BODIES[:2], "Compte rendu long.\r\n" * 100, BODIES[3]]
            first, batch = _queue_behind_a_blocked_batch(gateway, connect, pool, bodies)
            assert _blob_files() == 1  # the long one's, written before its commit
            throwaway_postgres.stop()  # the database goes away under the blocked batch and the waiting one
        replies = [first.result(timeout=30), *(future.result(timeout=30) for future in batch)]

        assert [(code, text[:5]) for code, text in replies] == [(451, b"4.3.0")] * 4
        assert _blob_files() == 0  # no blob left behind

        throwaway_postgres.start()
        assert InboundMessage.objects.count() == 0  # nothing half-done
        assert not AuditEvent.objects.filter(action="gateway.message_received").exists()
        # The peer retries: accepted once each database thread has dropped its dead connection (a 451 at
        # its first use, as before group commit) and the writer has reconnected.
        session = connect(gateway.port)
        for _ in range(4):
            session.rset()
            if session.mail(SENDER)[0] == 250 and session.rcpt(ALICE)[0] == 250:
                break
        assert session.data(sample_message(SENDER, ALICE))[0] == 250
        assert InboundMessage.objects.count() == 1


def test_a_row_postgresql_refuses_does_not_take_the_rest_of_its_batch_down(
    liste_blanche, alice_bal, pki, connect, throwaway_postgres: ThrowawayPostgres
):
    _copy_test_database(throwaway_postgres)
    with psycopg.connect(throwaway_postgres.url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {SPOOL_TABLE} ADD CONSTRAINT refuse_one CHECK (helo <> 'mx.refuse.fr')")
    with (
        _database_at(throwaway_postgres),
        GatewayServer(gateway_config(pki)).running() as gateway,
        ThreadPoolExecutor(8) as pool,
    ):
        sessions = [_ready_session(connect, gateway.port) for _ in range(4)]
        sessions[2].ehlo("mx.refuse.fr")  # this one's row will be refused
        assert sessions[2].mail(SENDER)[0] == 250 and sessions[2].rcpt(ALICE)[0] == 250
        writer = gateway.spool_writer
        assert writer is not None
        with _spool_table_locked(throwaway_postgres.url):
            first = _send_data(pool, sessions[0], BODIES[0])
            wait_until(lambda: writer._busy, timeout=10, what="the first batch waiting on the lock")
            batch = [
                _send_data(pool, session, body)
                for session, body in zip(sessions[1:], BODIES[1:], strict=True)
            ]
            wait_until(lambda: writer.waiting == 3, timeout=10, what="3 sessions waiting")
        codes = [first.result(timeout=20)[0], *(future.result(timeout=20)[0] for future in batch)]

        assert codes == [250, 250, 451, 250]
        assert InboundMessage.objects.count() == 3
        assert not InboundMessage.objects.filter(helo="mx.refuse.fr").exists()


def test_a_batch_is_bounded_in_rows_and_bytes_and_takes_at_least_one_message():
    import datetime as dt
    import uuid

    from apps.gateway import spool_writer
    from apps.gateway.services import SpoolEntry, SpoolEnvelope

    def entry(size: int) -> SpoolEntry:
        envelope = SpoolEnvelope(sender=SENDER, recipients=[ALICE], peer_dn="CN=x")
        now = dt.datetime.now(dt.UTC)
        return SpoolEntry(uuid.uuid4(), envelope, size, "0" * 64, b"k", b"c" * size, "", now)

    async def never(*args: object) -> None:
        raise AssertionError("no database work to take a batch")

    writer = spool_writer.SpoolWriter(never)
    half = spool_writer.MAX_BATCH_BYTES // 2
    writer._pending = [(entry(size), None) for size in (half, half, 1, 3 * half, 10)]  # type: ignore[misc]
    assert [len(writer._take_batch()) for _ in range(3)] == [2, 1, 1]  # bytes cap; a huge one goes alone
    assert len(writer._take_batch()) == 1 and writer.waiting == 0
    writer._pending = [(entry(10), None) for _ in range(spool_writer.MAX_BATCH + 5)]  # type: ignore[misc]
    assert (len(writer._take_batch()), writer.waiting) == (spool_writer.MAX_BATCH, 5)


def test_after_a_database_restart_during_an_idle_spell_the_next_message_is_accepted_at_once(
    liste_blanche, alice_bal, pki, connect, throwaway_postgres: ThrowawayPostgres, monkeypatch
):
    from apps.gateway import server, spool_writer

    # Connections are re-checked after this much idleness (5 s in production): shortened for the test.
    monkeypatch.setattr(server, "CONNECTION_CHECK_SECONDS", 0.3)
    monkeypatch.setattr(spool_writer, "IDLE_CHECK_SECONDS", 0.3)
    _copy_test_database(throwaway_postgres)
    with _database_at(throwaway_postgres), GatewayServer(gateway_config(pki)).running() as gateway:
        session = connect(gateway.port)
        assert session.sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE, body="avant")) == {}
        throwaway_postgres.stop()
        throwaway_postgres.start()  # the writer's connection is now dead, unknown to it
        time.sleep(0.5)

        assert session.sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE, body="apres")) == {}
        assert InboundMessage.objects.count() == 2
