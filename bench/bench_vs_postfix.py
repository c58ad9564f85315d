#!/usr/bin/env python3
"""Inbound mail side by side: Postfix + Dovecot LMTP (Maildir) against this platform, same client, same run.

Both receive the same 20 KB messages over STARTTLS from the same client (bench_smtp_inbound's: `--clients`
sessions reusing their connection, each presenting the peer operator's certificate), spread over
`--recipients` mailboxes. Measured for each: the acceptance rate (every 250 received) and the end-to-end
rate (from the start of sending to the last message in its mailbox: a file in a Maildir for Dovecot; a copy
in its BAL, every spool row ingested, for the platform).

- The peer: a private Postfix and a private Dovecot, each from its own directory under a temporary one, on
  free loopback ports (never 25, 143, 587 or 993); Postfix relays `demo.mssante.fr` to Dovecot over LMTP
  (`virtual_transport`), as an operator's MTA in front of its mail store would. Debian's defaults otherwise
  (Postfix's queue fsyncs, Dovecot's `mail_fsync = optimized`). When the packages are missing and the
  script runs as root without BENCH_NO_APT, it installs postfix, dovecot-core and dovecot-lmtpd with apt
  (noninteractive, Postfix preseeded to "No configuration", a policy-rc.d refusing every service start
  during the install when none exists: the packages' own services are never started, and nothing is
  stopped). Otherwise it says so in one line and measures the platform alone.
- The platform: `manage.py run_smtp --processes 2` and one Celery worker (`-c 2`) with production settings
  (MSSANTE_TESTING unset, DEBUG off, encryption at rest under a master key, synchronous commit, journal,
  S/MIME verification of signed mail configured with the peer's CA, the ingest queue not purged).
- Interleaved: `--rounds` rounds of both, alternating which goes first (peer, platform, platform, peer…), so
  the noise of a shared machine falls on both; the figures are the medians over the rounds.

Leaves no process running (everything it starts is stopped, then killed, in `finally`) and removes the
temporary directory; a full run writes its table between markers into docs/benchmarks.md.

    .venv/bin/python bench/bench_vs_postfix.py              # 5,000 messages x 2 rounds per side
    .venv/bin/python bench/bench_vs_postfix.py --smoke      # platform only, 20 messages, seconds
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_smtp_inbound as inbound  # noqa: E402 (bench/ is the script's directory)
from support import ensure_database, machine  # noqa: E402

DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_vs_postfix"
PACKAGES = ["postfix", "dovecot-core", "dovecot-lmtpd"]
BINARIES = ["/usr/sbin/postfix", "/usr/sbin/dovecot", "/usr/lib/dovecot/lmtp"]
FORBIDDEN_PORTS = {25, 143, 587, 993}
BEGIN, END = "<!-- bench_vs_postfix:begin -->", "<!-- bench_vs_postfix:end -->"


def free_port() -> int:
    while True:
        port = inbound.free_port()
        if port not in FORBIDDEN_PORTS:
            return port


# --- The peer: Postfix + Dovecot LMTP ----------------------------------------------------------------------


def peer_missing() -> str | None:
    """None when the peer can run, else why not (one line)."""
    missing = [b for b in BINARIES if not Path(b).exists()]
    if not missing:
        return None
    if os.geteuid() != 0 or os.environ.get("BENCH_NO_APT"):
        return f"Postfix/Dovecot not installed ({', '.join(missing)} missing) and not installing them"
    install_peer()
    missing = [b for b in BINARIES if not Path(b).exists()]
    return f"apt could not install {', '.join(PACKAGES)}" if missing else None


def install_peer() -> None:
    """apt install, noninteractive, Postfix unconfigured, no service started (policy-rc.d exits 101)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["debconf-set-selections"],
        input=b"postfix postfix/main_mailer_type select No configuration\n",
        env=env,
        check=False,
    )
    policy = Path("/usr/sbin/policy-rc.d")
    made = not policy.exists()  # one already there (a container's, another installer's) is left alone
    if made:
        policy.write_text("#!/bin/sh\n# bench_vs_postfix: no service starts during the install\nexit 101\n")
        policy.chmod(0o755)
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "--no-install-recommends"]
    try:
        print(f"bench: installing {' '.join(PACKAGES)} with apt", flush=True)
        done = subprocess.run([*apt, "install", *PACKAGES], env=env, check=False, capture_output=True)
        if done.returncode != 0:  # package lists missing or stale
            subprocess.run([*apt, "update"], env=env, check=False, capture_output=True)
            subprocess.run([*apt, "install", *PACKAGES], env=env, check=False, capture_output=True)
    finally:
        if made:
            policy.unlink(missing_ok=True)


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/postfix-queue
data_directory = {dir}/postfix-data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.peer-bench.test
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = demo.mssante.fr
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_CAfile = {ca}
smtpd_tls_security_level = may
smtpd_tls_ask_ccert = yes
smtpd_tls_loglevel = 0
maillog_file = {dir}/postfix.log
maillog_file_prefixes = {dir}
biff = no
append_dot_mydomain = no
message_size_limit = 26214400
"""

# Debian's master.cf services, not chrooted (the chroot would need copies of /etc files), on our port.
POSTFIX_MASTER = """\
{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

DOVECOT_CONF = """\
base_dir = {dir}/dovecot-run
state_dir = {dir}/dovecot-state
log_path = {dir}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:{dir}/mail/%n
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
first_valid_gid = 8
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={dir}/mail/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""


class Peer:
    """A private Postfix in front of a private Dovecot LMTP, both under `directory`."""

    def __init__(self, directory: Path, files: dict[str, Path]) -> None:
        self.dir = directory
        self.port, self.lmtp_port = free_port(), free_port()
        self.postfix_dir = directory / "postfix"
        self.mail = directory / "mail"
        self.started: list[str] = []
        self.files = files
        self.log = directory / "control.log"

    def config(self) -> str:
        return (
            f"Postfix {_version(['postconf', '-d', '-h', 'mail_version'])} (smtpd with STARTTLS, "
            f"`virtual_transport = lmtp` to Dovecot, queue fsyncs as shipped) → Dovecot "
            f"{_version(['dovecot', '--version'])} LMTP, Maildir, `mail_fsync = optimized` (default)"
        )

    def start(self) -> None:
        self.postfix_dir.mkdir(parents=True)
        (self.dir / "postfix-queue").mkdir()  # root's; `postfix start` makes its subdirectories
        (self.dir / "postfix-data").mkdir()
        shutil.chown(self.dir / "postfix-data", "postfix", "postfix")
        self.mail.mkdir()
        shutil.chown(self.mail, "mail", "mail")
        files = self.files
        values = {"dir": self.dir, "port": self.port, "lmtp_port": self.lmtp_port,
                  "cert": files["server.crt"], "key": files["server.key"], "ca": files["ca.crt"]}  # fmt: skip
        (self.postfix_dir / "main.cf").write_text(POSTFIX_MAIN.format(**values))
        (self.postfix_dir / "master.cf").write_text(POSTFIX_MASTER.format(**values))
        (self.dir / "dovecot.conf").write_text(DOVECOT_CONF.format(**values))
        # Readable by Postfix's unprivileged daemons (the key only by root, which reads it at start).
        self.dir.chmod(0o755)
        _run(["dovecot", "-c", str(self.dir / "dovecot.conf")], self.log)
        self.started.append("dovecot")
        _run(["postfix", "-c", str(self.postfix_dir), "start"], self.log)
        self.started.append("postfix")
        for port in (self.port, self.lmtp_port):
            _wait_listening(port)

    def delivered(self) -> int:
        count = 0
        with contextlib.suppress(FileNotFoundError):
            for user in os.scandir(self.mail):
                with contextlib.suppress(FileNotFoundError):
                    count += sum(1 for _ in os.scandir(os.path.join(user.path, "new")))
        return count

    def clear(self) -> None:
        """Empty the Maildirs between rounds (each round counts its own messages)."""
        for user in self.mail.iterdir():
            shutil.rmtree(user, ignore_errors=True)

    def pids(self) -> list[int]:
        found: list[int] = []
        for pid_file in (self.dir / "dovecot-run" / "master.pid", self.dir / "postfix-queue/pid/master.pid"):
            with contextlib.suppress(OSError, ValueError):
                found += inbound.process_tree(int(pid_file.read_text().split()[0]))
        return found

    def stop(self) -> None:
        pids = self.pids()
        if "postfix" in self.started:
            _run(["postfix", "-c", str(self.postfix_dir), "stop"], self.log, check=False)
        if "dovecot" in self.started:
            _run(["doveadm", "-c", str(self.dir / "dovecot.conf"), "stop"], self.log, check=False)
        _reap(pids)


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()[0]
    except (OSError, IndexError):
        return "?"


def _run(argv: list[str], log: Path, check: bool = True) -> None:
    """Run a control command; its output goes to a file, not a pipe: a daemon it starts keeps its standard
    output open, and reading a pipe to its end would wait for that daemon to exit."""
    with log.open("ab") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {log.read_text(errors='replace')[-800:]}")


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def _reap(pids: list[int], timeout: float = 10) -> None:
    """Wait for `pids` to exit; kill those still there (no process of ours is left behind)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- The platform ------------------------------------------------------------------------------------------


class Platform:
    def __init__(self, env: dict, files: dict[str, Path], workers: int, concurrency: int) -> None:
        self.env, self.files = env, files
        self.port = free_port()
        self.gateway: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_count, self.concurrency = workers, concurrency

    def config(self) -> str:
        return (
            "this platform: `run_smtp --processes 2` (mutual TLS, group commit) + "
            f"{self.worker_count} Celery worker(s) `-c {self.concurrency}`; production settings "
            "(DEBUG off, encryption at rest, synchronous commit, journal, S/MIME verification "
            "configured), ingest in batches (ADR 0022)"
        )

    def start(self) -> None:
        from django.conf import settings

        OUT.mkdir(parents=True, exist_ok=True)
        for n in range(self.worker_count):
            argv = [sys.executable, "-m", "celery", "-A", "mssante_web", "worker",
                    "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "--pool=prefork", "-c", str(self.concurrency),
                    "--without-heartbeat", "--without-gossip", "--without-mingle",
                    "-n", f"bench-vs-postfix-{n}-{os.getpid()}@localhost", "--loglevel=WARNING"]  # fmt: skip
            log = (OUT / f"vs_postfix_worker_{n}.log").open("ab")
            self.workers.append(
                subprocess.Popen(
                    argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )  # fmt: skip
            )
        self.gateway = inbound.start_gateway(self.port, self.files, self.env, 2, "vs_postfix_gateway.log")
        self._wait_workers()

    def _wait_workers(self, timeout: float = 90) -> None:
        from mssante_web.celery import app

        names = {f"bench-vs-postfix-{n}-{os.getpid()}@localhost" for n in range(self.worker_count)}
        deadline = time.monotonic() + timeout
        while names and time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.workers):
                raise RuntimeError(
                    "a Celery worker exited during start-up (bench/out/vs_postfix_worker_*.log)"
                )
            for reply in app.control.ping(destination=list(names), timeout=0.5) or []:
                names -= set(reply)
        if names:
            raise RuntimeError(f"workers {sorted(names)} did not answer within {timeout:.0f} s")

    def last_copy(self) -> int:
        from django.db.models import Max

        from apps.messaging.models import MessageCopy

        return MessageCopy.objects.aggregate(last=Max("pk"))["last"] or 0

    def delivered(self, after: int) -> int:
        """Copies made since the copy `after` (the last one before the round). Counted by primary key: a
        count over every copy the benchmark database ever received, ten times a second, weighed on the
        PostgreSQL the platform runs on (the peer's count is a directory listing)."""
        from apps.messaging.models import MessageCopy

        return MessageCopy.objects.filter(pk__gt=after, message__origin="smtp").count()

    def pending(self) -> int:
        from apps.gateway.models import InboundMessage

        return InboundMessage.objects.filter(state="received").count()

    def explain(self) -> None:
        """Why mail did not arrive: what is still spooled, and the end of the gateway's and workers' logs."""
        print(f"bench: {self.pending()} message(s) still spooled (state received)", file=sys.stderr)
        for log in [OUT / "vs_postfix_gateway.log", *sorted(OUT.glob("vs_postfix_worker_*.log"))]:
            print(f"bench: --- end of {log.name} ---\n{inbound.log_tail(log)}", file=sys.stderr)

    def pids(self) -> list[int]:
        return self.gateway_pids() + self.worker_pids()

    def gateway_pids(self) -> list[int]:
        return self._trees([self.gateway] if self.gateway is not None else [])

    def worker_pids(self) -> list[int]:
        return self._trees(self.workers)

    @staticmethod
    def _trees(processes: list[subprocess.Popen[bytes]]) -> list[int]:
        found = []
        for process in processes:
            with contextlib.suppress(OSError):
                found += inbound.process_tree(process.pid)
        return found

    def database_pids(self) -> list[int]:
        """The PostgreSQL backends serving the benchmark's database (readable when PostgreSQL runs on this
        machine): their CPU is the platform's too. Backends that exit during a round are not counted."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    def stop(self) -> None:
        pids = self.pids()
        for process in [p for p in [self.gateway, *self.workers] if p is not None]:
            with contextlib.suppress(ProcessLookupError):
                if process in self.workers:
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.terminate()
        for process in [p for p in [self.gateway, *self.workers] if p is not None]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        _reap(pids)


# --- Measuring ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    accepted_rate: float
    e2e_rate: float
    accepted: int
    delivered: int
    errors: int
    cpu_ms: float  # CPU of the side's own processes per message (not PostgreSQL's, not the client's)
    # The platform's split per message: gateway, workers, PostgreSQL backends (ms); empty for the peer.
    split: tuple[float, ...] = ()


def send_all(port: int, files: dict[str, Path], clients: int, total: int, to: list[str]) -> tuple:
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    start_at = time.time() + 0.5
    jobs = [(i, share[i], port, {k: str(v) for k, v in files.items()}, start_at, to) for i in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(inbound.client_run, jobs)
    accepted_at = time.time()
    return start_at, accepted_at, sum(r[0] for r in results), sum(len(r[2]) for r in results)


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(
    side: str, target: Peer | Platform, options: argparse.Namespace, files: dict, to: list[str]
) -> Result:
    from django.db import connections

    after = target.last_copy() if isinstance(target, Platform) else 0
    parts_before = _platform_cpu(target)
    connections.close_all()  # the clients are forked: no shared database socket
    pids = target.pids()
    cpu_before = cpu_of(pids)
    start_at, accepted_at, accepted, errors = send_all(
        target.port, files, options.clients, options.messages, to
    )
    deadline = time.monotonic() + options.timeout
    while time.monotonic() < deadline:
        done = target.delivered() if isinstance(target, Peer) else target.delivered(after)
        if done >= accepted:
            break
        time.sleep(0.1)
    finished = time.time()
    cpu = cpu_of(target.pids()) - cpu_before
    parts_after = _platform_cpu(target)
    split = tuple(
        (after - before) / max(accepted, 1) * 1000
        for before, after in zip(parts_before, parts_after, strict=True)
    )
    if done < accepted:
        print(
            f"bench: {side}: only {done} of {accepted} delivered within {options.timeout} s", file=sys.stderr
        )
        if isinstance(target, Platform):
            target.explain()
    return Result(
        accepted_rate=accepted / (accepted_at - start_at),
        e2e_rate=done / (finished - start_at),
        accepted=accepted,
        delivered=done,
        errors=errors,
        cpu_ms=cpu / max(accepted, 1) * 1000,
        split=split,
    )


def _platform_cpu(target: Peer | Platform) -> tuple[float, ...]:
    """CPU seconds so far of the platform's gateway, workers and database backends (per pid, summed)."""
    if not isinstance(target, Platform):
        return ()
    return (cpu_of(target.gateway_pids()), cpu_of(target.worker_pids()), _backend_cpu(target))


_BACKENDS: dict[int, float] = {}  # pid -> last CPU seen: a backend that exits keeps its last reading


def _backend_cpu(target: Platform) -> float:
    for pid in target.database_pids():
        seen = cpu_of([pid])
        if seen or pid not in _BACKENDS:
            _BACKENDS[pid] = seen
    return sum(_BACKENDS.values())


def bench_master_key() -> str:
    """The benchmark database's master key, made once: its BAL keys are wrapped under it, so another key on
    the next run could not open them. A benchmark key, never a production one."""
    path = DATA / "vs-postfix-master-key"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.write_text("bench:" + base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
        KEY_IS_NEW.append(path)
    return path.read_text().strip()


# A new key (a fresh clone) cannot open the BAL keys of a database left by an earlier clone on the same
# PostgreSQL: that database is dropped and made again (CI once waited for mail that could never be decrypted).
KEY_IS_NEW: list[Path] = []


def setup_environment(options: argparse.Namespace) -> dict:
    url = os.environ.get("BENCH_VS_POSTFIX_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9",
        "CELERY_QUEUE_PREFIX": os.environ.get("CELERY_QUEUE_PREFIX", "") + "bench-vs-postfix-",
        "SECRET_KEY": "bench-vs-postfix-not-a-secret-" + "x" * 20,
        "MASTER_KEY": bench_master_key(),
        "MESSAGE_STORE_DIR": str(DATA / ("vs-postfix-store-smoke" if options.smoke else "vs-postfix-store")),
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "DB_CONN_MAX_AGE": "60",
        "LISTE_BLANCHE_PROCESS_CACHE": "1",
        "GATEWAY_HOST": "127.0.0.1",
        # Production settings refuse to start without the product's X-MSS-NIL reference (issue 20).
        "MSS_NIL": os.environ.get("MSS_NIL") or "BENCH-NON-REFERENCE",
    }
    for test_or_dev in ("MSSANTE_TESTING", "MSSANTE_DEV", "DEBUG", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(test_or_dev, None)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return env


def report(
    options: argparse.Namespace, load: str, configs: list[str], rounds: dict, absent: str | None
) -> str:
    lines = [
        f"- Date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {load}; load average at the end "
        f"{os.getloadavg()[0]:.1f}",
        f"- Command: `.venv/bin/python bench/bench_vs_postfix.py --messages {options.messages} "
        f"--rounds {options.rounds}` ({options.clients} STARTTLS sessions, "
        f"{inbound.MESSAGE_BYTES // 1024} KB messages, {options.recipients} mailboxes, rounds interleaved)",
        *(f"- {config}" for config in configs),
    ]
    if absent:
        lines.append(f"- Peer not measured: {absent}")
    lines += [
        "",
        "| | accepted (250) | end to end | CPU of its processes per message |",
        "|---|---:|---:|---:|",
    ]
    med: dict[str, tuple[float, float]] = {}
    splits: list[str] = []
    for side, results in rounds.items():
        acc = statistics.median(r.accepted_rate for r in results)
        e2e = statistics.median(r.e2e_rate for r in results)
        cpu = statistics.median(r.cpu_ms for r in results)
        med[side] = (acc, e2e)
        each = ", ".join(f"{r.e2e_rate:.0f}" for r in results)
        lines.append(f"| {side} (median of {len(results)}; end to end per round: {each}) | {acc:.0f}/s | "
                     f"**{e2e:.0f}/s** | {cpu:.2f} ms |")  # fmt: skip
        if results[0].split:
            parts = [statistics.median(r.split[i] for r in results) for i in range(3)]
            splits.append(f"- CPU per message of the platform (median): gateway {parts[0]:.2f} ms, "
                          f"workers {parts[1]:.2f} ms, PostgreSQL backends of its database "
                          f"{parts[2]:.2f} ms, not in the column above")  # fmt: skip
    if splits:
        lines += ["", *splits]
    if "Postfix + Dovecot" in med and "platform" in med:
        (pa, pe), (ma, me) = med["Postfix + Dovecot"], med["platform"]
        lines += ["", f"Ratios platform / Postfix + Dovecot: accepted **{ma / pa:.2f}×**, end to end "
                      f"**{me / pe:.2f}×** (required: 0.9× and 1.0×; target 1.5× end to end)."]  # fmt: skip
    return "\n".join(lines)


def write_docs(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="platform only, 2 clients x 10 messages")
    parser.add_argument("--messages", type=int, default=5000, help="messages per side and round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per side, interleaved")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the last deposit")
    options = parser.parse_args()
    if options.smoke:
        options.messages, options.clients, options.rounds, options.recipients = 20, 2, 1, 2
        options.timeout = min(options.timeout, 120)  # fail with an explanation before run_all's limit
    env = setup_environment(options)
    absent = "smoke run: platform only" if options.smoke else peer_missing()
    if absent:
        print(f"bench: {absent}; measuring the platform alone", flush=True)
    DATA.mkdir(parents=True, exist_ok=True)
    ensure_database(env["DATABASE_URL"], env, recreate=bool(KEY_IS_NEW))
    files = inbound.prepare(DATA / "pki-smtp", options.recipients)
    to = inbound.recipients(options.recipients)
    load = machine()
    temp = Path(tempfile.mkdtemp(prefix="bench-vs-postfix-"))
    platform = Platform(env, files, options.workers, options.concurrency)
    peer = None if absent else Peer(temp, files)
    rounds: dict[str, list[Result]] = {"Postfix + Dovecot": [], "platform": []} if peer else {"platform": []}
    try:
        platform.start()
        if peer is not None:
            peer.start()
        for n in range(options.rounds):
            order = (
                [("Postfix + Dovecot", peer), ("platform", platform)] if peer else [("platform", platform)]
            )
            for side, target in order if n % 2 == 0 else list(reversed(order)):
                if isinstance(target, Peer):
                    target.clear()
                result = measure(side, target, options, files, to)
                rounds[side].append(result)
                print(f"bench: round {n + 1} {side}: accepted {result.accepted_rate:.0f}/s, end to end "
                      f"{result.e2e_rate:.0f}/s ({result.delivered}/{result.accepted}, {result.errors} "
                      "errors)", flush=True)  # fmt: skip
    finally:
        platform.stop()
        if peer is not None:
            peer.stop()
        shutil.rmtree(temp, ignore_errors=True)
    configs = [platform.config(), *([peer.config()] if peer else [])]
    text = report(options, load, configs, rounds, absent if not options.smoke else None)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vs_postfix.md").write_text(text + "\n")
    if not options.smoke:
        write_docs(text)
    ok = all(r.delivered == r.accepted == options.messages for results in rounds.values() for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
