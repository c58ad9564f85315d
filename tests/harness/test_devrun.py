"""`make run` (scripts/devrun.py) end to end: it serves the login page, and Ctrl-C leaves no process behind.

Each test starts the real script on a free port with its own SQLite file or PostgreSQL database and Redis
database, waits for the banner, logs in over HTTP, then interrupts it as a terminal's Ctrl-C would.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from mssante_web.management.demo_personas import DEMO_PASSWORD, persona
from tests.plugins.throwaway import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BANNER_TIMEOUT = 150


class DevRun:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["DEVRUN_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "devrun.py")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a "terminal" of its own: its process group gets the Ctrl-C
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_banner(self) -> None:
        deadline = time.monotonic() + BANNER_TIMEOUT
        while time.monotonic() < deadline:
            if "Ctrl-C pour arrêter" in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"no banner from devrun:\n{self.output()[-5000:]}")

    def children(self) -> list[int]:
        """Process groups devrun started (each child leads its own), from the `ps` table."""
        table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout
        rows = [tuple(int(x) for x in line.split()) for line in table.splitlines() if line.strip()]
        return [pid for pid, ppid, pgid in rows if ppid == self.process.pid and pgid == pid]

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        self.process.wait(timeout=60)
        self._out.close()

    def kill_everything(self) -> None:
        for group in [*self.children(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        self._out.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _log_in(base: str, email: str, code: Callable[[], str] | None) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(path: str, data: dict[str, str]) -> tuple[str, str]:
        with opener.open(base + path, timeout=30) as response:
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode())
        assert found is not None, f"no CSRF token on {path}"
        token = found.group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(base + path, data=body, headers={"Referer": base + path})  # noqa: S310
        with opener.open(request, timeout=30) as response:
            return response.geturl(), response.read().decode()

    url, page = post("/comptes/login/", {"login": email, "password": DEMO_PASSWORD})
    if code is not None:
        assert url.endswith("/comptes/2fa/authenticate/"), url
        url, page = post("/comptes/2fa/authenticate/", {"code": code()})
    return page


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MSSANTE_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DEVRUN_PORT=str(free_port()),
        DEVRUN_SMTP_PORT=str(free_port()),
        DEVRUN_SMTPS_PORT=str(free_port()),
        DEVRUN_SUBMISSION_PORT=str(free_port()),
        DEVRUN_IMAP_PORT=str(free_port()),
        DEVRUN_IMAPS_PORT=str(free_port()),
        MSSANTE_VAR_DIR=str(tmp_path / "var"),
    )
    return env


@contextlib.contextmanager
def _devrun(env: dict[str, str], tmp_path: Path) -> Iterator[DevRun]:
    run = DevRun(env, tmp_path / "devrun.log")
    try:
        yield run
    finally:
        if run.process.poll() is None:
            run.kill_everything()


def _totp_from(env: dict[str, str], email: str) -> Callable[[], str]:
    def code() -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "demo_totp", email],
            cwd=ROOT,
            env={**env, "MSSANTE_DEV": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    return code


def test_it_serves_the_demo_on_sqlite_and_stops_everything_on_ctrl_c(tmp_path: Path):
    env = _base_env(tmp_path)
    with _devrun(env, tmp_path) as run:
        run.wait_for_banner()
        children = run.children()
        assert len(children) == 1  # web only: tasks run in-process without Redis
        assert "SQLite" in run.output() and "make totp EMAIL=" in run.output()
        assert (tmp_path / "var" / "dev.sqlite3").exists()

        alice = persona("dr_alice").email
        # The login lands on the inbox of her BAL (issue 14).
        assert "data-webmail" in _log_in(run.url, alice, _totp_from(env, alice))

        run.interrupt()
        assert run.process.returncode == 0
        assert not any(_group_alive(group) for group in children)
        assert "tout est arrêté" in run.output()


@pytest.fixture
def devrun_database() -> Iterator[str]:
    name = f"mssante_devrun_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    yield url
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def devrun_redis(settings) -> Iterator[str]:
    """This test worker's Redis database; devrun's keys (no test prefix) are removed afterwards."""
    yield settings.REDIS_URL
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in ("default", "_kombu.*", "unacked*", "celery*"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


def test_it_runs_web_worker_and_beat_on_postgres_and_redis(
    tmp_path: Path, devrun_database: str, devrun_redis: str
):
    env = _base_env(tmp_path)
    # This test worker's own Redis database; devrun's queues (no test prefix) cannot meet the tests' queues.
    env.update(DATABASE_URL=devrun_database, REDIS_URL=devrun_redis)
    with _devrun(env, tmp_path) as run:
        run.wait_for_banner()
        children = run.children()
        assert len(children) == 6  # web, worker, beat, inbound SMTP gateway, SMTP submission, IMAP
        assert "worker et beat Celery" in run.output()
        assert f"127.0.0.1:{env['DEVRUN_IMAP_PORT']} (STARTTLS)" in run.output()  # the banner names IMAP
        with urllib.request.urlopen(f"{run.url}/healthz", timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200  # database, broker, the worker and the IMAP listener answer
            assert json.loads(response.read())["imap"]["ok"]

        paul = persona("patient_paul").email
        assert "Mes messages" in _log_in(
            run.url, paul, _totp_from(env, paul)
        )  # the portal, second factor first
        # Issue 14: the real ports in the banner, no API secret printed, no ERROR while the worker boots.
        assert env["DEVRUN_SMTP_PORT"] in run.output() and env["DEVRUN_SUBMISSION_PORT"] in run.output()
        assert "bal_" not in run.output()
        assert " ERROR " not in run.output()

        run.interrupt()
        assert not any(_group_alive(group) for group in children)
        assert "Warm shutdown" in run.output()
