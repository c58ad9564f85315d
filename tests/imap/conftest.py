"""A live IMAP server per test (real TLS, real PostgreSQL), real clients, and every byte it sent checked
with imapclient's response parser at teardown."""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from django.core.cache import cache

from apps.accounts.app_passwords import do_create_app_password
from apps.gateway.pki import CertificateAuthority, Issued
from apps.imap.server import ImapConfig, ImapServer, tls_context
from tests.imap.wire import check_stream


@dataclass(frozen=True)
class ImapPki:
    ca: CertificateAuthority
    server: Issued

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))


@pytest.fixture(scope="session")
def imap_pki(tmp_path_factory: pytest.TempPathFactory) -> ImapPki:
    root: Path = tmp_path_factory.mktemp("imap-pki")
    ca = CertificateAuthority(root / "ca")
    return ImapPki(ca, ca.issue_server("imap", "localhost", O="OPERATEUR TEST", C="FR"))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The login rate limiter counts in the cache (this run's Redis): each test starts clean; so do the
    IMAP process's own caches (kept folder lists, newest copies, envelopes)."""
    from apps.imap import access, envelopes, selecting

    cache.clear()
    access.clear(), selecting.clear(), envelopes.clear()
    yield
    cache.clear()
    access.clear(), selecting.clear(), envelopes.clear()


def imap_config(pki: ImapPki, **overrides: object) -> ImapConfig:
    config = ImapConfig(
        host="127.0.0.1",
        port=0,
        imaps_port=0,
        tls_context=tls_context(str(pki.server.cert_path), str(pki.server.key_path)),
        db_threads=2,
        shutdown_grace=10,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def imap_server(transactional_db, imap_pki: ImapPki, request) -> Iterator[ImapServer]:
    overrides = getattr(request, "param", {})
    server = ImapServer(imap_config(imap_pki, **overrides))
    server.trace = []
    with server.running():
        yield server
    check_stream(b"".join(server.trace))


@dataclass
class Connect:
    server: ImapServer
    pki: ImapPki

    def imaplib(self, *, implicit: bool = True) -> imaplib.IMAP4:
        if implicit:
            return imaplib.IMAP4_SSL(
                "localhost", self.server.imaps_port, ssl_context=self.pki.client_context(), timeout=20
            )
        client = imaplib.IMAP4("localhost", self.server.port, timeout=20)
        client.starttls(self.pki.client_context())
        return client

    def raw(self) -> Wire:
        sock = socket.create_connection(("127.0.0.1", self.server.imaps_port), timeout=20)
        return Wire(self.pki.client_context().wrap_socket(sock, server_hostname="localhost"))


@pytest.fixture
def connect(imap_server: ImapServer, imap_pki: ImapPki) -> Connect:
    return Connect(imap_server, imap_pki)


class Wire:
    """A bare client for what imaplib hides (exact tagged/untagged order, unsolicited BYE)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.greeting = self.line()

    def line(self, timeout: float = 20) -> bytes:
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buffer)
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, tag: str, text: str) -> list[bytes]:
        """Send `tag text`, return every line up to and including the tagged one."""
        self.send(f"{tag} {text}\r\n".encode())
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    def closed(self, timeout: float = 5) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()


def app_password(user, label: str = "Thunderbird du cabinet") -> str:
    return do_create_app_password(user, label=label)[1]


async def idle_session(
    port: int, pki: ImapPki, user, secret: str, folder: str = "INBOX", *, timeout: float = 60
) -> tuple[object, object]:
    """An aioimaplib client logged in, `folder` selected, in IDLE: (client, the IDLE command's future)."""
    import aioimaplib

    client = aioimaplib.IMAP4_SSL("localhost", port, ssl_context=pki.client_context())
    await client.wait_hello_from_server()
    assert (await client.login(user.email, secret)).result == "OK"
    assert (await client.select(folder)).result == "OK"
    return client, await client.idle_start(timeout=timeout)
