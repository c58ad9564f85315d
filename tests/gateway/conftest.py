"""Fixtures of the gateway tests: a test PKI (our CA, another CA), a listed peer operator, a running gateway.

The gateway serves from a thread of the test process and does its database work in threads of its own, so
the tests that talk to it use `transactional_db`: its threads only see committed rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.gateway.pki import CertificateAuthority, Issued, subject
from apps.gateway.server import GatewayConfig, GatewayServer
from apps.gateway.tls import server_context
from apps.trust.dn import normalise_dn
from apps.trust.models import OperatorCertificateDN, TrustedDomain

PEER_DOMAIN = "hopital-voisin.fr"
PEER_SUBJECT = {
    "CN": "mx.hopital-voisin.fr",
    "OU": "318310021300028",
    "O": "GIP HOPITAL VOISIN",
    "ST": "Haute-Garonne (31)",
    "C": "FR",
}
OTHER_DOMAIN = "clinique-tierce.fr"
OTHER_SUBJECT = {"CN": "mx.clinique-tierce.fr", "OU": "1690000034", "O": "CLINIQUE TIERCE", "C": "FR"}


@dataclass(frozen=True)
class TestPki:
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server: Issued
    peer: Issued  # listed in the liste blanche for PEER_DOMAIN
    other_operator: Issued  # listed for OTHER_DOMAIN only
    unlisted: Issued  # our CA, a DN nobody lists
    foreign_peer: Issued  # PEER_SUBJECT, but issued by the other CA


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    root: Path = tmp_path_factory.mktemp("gateway-pki")
    ca = CertificateAuthority(root / "ca")
    other_ca = CertificateAuthority(root / "other-ca", name="AC ETRANGERE A L'ESPACE DE CONFIANCE")
    return TestPki(
        ca=ca,
        other_ca=other_ca,
        server=ca.issue_server("server", "localhost", O="OPERATEUR TEST", C="FR"),
        peer=ca.issue("peer", subject(**PEER_SUBJECT), server=True),
        other_operator=ca.issue("other", subject(**OTHER_SUBJECT), server=True),
        unlisted=ca.issue("unlisted", subject(CN="mx.inconnu.fr", O="INCONNU", C="FR")),
        foreign_peer=other_ca.issue("foreign", subject(**PEER_SUBJECT), server=True),
    )


def list_domain(name: str, dn: str) -> TrustedDomain:
    domain = TrustedDomain.objects.create(name=name, name_unicode=name)
    OperatorCertificateDN.objects.create(domain=domain, dn=dn, dn_normalised=normalise_dn(dn))
    return domain


@pytest.fixture
def liste_blanche(transactional_db, pki: TestPki) -> None:
    """PEER_DOMAIN listed with the peer's DN (as ANS prints it), OTHER_DOMAIN with the other operator's."""
    list_domain(PEER_DOMAIN, pki.peer.dn)
    list_domain(OTHER_DOMAIN, pki.other_operator.dn)


def gateway_config(pki: TestPki, **overrides: object) -> GatewayConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "smtps_port": 0,
        "tls_context": server_context(pki.server.cert_path, pki.server.key_path, [pki.ca.cert_path]),
        "hostname": "mx.demo.mssante.fr",
        "data_size_limit": 200_000,
        "db_threads": 2,
        "max_recipients": 5,
        "timeout": 30,
    }
    values.update(overrides)
    return GatewayConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def gateway(transactional_db, pki: TestPki, liste_blanche) -> Iterator[GatewayServer]:
    with GatewayServer(gateway_config(pki)).running() as server:
        yield server


def client_context(pki: TestPki, identity: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    if identity is not None:
        context.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    return context


Connect = Callable[..., smtplib.SMTP]


@pytest.fixture
def connect(pki: TestPki) -> Iterator[Connect]:
    """`connect(port, identity=pki.peer, implicit=False)`: an smtplib session after EHLO and (STARTTLS)."""
    sessions: list[smtplib.SMTP] = []

    def make(port: int, identity: Issued | None = pki.peer, *, implicit: bool = False) -> smtplib.SMTP:
        context = client_context(pki, identity)
        if implicit:
            session: smtplib.SMTP = smtplib.SMTP_SSL("localhost", port, context=context, timeout=20)
        else:
            session = smtplib.SMTP("localhost", port, timeout=20)
        sessions.append(session)
        session.ehlo("mx.hopital-voisin.fr")
        if not implicit:
            session.starttls(context=context)
            session.ehlo("mx.hopital-voisin.fr")
        return session

    yield make
    for session in sessions:
        with contextlib.suppress(OSError):
            session.close()


def sample_message(
    sender: str, recipient: str, *, body: str = "Bonjour,\r\nCompte rendu ci-joint.\r\n"
) -> bytes:
    digest = hashlib.sha256((sender + recipient + body).encode()).hexdigest()[:24]
    return (
        f"From: Dr Voisin <{sender}>\r\nTo: <{recipient}>\r\nSubject: Compte rendu\r\n"
        f"Message-ID: <test-{digest}@hopital-voisin.fr>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + body.encode()
