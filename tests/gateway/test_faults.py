"""The sender is told the truth when our dependencies fail: PostgreSQL down -> 451 (retry later), never 250
and never 5xx; Redis down -> 250 is still honest (the spool row is committed) and the sweeper delivers later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from apps.gateway import services
from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.server import GatewayServer
from apps.messaging.models import Message
from apps.messaging.store import blobs
from tests.gateway.conftest import PEER_DOMAIN, gateway_config, sample_message
from tests.plugins.celery_workers import PROJECT_ROOT, _test_database_url
from tests.plugins.throwaway import ThrowawayPostgres, free_port, port_accepts, wait_until

pytestmark = pytest.mark.slow

SENDER = f"dr.voisin@{PEER_DOMAIN}"
ALICE = "alice.martin@demo.mssante.fr"


def _copy_test_database(server: ThrowawayPostgres) -> None:
    """Schema and committed rows of the test database into the throwaway cluster (a second or two)."""
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", _test_database_url()],
        capture_output=True,
        check=True,
        timeout=120,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", server.url],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=120,
    )


@contextlib.contextmanager
def _database_at(server: ThrowawayPostgres) -> Iterator[None]:
    """Every new connection (the gateway's DB threads included) goes to the throwaway cluster."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), NAME="postgres", USER="postgres")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def _blob_count() -> int:
    return sum(1 for path in blobs.store_dir().rglob("*") if path.is_file())


def test_it_answers_451_while_the_database_is_down_and_250_once_it_is_back(
    liste_blanche, alice_bal, pki, connect, throwaway_postgres: ThrowawayPostgres, settings, tmp_path
):
    settings.MESSAGE_STORE_DIR = tmp_path / "store"  # a store of its own: blobs are counted below
    # The large-message path, where a blob file is written before the commit (and must go on failure).
    settings.GATEWAY_SPOOL_INLINE_BYTES = settings.MESSAGE_INLINE_MAX_BYTES = 0
    _copy_test_database(throwaway_postgres)
    with _database_at(throwaway_postgres), GatewayServer(gateway_config(pki)).running() as gateway:
        session = connect(gateway.port)
        assert session.mail(SENDER)[0] == 250
        assert session.rcpt(ALICE)[0] == 250
        blobs_before = _blob_count()

        throwaway_postgres.stop()  # the database goes away between RCPT and the end of DATA
        code, text = session.data(sample_message(SENDER, ALICE))

        assert (code, text[:5]) == (451, b"4.3.0")
        assert _blob_count() == blobs_before  # the encrypted blob written before the failed commit is gone
        # Every command that needs the database answers 4xx, so the peer keeps the message and retries.
        session.rset()
        assert session.mail(SENDER)[0] == 451

        throwaway_postgres.start()
        session.rset()
        assert session.sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}
        assert InboundMessage.objects.filter(state=SpoolState.RECEIVED).count() == 1
        assert _blob_count() == blobs_before + 1


@contextlib.contextmanager
def _gateway_process(pki, redis_url: str, processes: int = 1) -> Iterator[int]:  # noqa: ANN001
    """`manage.py run_smtp` in a subprocess on the test database and the given Redis."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=_test_database_url(),
        REDIS_URL=redis_url,
        MSSANTE_TESTING="1",
        TEST_REDIS_DB=os.environ.get("TEST_REDIS_DB", "1"),
        MESSAGE_STORE_DIR=str(blobs.store_dir()),  # the same store as this process reads
        PYTHONUNBUFFERED="1",
    )
    env.pop("MSSANTE_DEV", None)
    log = Path(pki.ca.directory) / f"gateway-{port}.log"
    argv = [
        sys.executable, str(PROJECT_ROOT / "manage.py"), "run_smtp", "--port", str(port), "--smtps-port", "0",
        "--cert", str(pki.server.cert_path), "--key", str(pki.server.key_path), "--ca", str(pki.ca.cert_path),
        "--processes", str(processes),
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_accepts(port) or process.poll() is not None, timeout=60, what="run_smtp")
        assert process.poll() is None, log.read_text()
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_it_loses_nothing_while_the_broker_is_down_the_sweeper_delivers_later(
    liste_blanche, alice_bal, pki, connect, throwaway_redis, celery_queue, settings
):
    with _gateway_process(pki, throwaway_redis.url) as port:
        throwaway_redis.stop()  # the broker is gone: the ingest task cannot be published
        session = connect(port)
        assert session.sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}

    spool = InboundMessage.objects.get()
    assert spool.state == SpoolState.RECEIVED
    assert celery_queue.pending() == []  # nothing reached any broker

    # Later, with a broker again, the periodic sweeper finds the row and queues its ingest.
    settings.GATEWAY_SPOOL_STUCK_AFTER = 0
    assert services.do_sweep_spool() == [str(spool.pk)]
    [queued] = celery_queue.pending()
    assert (queued.name, queued.args) == ("apps.gateway.tasks.ingest_inbound_batch", [[str(spool.pk)]])

    from apps.gateway.tasks import ingest_inbound_batch

    ingest_inbound_batch.apply(args=queued.args)
    spool.refresh_from_db()
    assert spool.state == SpoolState.INGESTED
    message = Message.objects.get(idempotency_key=f"smtp:{spool.pk}")
    assert message.deliveries.get().recipient_mailbox_id == alice_bal.pk


def test_several_gateway_processes_share_the_port_and_all_stop_on_sigterm(
    liste_blanche, alice_bal, pki, connect, settings, celery_queue
):
    with _gateway_process(pki, settings.REDIS_URL, processes=2) as port:
        for _ in range(4):
            assert connect(port).sendmail(SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}
        assert port_accepts(port)

    assert InboundMessage.objects.count() == 4
    assert not port_accepts(port)  # the parent forwarded SIGTERM: no child is left listening
