"""Two instances of the platform on loopback exchange mail both ways through real SMTP with mutual TLS and
S/MIME signatures: operator A is this test process (its gateway in a thread, its test database), operator B
runs in subprocesses on its own database (tests/interop/operator_b.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from apps.gateway.server import GatewayServer
from apps.messaging.models import Delivery, DeliveryState, Message, MessageCopy
from apps.messaging.store import content
from tests.gateway import smime_certs
from tests.gateway.conftest import gateway_config, list_domain
from tests.gateway.operator_b import DOMAIN_B, SEED, SEND, OperatorB
from tests.messaging.helpers import send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("interop")]


@pytest.fixture
def smime_pki(tmp_path):
    ca = smime_certs.make_ca("AC TEST IGC-SANTE SIGNATURE")
    signer_a = smime_certs.issue(ca, "OPERATEUR A", "postmaster@demo.mssante.fr")
    signer_b = smime_certs.issue(ca, "OPERATEUR B", f"postmaster@{DOMAIN_B}")
    (tmp_path / "smime-ca.pem").write_bytes(ca.cert_pem())
    return {
        "ca": tmp_path / "smime-ca.pem",
        "a": signer_a.write(tmp_path, "smime-a"),
        "b": signer_b.write(tmp_path, "smime-b"),
    }


@pytest.fixture
def operator_b(pki, smime_pki, tmp_path, settings, eager_tasks) -> Iterator[tuple[OperatorB, GatewayServer]]:
    cert_b = pki.ca.issue_server("operator-b", "localhost", CN="mx.hopital-b.test", O="OPERATEUR B", C="FR")
    list_domain(DOMAIN_B, cert_b.dn)  # A's liste blanche knows B
    with GatewayServer(
        gateway_config(pki, data_size_limit=settings.MESSAGE_MAX_BYTES)
    ).running() as gateway_a:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        base = settings.DATABASES["default"]
        user, host = base.get("USER") or "postgres", base.get("HOST") or "127.0.0.1"
        url = f"postgres://{user}@{host}:{base.get('PORT') or 5432}"
        b = OperatorB(
            workdir=tmp_path / "operator-b",
            database_url=f"{url}/mssante_interop_b_{worker}",
            cert=cert_b.cert_path,
            key=cert_b.key_path,
            ca=pki.ca.cert_path,
            smime_cert=smime_pki["b"][0],
            smime_key=smime_pki["b"][1],
            smime_ca=smime_pki["ca"],
            routes=f"demo.mssante.fr=localhost:{gateway_a.port}",
        )
        b.workdir.mkdir()
        b.create_database()
        b.shell(SEED, PEER_DN=pki.server.dn)
        b.start_smtp()
        settings.GATEWAY_ROUTES = [f"{DOMAIN_B}=localhost:{b.port}"]
        settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
        settings.GATEWAY_CERT_FILE, settings.GATEWAY_KEY_FILE = (
            str(pki.server.cert_path),
            str(pki.server.key_path),
        )
        settings.SMIME_CERT_FILE, settings.SMIME_KEY_FILE = str(smime_pki["a"][0]), str(smime_pki["a"][1])
        settings.SMIME_CA_FILES = [str(smime_pki["ca"])]
        try:
            yield b, gateway_a
        finally:
            b.stop()
            b.drop_database()


def _wait(predicate, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_two_operators_exchange_signed_mail_both_ways_over_mutual_tls(operator_b, alice_bal, dr_alice):
    b, _gateway_a = operator_b
    # A -> B: Alice writes to Dr B; A's outbound signs and delivers to B's gateway over mutual TLS.
    message = send(
        alice_bal,
        dr_alice,
        [f"dr.b@{DOMAIN_B}"],
        subject="Avis demandé",
        text="Bonjour Bruno",
        read_receipt=True,
    )
    assert Delivery.objects.get(message=message).state == DeliveryState.DELIVERED
    report = _wait(lambda: (r := b.report())["copies"] and r)
    [received] = [c for c in report["copies"] if not c["outgoing"]]
    assert received["subject"] == "Avis demandé" and received["signature"] == "valid"
    # B -> A: Dr B answers; B signs and delivers to A's gateway (this process), which ingests and deposits.
    b.shell(SEND)
    copy = _wait(
        lambda: (
            MessageCopy.objects.filter(mailbox=alice_bal, message__sender_address=f"dr.b@{DOMAIN_B}")
            .select_related("message")
            .first()
        )
    )
    assert copy is not None, "B's answer never reached Alice"
    key = content.data_key_of_copy(copy)
    assert content.open_text(key, copy.message_id, "subject", copy.message.subject_enc) == "Réponse de B"
    assert copy.message.signature_state == "valid" and "OPERATEUR B" in copy.message.signature_signer
    assert Message.objects.filter(pk=copy.message_id, return_path=f"dr.b@{DOMAIN_B}").exists()
    assert b.report()["deliveries"][-1][1] == "delivered"
