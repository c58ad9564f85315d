"""`/healthz` against real dependencies: a live worker, a stopped broker, a stopped database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.models import UserKind
from mssante_web.celery import app as celery_app
from tests.factories import UserFactory
from tests.plugins.throwaway import ThrowawayPostgres, ThrowawayRedis

pytestmark = pytest.mark.slow


@pytest.fixture
def short_ping(settings):
    # Where no worker is expected, every probe waits the whole ping timeout: keep those tests quick.
    settings.HEALTHZ_WORKER_TIMEOUT = 0.5


def _get(client: Client):
    response = client.get("/healthz")
    return response, json.loads(response.content)


@contextmanager
def _broker_at(url: str) -> Iterator[None]:
    """Point the Celery app (what /healthz probes) at another Redis, then back."""
    previous = celery_app.conf["broker_url"]
    celery_app.conf["broker_url"] = url
    try:
        yield
    finally:
        celery_app.conf["broker_url"] = previous


@contextmanager
def _database_at(server: ThrowawayPostgres) -> Iterator[None]:
    """Point the default connection at a throwaway cluster (needs transactional_db: no open transaction)."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), NAME="postgres", USER="postgres")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_it_answers_200_when_database_broker_and_a_worker_are_up(client, celery_worker_thread, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 5
    _get(client)  # the first probe of a process also loads the broker transport
    started = time.monotonic()
    response, body = _get(client)

    # The first worker's reply ends the wait: a healthy node never waits the whole ping timeout.
    assert time.monotonic() - started < 2

    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["workers"] == {"ok": True, "count": 1}
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_503_when_no_worker_answers(client, transactional_db, celery_queue, short_ping):
    response, body = _get(client)

    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["workers"] == {"ok": False, "count": 0}


def test_it_answers_503_when_the_broker_is_down(
    client, transactional_db, throwaway_redis: ThrowawayRedis, short_ping
):
    with _broker_at(throwaway_redis.url):
        _response, body = _get(client)
        assert body["broker"]["ok"] is True  # reachable (though no worker listens there)

        throwaway_redis.stop()
        response, body = _get(client)

    assert response.status_code == 503
    assert body["broker"] == {"ok": False, "error": "OperationalError"}
    assert body["workers"] == {"ok": False, "error": "broker down"}
    assert body["database"]["ok"] is True


def test_it_answers_503_when_the_database_is_down(
    client, transactional_db, celery_worker_thread, throwaway_postgres: ThrowawayPostgres
):
    with _database_at(throwaway_postgres):
        response, body = _get(client)
        assert response.status_code == 200, body

        throwaway_postgres.stop()
        response, body = _get(client)

    assert response.status_code == 503
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["broker"]["ok"] is True
    assert body["workers"]["ok"] is True


def test_it_recovers_once_the_database_is_back(
    client, transactional_db, throwaway_postgres: ThrowawayPostgres, short_ping
):
    with _database_at(throwaway_postgres):
        throwaway_postgres.stop()
        assert _get(client)[1]["database"]["ok"] is False
        throwaway_postgres.start()
        assert _get(client)[1]["database"]["ok"] is True


def test_it_reveals_no_host_url_or_worker_name(client, celery_worker_thread, throwaway_redis: ThrowawayRedis):
    with _broker_at(throwaway_redis.url):
        throwaway_redis.stop()
        down = _get(client)[0].content.decode()
    up = _get(client)[0].content.decode()

    for text in (up, down):
        assert "127.0.0.1" not in text
        assert "redis" not in text.lower()
        assert "postgres" not in text.lower()
        assert "@" not in text
        assert set(json.loads(text)) == {"status", "database", "broker", "workers", "revocation", "backups"}


def test_it_refuses_other_methods(client, db):
    assert client.post("/healthz").status_code == 405


def test_it_needs_no_login_nor_second_factor(client, celery_worker_thread):
    assert client.get("/healthz").status_code == 200
    # A professional who has not enrolled a second factor is held at enrolment everywhere, but not here.
    client.force_login(UserFactory(kind=UserKind.PROFESSIONAL))
    assert client.get("/").status_code == 302
    assert client.get("/healthz").status_code == 200
