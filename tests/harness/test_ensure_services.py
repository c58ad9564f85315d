"""scripts/ensure_services.sh: starts a local Redis that is down, and explains what it cannot fix."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import redis

from tests.plugins.throwaway import free_port, port_accepts

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure_services.sh"


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_says_both_shared_services_answer():
    result = _run(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres", REDIS_URL="redis://127.0.0.1:6379/0"
    )
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL répond (127.0.0.1:5432)" in result.stdout
    assert "Redis répond (127.0.0.1:6379)" in result.stdout


def test_it_starts_a_local_redis_that_does_not_answer():
    port = free_port()
    try:
        result = _run(REDIS_URL=f"redis://127.0.0.1:{port}/0")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Redis démarré (127.0.0.1:{port})" in result.stdout
        assert redis.Redis(port=port, socket_connect_timeout=2).ping() is True
    finally:
        if port_accepts(port):
            # The daemon it started: ours to stop (never the shared 6379).
            redis.Redis(port=port).shutdown(nosave=True)


def test_it_refuses_to_start_a_server_on_another_host_and_says_so():
    # 127.0.0.2 is loopback (no traffic leaves the machine) but not "local" for the script: a remote server.
    port = free_port()
    result = _run(REDIS_URL=f"redis://127.0.0.2:{port}/0")
    assert result.returncode == 1
    assert (
        f"Redis ne répond pas sur 127.0.0.2:{port} (serveur distant : je ne le démarre pas)" in result.stderr
    )
    assert not port_accepts(port, host="127.0.0.2")


def test_it_explains_a_postgres_that_does_not_answer_elsewhere():
    port = free_port()
    result = _run(DATABASE_URL=f"postgres://postgres@127.0.0.2:{port}/x")
    assert result.returncode == 1
    assert f"PostgreSQL ne répond pas sur 127.0.0.2:{port}" in result.stderr
