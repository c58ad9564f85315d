"""Fixtures of the interop tests: a private Postfix as the neighbouring operator (tests/interop/postfix.py)
and this process as the platform (its gateway in a thread, tasks run in-process).

The Postfix instance is shared by the tests of a module (it takes a few seconds to start); the platform's
gateway is started per test on the port Postfix was configured to relay to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.gateway.pki import CertificateAuthority, Issued, subject
from apps.gateway.server import GatewayConfig, GatewayServer
from tests.gateway.conftest import list_domain
from tests.interop.postfix import PostfixIdentity, PrivatePostfix, unavailable_reason
from tests.plugins.throwaway import free_port

POSTFIX_DOMAIN = "postfix-voisin.test"
POSTFIX_MX = f"mx.{POSTFIX_DOMAIN}"
POSTFIX_USERS = ["dr.postfix", "dr.lecteur", "dr.rebond", "dr.refus"]
UNLISTED_RECIPIENT = "certificat-non-liste@demo.mssante.fr"


@dataclass(frozen=True)
class InteropPki:
    ca: CertificateAuthority
    platform: Issued  # our gateway's TLS certificate (server and client), name localhost
    signer: Issued  # our S/MIME signing certificate (emailProtection)
    postfix: Issued  # the neighbour's MX certificate, listed for POSTFIX_DOMAIN
    unlisted: Issued  # a certificate of the same CA that no liste blanche names


@pytest.fixture(scope="session")
def interop_pki(tmp_path_factory: pytest.TempPathFactory) -> InteropPki:
    root: Path = tmp_path_factory.mktemp("interop-pki")
    ca = CertificateAuthority(root)
    return InteropPki(
        ca=ca,
        platform=ca.issue_server("platform", "localhost", O="OPERATEUR TEST", C="FR"),
        signer=ca.issue_signing("signer", subject(CN="Signature OPERATEUR TEST", O="OPERATEUR TEST", C="FR")),
        postfix=ca.issue(
            "postfix",
            subject(CN=POSTFIX_MX, OU="1690000099", O="CLINIQUE POSTFIX", ST="Rhone (69)", C="FR"),
            server_names=(POSTFIX_MX, "localhost"),
            server=True,
        ),
        unlisted=ca.issue("unlisted", subject(CN="mx.inconnu.test", O="INCONNU", C="FR")),
    )


@pytest.fixture(scope="module")
def postfix(interop_pki: InteropPki) -> Iterator[PrivatePostfix]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"interop Postfix ignoré : {reason}")
    instance = PrivatePostfix(
        domain=POSTFIX_DOMAIN,
        users=POSTFIX_USERS,
        identity=PostfixIdentity(
            cert=interop_pki.postfix.cert_path,
            key=interop_pki.postfix.key_path,
            ca=interop_pki.ca.cert_path,
            unlisted_cert=interop_pki.unlisted.cert_path,
            unlisted_key=interop_pki.unlisted.key_path,
        ),
        platform_domains=["demo.mssante.fr", "chu-demo.mssante.fr"],
        platform_port=free_port(),
        unlisted_recipient=UNLISTED_RECIPIENT,
    )
    with instance:
        yield instance
    pid = instance.master_pid_seen
    assert pid is not None and not instance.process_alive(pid), "the private Postfix left its master running"


@pytest.fixture
def platform(postfix, interop_pki, settings, eager_tasks) -> Iterator[GatewayServer]:
    """This process as the platform: Postfix's domain in the liste blanche, routes to Postfix's operator
    listener by name with a separate address (checked against the name), our certificates, X-MSS-NIL."""
    list_domain(POSTFIX_DOMAIN, interop_pki.postfix.dn)
    settings.GATEWAY_ROUTES = [f"{POSTFIX_DOMAIN}={POSTFIX_MX}:{postfix.operator_port}@127.0.0.1"]
    settings.GATEWAY_CA_FILES = [str(interop_pki.ca.cert_path)]
    settings.GATEWAY_CERT_FILE = str(interop_pki.platform.cert_path)
    settings.GATEWAY_KEY_FILE = str(interop_pki.platform.key_path)
    settings.SMIME_CERT_FILE = str(interop_pki.signer.cert_path)
    settings.SMIME_KEY_FILE = str(interop_pki.signer.key_path)
    settings.MSS_NIL = "TEST-INTEROP-NIL"
    from apps.gateway.tls import server_context

    context = server_context(
        interop_pki.platform.cert_path, interop_pki.platform.key_path, [interop_pki.ca.cert_path]
    )
    config = GatewayConfig(
        host="127.0.0.1",
        port=postfix.platform_port,
        smtps_port=None,
        tls_context=context,
        hostname="mx.demo.mssante.fr",
        data_size_limit=settings.MESSAGE_MAX_BYTES,
        db_threads=2,
        max_recipients=10,
        timeout=30,
    )
    with GatewayServer(config).running() as server:
        yield server
