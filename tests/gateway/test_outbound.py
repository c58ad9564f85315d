"""Outbound delivery to another operator: STARTTLS with our client certificate, remote verified, 4xx retried,
5xx bounced with the remote's reason, each delivery sent once."""

from __future__ import annotations

import hashlib

import pytest

from apps.gateway.outbound import send_delivery
from apps.gateway.pki import subject
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.transports import TemporaryFailure
from apps.messaging.models import Delivery, DeliveryState, FolderRole, MessageCopy
from tests.gateway.conftest import PEER_DOMAIN, PEER_SUBJECT, list_domain
from tests.gateway.remote_operator import RemoteOperator
from tests.messaging.helpers import body_of, send

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def peer_mx(pki):
    """The neighbour's MX certificate: its listed DN, and the host name we connect to (localhost)."""
    return pki.ca.issue(
        "peer-mx", subject(**PEER_SUBJECT), server_names=("localhost", "127.0.0.1"), server=True
    )


@pytest.fixture(scope="session")
def foreign_mx(pki):
    return pki.other_ca.issue(
        "foreign-mx", subject(**PEER_SUBJECT), server_names=("localhost", "127.0.0.1"), server=True
    )


@pytest.fixture
def remote(pki, peer_mx, settings):
    list_domain(PEER_DOMAIN, pki.peer.dn)
    with RemoteOperator(peer_mx, pki.ca.cert_path) as operator:
        settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{operator.port}"]
        settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
        settings.GATEWAY_CERT_FILE = str(pki.server.cert_path)
        settings.GATEWAY_KEY_FILE = str(pki.server.key_path)
        yield operator


def _only_delivery(message):
    return Delivery.objects.get(message=message)


def test_it_delivers_over_mutual_tls_the_exact_bytes_it_stored(remote, alice_bal, dr_alice, pki, settings):
    settings.SMIME_SIGN_OUTBOUND = False
    message = send(alice_bal, dr_alice, [f"dr.voisin@{PEER_DOMAIN}"], subject="Avis", text="Bonjour")
    delivery = _only_delivery(message)
    assert delivery.state == DeliveryState.DELIVERED and not delivery.is_local
    [got] = remote.received
    assert got.recipients == [f"dr.voisin@{PEER_DOMAIN}"] and got.sender == alice_bal.address
    assert hashlib.sha256(got.data).hexdigest() == message.sha256
    assert "OPERATEUR TEST" in got.peer_subject  # our client certificate was presented


def test_a_5xx_bounces_with_the_remote_reason(remote, alice_bal, dr_alice):
    message = send(alice_bal, dr_alice, [f"refuse-perm@{PEER_DOMAIN}"], subject="Bilan", text="x")
    delivery = _only_delivery(message)
    assert delivery.state == DeliveryState.FAILED
    assert "550" in delivery.remote_detail and "User unknown" in delivery.remote_detail
    bounce = MessageCopy.objects.get(mailbox=alice_bal, folder__role=FolderRole.INBOX)
    assert f"refuse-perm@{PEER_DOMAIN}" in body_of(bounce)
    assert remote.received == []


def test_a_4xx_is_retried_later_not_bounced(remote, alice_bal, dr_alice):
    message = send(alice_bal, dr_alice, [f"refuse-temp@{PEER_DOMAIN}"], subject="x", text="y", deliver=False)
    delivery = _only_delivery(message)
    with pytest.raises(TemporaryFailure):
        do_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.QUEUED and delivery.attempts == 1
    assert delivery.next_attempt_at > delivery.state_changed_at and "451" in delivery.error_text
    assert not MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX).exists()


def test_a_remote_with_a_certificate_of_another_ca_is_not_trusted(
    pki, foreign_mx, settings, alice_bal, dr_alice
):
    list_domain(PEER_DOMAIN, pki.peer.dn)
    with RemoteOperator(foreign_mx, pki.ca.cert_path) as operator:
        settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{operator.port}"]
        settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
        settings.GATEWAY_CERT_FILE = str(pki.server.cert_path)
        settings.GATEWAY_KEY_FILE = str(pki.server.key_path)
        message = send(alice_bal, dr_alice, [f"x@{PEER_DOMAIN}"], subject="x", text="y", deliver=False)
        delivery = _only_delivery(message)
        delivery.state = DeliveryState.SENDING
        with pytest.raises(TemporaryFailure):
            send_delivery(Delivery.objects.select_related("message").get(pk=delivery.pk))
        assert operator.received == []


def test_it_signs_outgoing_mail_with_the_operators_smime_certificate(
    remote, alice_bal, dr_alice, settings, tmp_path
):
    from email import policy
    from email.parser import BytesParser

    from apps.gateway import smime
    from tests.gateway import smime_certs

    ca = smime_certs.make_ca()
    signer = smime_certs.issue(ca, "OPERATEUR DEMO", "postmaster@demo.mssante.fr")
    cert_path, key_path = signer.write(tmp_path, "signer")
    (tmp_path / "smime-ca.crt").write_bytes(ca.cert_pem())
    settings.SMIME_CERT_FILE, settings.SMIME_KEY_FILE = str(cert_path), str(key_path)
    send(alice_bal, dr_alice, [f"dr.voisin@{PEER_DOMAIN}"], subject="Résultats signés", text="Bonjour")
    [got] = remote.received
    check = smime.verify_message(got.data, smime.TrustStore.from_bundles(ca.cert_pem()))
    assert check.state == smime.SignatureState.VALID, check.reason
    inner = BytesParser(policy=policy.default).parsebytes(check.content or b"")
    assert inner["Subject"] == "Résultats signés"


def test_it_encrypts_to_a_correspondent_whose_certificate_it_learnt(
    remote, alice_bal, dr_alice, settings, tmp_path
):
    import io

    from apps.gateway import smime
    from apps.gateway.models import PeerCertificate
    from apps.messaging.delivery.inbound import do_receive_message
    from tests.gateway import smime_certs

    ca = smime_certs.make_ca()
    voisin = smime_certs.issue(ca, "Dr Voisin", f"dr.voisin@{PEER_DOMAIN}")
    (tmp_path / "smime-ca.crt").write_bytes(ca.cert_pem())
    settings.SMIME_CA_FILES = [str(tmp_path / "smime-ca.crt")]
    letter = (
        f"From: <dr.voisin@{PEER_DOMAIN}>\r\nTo: {alice_bal.address}\r\nSubject: Bonjour\r\n"
        f"Message-ID: <signed-1@{PEER_DOMAIN}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\n\r\nHello\r\n"
    ).encode()
    signed = smime.sign_message(letter, smime.Credentials.from_pem(voisin.cert_pem(), voisin.key_pem()))
    do_receive_message(
        raw=io.BytesIO(signed), envelope_sender=f"dr.voisin@{PEER_DOMAIN}", recipients=[alice_bal.address]
    )
    assert PeerCertificate.objects.filter(address=f"dr.voisin@{PEER_DOMAIN}").exists()

    send(alice_bal, dr_alice, [f"dr.voisin@{PEER_DOMAIN}"], subject="Réponse chiffrée", text="Confidentiel")
    [got] = remote.received
    assert smime.smime_kind(got.data) == smime.SmimeKind.ENCRYPTED and b"Confidentiel" not in got.data
    opened = smime.open_message(
        got.data,
        smime.TrustStore.from_bundles(ca.cert_pem()),
        [smime.Credentials.from_pem(voisin.cert_pem(), voisin.key_pem())],
    )
    assert opened.encrypted and b"Confidentiel" in opened.message
