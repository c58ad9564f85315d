"""The fault-test helpers really start, stop, crash and cut their services; the shared ones stay untouched."""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.plugins.throwaway import CuttableTcpProxy, ThrowawayPostgres, ThrowawayRedis, port_accepts


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def test_it_runs_a_private_redis_that_can_be_stopped_and_restarted(throwaway_redis: ThrowawayRedis):
    assert throwaway_redis.port != 6379
    client = _redis(throwaway_redis.url)
    client.set("k", "v")
    assert client.get("k") == b"v"

    throwaway_redis.stop()
    assert not port_accepts(throwaway_redis.port)
    with pytest.raises(redis.ConnectionError):
        _redis(throwaway_redis.url).ping()

    throwaway_redis.start()
    # No persistence: a restarted throwaway Redis is empty, like a lost broker.
    assert _redis(throwaway_redis.url).get("k") is None


def test_it_crashes_a_private_redis_with_sigkill(throwaway_redis: ThrowawayRedis):
    _redis(throwaway_redis.url).ping()
    throwaway_redis.kill()
    assert not throwaway_redis.running
    with pytest.raises(redis.ConnectionError):
        _redis(throwaway_redis.url).ping()


def test_it_leaves_the_shared_redis_alone(throwaway_redis: ThrowawayRedis):
    throwaway_redis.stop()
    assert _redis("redis://127.0.0.1:6379/0").ping() is True


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=2, autocommit=True)


def test_it_runs_a_private_postgres_whose_data_survives_a_restart(throwaway_postgres: ThrowawayPostgres):
    assert throwaway_postgres.port != 5432
    with _connect(throwaway_postgres.url) as conn:
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (41)")

    throwaway_postgres.stop()
    assert not throwaway_postgres.running
    with pytest.raises(psycopg.OperationalError):
        _connect(throwaway_postgres.url)

    throwaway_postgres.start()
    with _connect(throwaway_postgres.url) as conn:
        assert conn.execute("SELECT n + 1 FROM probe").fetchone() == (42,)


def test_it_recovers_a_private_postgres_after_a_crash(throwaway_postgres: ThrowawayPostgres):
    with _connect(throwaway_postgres.url) as conn:
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (7)")
    session = _connect(throwaway_postgres.url)

    throwaway_postgres.kill()
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()

    throwaway_postgres.start()
    with _connect(throwaway_postgres.url) as conn:
        assert conn.execute("SELECT n FROM probe").fetchone() == (7,)
    assert "database system was interrupted" in throwaway_postgres.log() or "not properly shut down" in (
        throwaway_postgres.log()
    )


def test_it_cuts_and_restores_connections_through_the_proxy(throwaway_redis: ThrowawayRedis, cuttable_proxy):
    proxy: CuttableTcpProxy = cuttable_proxy("127.0.0.1", throwaway_redis.port)
    client = _redis(proxy.url_for(throwaway_redis.url))
    client.set("through", "proxy")
    assert _redis(throwaway_redis.url).get("through") == b"proxy"
    assert proxy.connection_count == 1

    proxy.cut()
    assert proxy.connection_count == 0
    with pytest.raises(redis.ConnectionError):
        # redis-py retries once on a dropped connection; the new connection is refused by the cut proxy too.
        client.get("through")

    proxy.restore()
    assert client.get("through") == b"proxy"


def test_it_cuts_a_postgres_session_through_the_proxy(throwaway_postgres: ThrowawayPostgres, cuttable_proxy):
    proxy: CuttableTcpProxy = cuttable_proxy("127.0.0.1", throwaway_postgres.port)
    session = _connect(proxy.url_for(throwaway_postgres.url))
    assert session.execute("SELECT 1").fetchone() == (1,)

    proxy.cut()
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        _connect(proxy.url_for(throwaway_postgres.url))

    proxy.restore()
    with _connect(proxy.url_for(throwaway_postgres.url)) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
    # The server itself never went down: only the path to it did.
    assert throwaway_postgres.running
