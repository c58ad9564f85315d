"""A database thread's connection left stale by a PostgreSQL restart costs no spurious 4xx on a read."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import OperationalError, connection

from apps.gateway import server
from apps.gateway.server import _run_db, _run_db_read

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _kill(pid: int) -> None:
    """What a restart does to an open connection: its server process goes away."""
    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"], port=params["PORT"] or 5432, user=params["USER"], dbname=params["NAME"],
        autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture(autouse=True)
def _just_checked(monkeypatch):
    """As between two checks of the thread's connection (every few seconds): it is used as it is."""
    monkeypatch.setattr(server._thread_state, "checked_at", time.monotonic(), raising=False)


def test_a_read_on_a_stale_connection_is_run_again_on_a_new_one():
    killed = _backend_pid()
    _kill(killed)

    assert _run_db_read(_backend_pid) != killed


def test_without_the_retry_the_stale_connection_fails_the_command():
    _kill(_backend_pid())

    with pytest.raises(OperationalError):
        _run_db(_backend_pid)
