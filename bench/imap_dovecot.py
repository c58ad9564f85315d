"""Dovecot 2.3 side by side with our IMAP server (bench/bench_imap.py, issue 16). Not a benchmark script.

- `install()`: `apt-get install dovecot-imapd` when running as root and BENCH_NO_APT is unset, with a
  policy-rc.d that forbids starting the package's own service (and a stop at once if one runs anyway);
- `prepare_maildir()`: a Maildir of the same generated letters (bench/datasets/french.py, the seed and
  dates the inbox generator uses), written once per (version, size) and reused;
- `Instance`: a private Dovecot from its own config directory, on free loopback ports, TLS with the
  benchmark's certificate, static password, no FTS plugin; stopped (and checked gone) on exit.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

MAILDIR_VERSION = 1
DOVECOT = "/usr/sbin/dovecot"
IMAP_BINARY = "/usr/lib/dovecot/imap"  # dovecot-imapd (dovecot-core alone has no IMAP service)
POLICY = Path("/usr/sbin/policy-rc.d")


def install() -> str | None:
    """None when Dovecot is available, else the one-line reason it is not."""
    if Path(DOVECOT).exists() and Path(IMAP_BINARY).exists():
        return None
    if os.environ.get("BENCH_NO_APT"):
        return "Dovecot not installed and BENCH_NO_APT is set: side by side skipped"
    if os.geteuid() != 0:
        return "Dovecot not installed and not running as root (apt needs root): side by side skipped"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    made_policy = not POLICY.exists()
    if made_policy:  # the package's service must never start: invoke-rc.d asks this script first
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        if made_policy:
            POLICY.unlink(missing_ok=True)
    _stop_system_instance()
    if result.returncode != 0 or not Path(IMAP_BINARY).exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
        return f"apt-get install dovecot-imapd failed ({tail[0]}): side by side skipped"
    return None


def _stop_system_instance() -> None:
    """If the package's own service started despite policy-rc.d, stop it at once (its own pid file)."""
    pid_file = Path("/run/dovecot/master.pid")
    if pid_file.exists():
        subprocess.run([DOVECOT, "stop"], capture_output=True, timeout=30, check=False)


def version() -> str:
    result = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


# --- the Maildir -------------------------------------------------------------------------------------------


def maildir_root(count: int, scale: int) -> Path:
    base = Path(os.environ.get("BENCH_IMAP_MAILDIR_BASE", Path(__file__).resolve().parent.parent / "var"))
    return base / f"bench-imap-maildir-v{MAILDIR_VERSION}-{count}-of-{scale}"


def _message(index: int, size: int, letters, received_at, address: str, seed: int) -> bytes:  # noqa: ANN001
    letter = letters.letter(index)
    when: datetime = received_at(index, size)
    sender = letter.sender
    body = letter.body.replace("\n", "\r\n")
    head = (
        f"Return-Path: <{sender.address}>\r\n"
        f"From: {sender.name} <{sender.address}>\r\n"
        f"To: {address}\r\n"
        f"Subject: {letter.subject}\r\n"
        f"Date: {format_datetime(when - timedelta(seconds=20))}\r\n"
        f"Message-ID: <bench-{seed}-{index}@{sender.address.split('@')[1]}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + body + "\r\n").encode("utf-8")


def _write_chunk(job: tuple[int, int, int, str, str, int]) -> int:
    start, stop, size, root, address, seed = job
    import bench_inbox

    from bench.datasets.french import Correspondence

    letters = Correspondence(seed)
    cur = Path(root) / "cur"
    for index in range(start, stop):
        data = _message(index, size, letters, bench_inbox.received_at, address, seed)
        when = int(bench_inbox.received_at(index, size).timestamp())
        name = cur / f"{when}.M{index}P0.bench,S={len(data)}:2,S"
        with open(name, "wb") as handle:
            handle.write(data)
        os.utime(name, (when, when))
    return stop - start


def prepare_maildir(
    ranges: list[tuple[int, int]], scale: int, address: str, seed: int, processes: int
) -> tuple[Path, str]:
    """The Maildir of the letters whose generator indexes are in `ranges` (exactly the database's copies;
    `scale` is the size the generator dated them for), reused when complete; returns it and a report line."""
    count = sum(stop - start for start, stop in ranges)
    root = maildir_root(count, scale)
    done = root / ".complete"
    if done.exists():
        return root, f"Maildir reused ({count:,} files, version {MAILDIR_VERSION})"
    if root.exists():
        shutil.rmtree(root)
    for sub in ("cur", "new", "tmp"):
        (root / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    (root / "index").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs = []
    for start, stop in ranges:
        bounds = [start + (stop - start) * i // processes for i in range(processes + 1)]
        jobs += [
            (bounds[i], bounds[i + 1], scale, str(root / "Maildir"), address, seed) for i in range(processes)
        ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        sum(pool.imap_unordered(_write_chunk, jobs))
    done.write_text(f"{count}\n")
    return root, f"Maildir written: {count:,} files in {time.perf_counter() - started:.0f} s"


# --- a private instance ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CONFIG = """\
base_dir = {run}
state_dir = {state}
instance_name = mssante-bench-imap
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/Maildir:INDEX={root}/index:CONTROL={root}/index
mail_plugins =
maildir_very_dirty_syncs = yes
# The default 256 MB per process is not enough to index a million-message Maildir: the imap process died
# on the first SELECT at 1,000,000 messages (the client saw EOF).
default_vsz_limit = 4G
passdb {{
  driver = static
  args = password=bench
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


@contextlib.contextmanager
def instance(root: Path, cert: str, key: str) -> Iterator[int]:
    """A private Dovecot over `root`'s Maildir; yields its implicit-TLS port; nothing left running."""
    user = pwd.getpwnam("dovecot")
    for path in (
        root,
        root / "Maildir",
        root / "index",
        *(root / "Maildir" / s for s in ("cur", "new", "tmp")),
    ):
        os.chown(path, user.pw_uid, user.pw_gid)
    with tempfile.TemporaryDirectory(prefix="bench-dovecot-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - Dovecot's unprivileged processes read their config
        for sub in ("run", "state", "home"):
            (Path(tmp) / sub).mkdir()
        os.chown(Path(tmp) / "home", user.pw_uid, user.pw_gid)
        # Dovecot reads the key as root before dropping privileges: a copy in its own directory.
        shutil.copy(cert, Path(tmp) / "cert.pem")
        shutil.copy(key, Path(tmp) / "key.pem")
        port = free_port()
        conf = Path(tmp) / "dovecot.conf"
        conf.write_text(
            CONFIG.format(
                run=f"{tmp}/run", state=f"{tmp}/state", tmp=tmp, cert=f"{tmp}/cert.pem", key=f"{tmp}/key.pem",
                root=root, uid=user.pw_uid, gid=user.pw_gid, port=port,
            )
        )  # fmt: skip
        with open(Path(tmp) / "stderr.log", "wb") as stderr:
            process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (Path(tmp) / "dovecot.log").read_text(errors="replace")[-600:]
                    err = (Path(tmp) / "stderr.log").read_text(errors="replace")[-600:]
                    raise RuntimeError(f"Dovecot did not start: {err or log}")
                time.sleep(0.1)
            yield port
        finally:
            process.terminate()  # the master stops its children before it exits
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            _wait_children_gone(Path(tmp) / "run")


def _wait_children_gone(run: Path) -> None:
    """The master's pid file goes when it has stopped its processes; wait a little for it."""
    deadline = time.monotonic() + 10
    while (run / "master.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
