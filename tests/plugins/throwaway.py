"""Throwaway PostgreSQL and Redis servers, and a TCP proxy that can cut connections, for fault tests.

The shared services (127.0.0.1:5432 and :6379) serve every test worker and every developer at once: a test
must never stop or reconfigure them. A test that needs a dependency to fail starts its own instance on a
free port, breaks it (stop, kill, or cut the connections through `CuttableTcpProxy`) and throws it away.

PostgreSQL refuses to run as root, so when the tests run as root (CI) `initdb`/`pg_ctl` run as the
`postgres` OS user through `runuser`, in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it; tiny race accepted in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


# --- Redis ---


class ThrowawayRedis:
    """A redis-server child process on a free port with no persistence; `url` stays valid across restarts."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayRedis:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_accepts(self.port), timeout=10, what=f"throwaway Redis on port {self.port}")
        return self

    def _wait_down(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM); the port then refuses connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
        self._wait_down()

    def kill(self) -> None:
        """Crash it (SIGKILL): clients see their connections drop without a goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._wait_down()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def start_throwaway_redis() -> Iterator[ThrowawayRedis]:
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-redis-"))
    server = ThrowawayRedis(workdir).start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


# --- PostgreSQL ---


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        return Path(found).parent
    return Path(candidates[-1]).parent


def _as_postgres_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; any other user runs them as itself.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port, trust auth, superuser `postgres`."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = port or free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.bindir = _pg_bindir()

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            _as_postgres_user([str(self.bindir / argv[0]), *argv[1:]]),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n"
                f"server log:\n{self.log()[-3000:]}"
            )

    def init(self) -> ThrowawayPostgres:
        self._run(
            "initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        return self

    def start(self) -> ThrowawayPostgres:
        # fsync off and a socket directory of our own: fast, and no clash with the shared cluster's socket.
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.datadir),
            "-l",
            str(self.workdir / "postgres.log"),
            "-o",
            options,
        )
        return self

    def stop(self) -> None:
        """Clean, fast shutdown: open sessions are disconnected, new ones refused."""
        if self.running:
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.datadir))

    def kill(self) -> None:
        """Crash the postmaster and its backends (SIGKILL); the next start() runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        # The whole server dies at once, as under the OOM killer: postmaster and every backend.
        for victim in [pid, *_children_of(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not _pid_alive(pid) and not _children_of(pid), timeout=10, what="server death")
        wait_until(lambda: not port_accepts(self.port), timeout=10, what="port release")
        # A crashed postmaster leaves its lock files behind; a restarted one would refuse to start.
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)
        for leftover in self.workdir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    @property
    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def log(self) -> str:
        try:
            return (self.workdir / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); read its state to tell.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _children_of(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _postgres_owned_tmpdir() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, user="postgres", group="postgres")
    return workdir


@contextlib.contextmanager
def start_throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    workdir = _postgres_owned_tmpdir()
    server = ThrowawayPostgres(workdir).init().start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        if server.running:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


# --- A TCP proxy whose connections can be cut ---


class CuttableTcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()` drops every connection and refuses new ones.

    Stopping a server tells its clients "connection refused" at once; a network fault often does not. The
    proxy shows both: `cut()` resets live connections and closes new ones on accept, `restore()` heals it.
    One selector thread does all the forwarding, so it stays cheap for a test.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._cut = False
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="cuttable-proxy", daemon=True)
        self._thread.start()

    def url_for(self, url: str) -> str:
        """`url` with its host:port replaced by the proxy's (for redis:// and postgres:// URLs)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{self.port}"))

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in list(self._peers):
                self._drop(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._peers) // 2

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        with self._lock:
            for sock in list(self._peers):
                self._drop(sock)
        self._selector.close()
        self._listener.close()

    def _loop(self) -> None:
        while self._running:
            for key, _events in self._selector.select(timeout=0.05):
                with self._lock:
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._forward(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _addr = self._listener.accept()
        except BlockingIOError:
            return
        if self._cut:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, None)
        self._peers[client] = upstream
        self._peers[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        peer = self._peers.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for one in (sock, peer):
            if one is None:
                continue
            self._peers.pop(one, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one)
            _reset(one)


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0 makes close() send RST: the client sees "connection reset", like a dropped link.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


# --- Fixtures ---


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A private Redis for this test: stop it, kill it, restart it at will."""
    with start_throwaway_redis() as server:
        yield server


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A private PostgreSQL cluster for this test (about one second to create)."""
    with start_throwaway_postgres() as server:
        yield server


@pytest.fixture
def cuttable_proxy() -> Iterator[Callable[[str, int], CuttableTcpProxy]]:
    """Factory: `cuttable_proxy(host, port)` returns a proxy closed at the end of the test."""
    proxies: list[CuttableTcpProxy] = []

    def make(host: str, port: int) -> CuttableTcpProxy:
        proxy = CuttableTcpProxy(host, port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
