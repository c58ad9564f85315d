"""Real Celery workers for tests: one in a thread of the test process, one in a subprocess.

Tests run with `CELERY_TASK_ALWAYS_EAGER = False` (REDIS_URL is set), so `.delay()` really publishes to Redis.
Each pytest-xdist worker has its own Redis database and queue prefix (see settings: TEST_REDIS_DB and
QUEUE_PREFIX), so parallel test workers never take each other's tasks.

Why the worker fixtures need `transactional_db`: the ordinary `db` fixture wraps each test in a transaction
that is rolled back at the end and never committed, so (1) a worker -- another connection -- cannot see any
row the test created, and (2) `transaction.on_commit` callbacks, where services enqueue their tasks, never
fire. With `transactional_db` the test's writes are really committed (and the tables flushed afterwards),
which is what production looks like. Fixture order also guarantees the worker stops before the flush.

Tests that do not start a worker may still call services that enqueue: under `db` their on_commit callbacks
never run, and with `django_capture_on_commit_callbacks(execute=True)` the task is published to this test
worker's own queue and purged by `celery_queue`. Use `eager_tasks` to run such tasks in-process instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings

from mssante_web.celery import app as celery_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT = float(os.environ.get("TEST_CELERY_WORKER_START_TIMEOUT", "60"))


# --- The test queue ---


@dataclass
class QueuedTask:
    name: str
    args: list[Any]
    kwargs: dict[str, Any]


class CeleryQueue:
    """This test worker's Celery queue in Redis: purge it, or read what is waiting without consuming it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def purge(self) -> int:
        with celery_app.connection_for_write() as conn:
            return conn.default_channel.queue_purge(self.name) or 0

    def pending(self) -> list[QueuedTask]:
        """Tasks waiting in the queue, oldest first (kombu pushes on the left, workers pop on the right)."""
        with celery_app.connection_for_write() as conn:
            client = conn.default_channel.client
            # kombu's prefixing client leaves LRANGE (which kombu never uses) unprefixed: add it here.
            raw = client.lrange(getattr(client, "global_keyprefix", "") + self.name, 0, -1)
        tasks = []
        for item in reversed(raw):
            message = json.loads(item)
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args, kwargs, _embed = json.loads(body)
            tasks.append(QueuedTask(message["headers"]["task"], args, kwargs))
        return tasks


@pytest.fixture
def celery_queue() -> Iterator[CeleryQueue]:
    """The test's task queue, emptied before and after the test (left-overs would reach a later worker)."""
    from apps.messaging.delivery import wake

    queue = CeleryQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
    queue.purge()
    wake.clear()  # a wake flag left by an earlier test would silence this test's first wake-up
    yield queue
    queue.purge()
    wake.clear()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run `.delay()` in-process and synchronously (exceptions propagate), for unit tests of services.

    Celery reads Django settings once, so overriding CELERY_TASK_ALWAYS_EAGER with `settings` would not reach
    the app: the app's own configuration is switched, and restored afterwards.
    """
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


# --- A worker in a thread ---


@pytest.fixture
def celery_worker_thread(transactional_db, celery_queue: CeleryQueue) -> Iterator[Any]:
    """A real Celery worker (solo pool) consuming this test worker's queue from a thread of this process.

    Fast to start (no fork, no Django start-up) and shares the test's settings; it sees only committed data
    (see the module docstring for why `transactional_db` is required).
    """
    from celery.contrib.testing.worker import start_worker

    # Celery would otherwise replace the root logger's handlers, pytest's log capture among them.
    hijack = celery_app.conf.worker_hijack_root_logger
    celery_app.conf.worker_hijack_root_logger = False
    try:
        with start_worker(
            celery_app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            queues=[celery_queue.name],
            hostname=f"thread-{uuid.uuid4().hex[:8]}@localhost",
            loglevel="WARNING",
            shutdown_timeout=30,
        ) as worker:
            yield worker
    finally:
        celery_app.conf.worker_hijack_root_logger = hijack


# --- A worker in a subprocess ---


def _test_database_url() -> str:
    from django.db import connection

    conf = connection.settings_dict
    password = f":{quote(conf['PASSWORD'], safe='')}" if conf.get("PASSWORD") else ""
    user = quote(conf.get("USER") or "postgres", safe="")
    host, port = conf.get("HOST") or "127.0.0.1", conf.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{conf['NAME']}"


class WorkerProcess:
    """`celery worker` (prefork) in its own process group, on the test database and this test's queue.

    `kill(sig)` delivers `sig` to the whole group (the main process and its pool children), as a crash or an
    OOM kill would; `restart()` starts a fresh worker with the same node name, queue and environment.
    """

    def __init__(
        self,
        queue: str,
        *,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        include: list[str] | None = None,
    ) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.nodename = (
            f"pytest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}@localhost"
        )
        self.include = include or []
        self.env = self._environment(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        # The worker appends (O_APPEND) to its own log file; reading it never moves the worker's write offset.
        self.log_path = Path(tempfile.mkdtemp(prefix="celery-worker-")) / "worker.log"

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_test_database_url(),
            MSSANTE_TESTING="1",
            # Same Redis database and queue prefix as this test process (both derive from these two).
            TEST_REDIS_DB=os.environ.get("TEST_REDIS_DB", "1"),
            PYTEST_XDIST_WORKER=os.environ.get("PYTEST_XDIST_WORKER", ""),
            PYTHONUNBUFFERED="1",
        )
        env.pop("MSSANTE_DEV", None)
        env.update(extra)
        return env

    def argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mssante_web",
            "worker",
            "-Q",
            self.queue,
            "--pool=prefork",
            "-c",
            str(self.concurrency),
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            self.nodename,
            "--loglevel=INFO",
        ]
        for module in self.include:
            argv += ["-I", module]
        return argv

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            log.write(b"--- worker (re)started ---\n")
            self.process = subprocess.Popen(
                self.argv(),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_ready()
        return self

    def wait_until_ready(self, timeout: float = WORKER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"Celery worker subprocess exited early:\n{self.output()}")
            if self.ping(timeout=0.5):
                return
        raise RuntimeError(
            f"Celery worker {self.nodename} did not answer a ping within {timeout:.0f} s:\n{self.output()}"
        )

    def ping(self, timeout: float = 1.0) -> bool:
        replies = celery_app.control.ping(destination=[self.nodename], timeout=timeout) or []
        return any(self.nodename in reply for reply in replies)

    def output(self) -> str:
        """The worker's combined stdout/stderr so far (the end of it), for failure messages."""
        try:
            return self.log_path.read_bytes().decode(errors="replace")[-6000:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self.process.wait(timeout=60)
            self._reap_group()

    def _reap_group(self) -> None:
        # Pool children outlive a SIGKILLed parent for a moment; none may survive into the next test.
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            time.sleep(0.05)

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM: finish running tasks), then SIGKILL if it takes longer than `timeout`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
        self._reap_group()

    def restart(self) -> WorkerProcess:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


@pytest.fixture
def celery_worker_factory(transactional_db, celery_queue: CeleryQueue) -> Iterator[Any]:
    """Start workers with options: `celery_worker_factory(extra_env={...}, include=[...], concurrency=1)`.

    `include` names extra task modules the worker imports (e.g. test-only tasks); `extra_env` tunes it,
    e.g. `{"CELERY_VISIBILITY_TIMEOUT": "3"}` for redelivery tests. Every worker is stopped at teardown.
    """
    workers: list[WorkerProcess] = []

    def start(**options: Any) -> WorkerProcess:
        worker = WorkerProcess(celery_queue.name, **options)
        workers.append(worker)
        try:
            return worker.start()
        except Exception:
            worker.close()
            raise

    yield start
    for worker in workers:
        worker.close()


@pytest.fixture
def celery_worker_process(celery_worker_factory) -> WorkerProcess:
    """A real `celery worker` subprocess (prefork, 2 children) on the test database, answering pings."""
    return celery_worker_factory()
