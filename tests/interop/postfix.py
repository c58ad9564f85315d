"""A private Postfix playing another MSSanté operator, run from its own directory on free loopback ports.

Nothing of the system's Postfix is used but its programs: `postfix -c <dir>` reads main.cf and master.cf
from a temporary directory whose `queue_directory` and `data_directory` are under it too, so /etc/postfix is
neither read for the configuration nor written, the package's own service is never started and port 25 is
never opened. (`alternate_config_directories` only matters to the set-gid commands postdrop and postqueue,
which these tests do not use: mail enters Postfix over SMTP, and the master runs as root.)

Listeners (master.cf), all on 127.0.0.1:
- `operator_port`: what another operator's MX is — STARTTLS required, and a client certificate from the
  test CA required (`smtpd_tls_req_ccert = yes`); the platform delivers here.
- `submit_port`: plain SMTP from 127.0.0.0/8 only, where the tests hand Postfix the mail its users send.
Deliveries to the platform go out with Postfix's client certificate (`smtp_tls_security_level = verify`,
the platform's certificate checked against the test CA and the name `localhost`); one address is routed
through a second transport presenting a certificate the liste blanche does not list.
Local users get Maildirs under `<dir>/mail/<user>/`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from tests.plugins.throwaway import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
DAEMON_DIRECTORY = "/usr/lib/postfix/sbin"


def unavailable_reason() -> str | None:
    """Why a private Postfix cannot run here (one line), or None."""
    if not Path(POSTFIX).exists():
        return "postfix absent (bash scripts/ensure_postfix.sh l'installe avec apt, en root)"
    if os.geteuid() != 0:
        return "postfix demande root pour son processus maître"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "utilisateur système postfix absent (paquet postfix mal installé)"
    return None


@dataclass(frozen=True)
class PostfixIdentity:
    cert: Path  # server and client certificate (the same, as operators do), chain included
    key: Path
    ca: Path  # the trust-space CA (verifies the platform's certificates)
    unlisted_cert: Path  # a client certificate no liste blanche names
    unlisted_key: Path


class PrivatePostfix:
    def __init__(
        self,
        *,
        domain: str,
        users: list[str],
        identity: PostfixIdentity,
        platform_domains: list[str],
        platform_port: int,
        unlisted_recipient: str,
    ) -> None:
        # Postfix's unprivileged daemons must reach the queue, data and Maildirs: a world-traversable
        # directory of its own (pytest's tmp_path is private to root).
        self.root = Path(tempfile.mkdtemp(prefix="mssante-postfix-"))
        self.root.chmod(0o755)
        self.domain = domain
        self.users = users
        self.identity = self._copy_identity(identity)
        self.platform_domains = platform_domains
        self.platform_port = platform_port
        self.unlisted_recipient = unlisted_recipient
        self.operator_port = free_port()
        self.submit_port = free_port()
        self.config_dir = self.root / "etc"
        self.mail_dir = self.root / "mail"
        self.log_file = self.root / "maillog"
        self.master_pid_seen: int | None = None

    def _copy_identity(self, identity: PostfixIdentity) -> PostfixIdentity:
        tls = self.root / "tls"
        tls.mkdir()
        copies = {}
        for name in ("cert", "key", "ca", "unlisted_cert", "unlisted_key"):
            target = tls / f"{name}.pem"
            shutil.copyfile(getattr(identity, name), target)
            target.chmod(0o600 if name.endswith("key") else 0o644)
            copies[name] = target
        return PostfixIdentity(**copies)

    # --- configuration ---

    def _main_cf(self) -> str:
        postfix = pwd.getpwnam("postfix")
        boxes = ", ".join(f"{user}@{self.domain}={user}/" for user in self.users)
        routes = [f"{self.unlisted_recipient}=unlisted:[localhost]:{self.platform_port}"]
        routes += [f"{domain}=smtp:[localhost]:{self.platform_port}" for domain in self.platform_domains]
        return "\n".join(
            [
                "compatibility_level = 3.6",
                f"queue_directory = {self.root / 'queue'}",
                f"data_directory = {self.root / 'data'}",
                f"daemon_directory = {DAEMON_DIRECTORY}",
                "mail_owner = postfix",
                "setgid_group = postdrop",
                f"maillog_file = {self.log_file}",
                f"maillog_file_prefixes = {self.root}",
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                f"myhostname = mx.{self.domain}",
                f"mydomain = {self.domain}",
                "myorigin = $mydomain",
                "mydestination =",
                "mynetworks = 127.0.0.0/8",
                "local_recipient_maps =",
                "local_transport = error:pas de distribution locale",
                "alias_maps =",
                "alias_database =",
                "biff = no",
                "smtputf8_enable = no",
                "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
                f"virtual_mailbox_domains = {self.domain}",
                f"virtual_mailbox_base = {self.mail_dir}",
                f"virtual_mailbox_maps = inline:{{ {boxes} }}",
                f"virtual_uid_maps = static:{postfix.pw_uid}",
                f"virtual_gid_maps = static:{postfix.pw_gid}",
                f"transport_maps = inline:{{ {', '.join(routes)} }}",
                # Retries quickly, bounces only on a 5xx: the tests wait seconds, not minutes.
                "queue_run_delay = 2s",
                "minimal_backoff_time = 2s",
                "maximal_backoff_time = 4s",
                "delay_warning_time = 0",
                # Our side of TLS: the same certificate as server and client, the test CA trusted.
                f"smtpd_tls_chain_files = {self.identity.key}, {self.identity.cert}",
                f"smtpd_tls_CAfile = {self.identity.ca}",
                "smtpd_tls_security_level = may",
                "smtpd_tls_loglevel = 1",
                "smtpd_tls_received_header = yes",
                f"smtp_tls_chain_files = {self.identity.key}, {self.identity.cert}",
                f"smtp_tls_CAfile = {self.identity.ca}",
                "smtp_tls_security_level = verify",
                "smtp_tls_verify_cert_match = nexthop",
                "smtp_tls_loglevel = 1",
                "smtp_host_lookup = native",  # [localhost] from /etc/hosts: no DNS in the test
                "smtp_dns_support_level = disabled",
                "smtp_tls_session_cache_database =",
                "smtpd_tls_session_cache_database =",
            ]
        )

    def _master_cf(self) -> str:
        unlisted = f"-o smtp_tls_chain_files={self.identity.unlisted_key},{self.identity.unlisted_cert}"
        rows = [
            f"127.0.0.1:{self.operator_port} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt "
            "-o smtpd_tls_ask_ccert=yes -o smtpd_tls_req_ccert=yes",
            f"127.0.0.1:{self.submit_port} inet n - n - - smtpd -o smtpd_tls_security_level=none",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "proxywrite unix - - n - 1 proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            f"unlisted unix - - n - - smtp {unlisted}",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return "\n".join(rows) + "\n"

    # --- life cycle ---

    def _postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), *args], capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed: {result.stdout}{result.stderr}{self.log()}")
        return result

    def start(self) -> PrivatePostfix:
        for sub in ("etc", "queue", "data", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        postfix = pwd.getpwnam("postfix")
        for owned in (self.root / "data", self.mail_dir):
            os.chown(owned, postfix.pw_uid, postfix.pw_gid)
        (self.config_dir / "main.cf").write_text(self._main_cf() + "\n")
        (self.config_dir / "master.cf").write_text(self._master_cf())
        self._postfix("start")
        self.master_pid_seen = self.master_pid()
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), smtplib.SMTP("127.0.0.1", self.submit_port, timeout=2) as s:
                s.noop()
                return
            time.sleep(0.1)
        raise RuntimeError(f"the private postfix does not answer on {self.submit_port}: {self.log()}")

    def stop(self) -> None:
        """`postfix stop`, then make sure no process of this instance is left (its master's pid file)."""
        self._postfix("stop", check=False)
        pid_file = self.root / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._master_alive(pid_file):
            time.sleep(0.1)
        if self._master_alive(pid_file):
            self._postfix("abort", check=False)
        self.final_log = self.log()
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def _master_alive(cls, pid_file: Path) -> bool:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return cls.process_alive(pid)

    @staticmethod
    def process_alive(pid: int) -> bool:
        """Running, not merely a zombie waiting for an init that does not reap (containers)."""
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z"

    def master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        return None

    def __enter__(self) -> PrivatePostfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- use ---

    def submit(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """A Postfix-side user sends mail (handed to Postfix like a mail client would)."""
        with smtplib.SMTP("127.0.0.1", self.submit_port, timeout=20) as session:
            session.sendmail(sender, recipients, raw)

    def mailbox(self, user: str) -> list[EmailMessage]:
        new = self.mail_dir / user / "new"
        files = sorted(new.iterdir(), key=lambda p: p.stat().st_mtime) if new.is_dir() else []
        return [_parse(path.read_bytes()) for path in files]

    def raw_mailbox(self, user: str) -> list[bytes]:
        new = self.mail_dir / user / "new"
        return [path.read_bytes() for path in sorted(new.iterdir())] if new.is_dir() else []

    def log(self) -> str:
        if self.log_file.exists():
            return self.log_file.read_text(errors="replace")
        return getattr(self, "final_log", "")

    def wait_for_mail(self, user: str, count: int = 1, timeout: float = 60) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.mailbox(user)
            if len(messages) >= count:
                return messages
            time.sleep(0.2)
        found = len(self.mailbox(user))
        tail = self.log()[-3000:]
        raise AssertionError(f"{user}@{self.domain} has {found} message(s), not {count}: {tail}")


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message
