"""Revocation and the outbound certificate policy on the SMTP paths (issue 18, ADR 0018): a revoked inbound
client is refused after the handshake with 554 5.7.1 naming its serial and DN; a revoked remote server never
receives a message (deferred, administrators alerted); expired, wrong-usage and policy-less server
certificates are refused outbound with a named reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from apps.gateway.outbound import send_delivery
from apps.gateway.outbound_tls import CertificateRefused, CertificateRevoked
from apps.gateway.pki import subject
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.transports import TemporaryFailure
from apps.messaging.models import Delivery, DeliveryState
from apps.trust.models import SeenCertificate, TlsFailure
from apps.trust.services_crl import do_refresh_crls
from tests.gateway.conftest import PEER_DOMAIN, PEER_SUBJECT, list_domain, sample_message
from tests.gateway.remote_operator import RemoteOperator
from tests.messaging.helpers import send


def _load_crl(pki, tmp_path, settings) -> None:
    """Sign the test CA's CRL into a file listed in CRL_EXTRA_SOURCES and run the refresh job."""
    path = tmp_path / "ca.crl"
    path.write_bytes(pki.ca.crl())
    settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
    settings.CRL_EXTRA_SOURCES = [str(path)]
    assert [outcome.result for outcome in do_refresh_crls()] == ["stored"]


@pytest.mark.django_db(transaction=True)
def test_a_revoked_inbound_client_is_refused_with_554_naming_serial_and_dn(
    gateway, connect, pki, tmp_path, settings, alice_bal
):
    revoked = pki.ca.issue("revoked-peer", subject(**PEER_SUBJECT), server=True)
    pki.ca.revoke(revoked)
    _load_crl(pki, tmp_path, settings)

    session = connect(gateway.port, identity=revoked)  # the handshake itself succeeds
    code, text = session.mail(f"dr.voisin@{PEER_DOMAIN}")

    serial = format(revoked.certificate.serial_number, "X")
    assert code == 554
    reply = text.decode()
    assert reply.startswith("5.7.1 Le certificat presente") and "revoque" in reply
    assert f"numero de serie {serial}" in reply and "CN=mx.hopital-voisin.fr" in reply
    assert TlsFailure.objects.get().reason_code == "revoked"

    good = connect(gateway.port, identity=pki.peer)  # same DN, not revoked: accepted
    raw = sample_message(f"dr.voisin@{PEER_DOMAIN}", alice_bal.address)
    assert good.sendmail(f"dr.voisin@{PEER_DOMAIN}", [alice_bal.address], raw) == {}
    assert SeenCertificate.objects.filter(paths=["inbound"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_under_crl_hard_fail_an_inbound_client_without_a_fresh_crl_gets_a_4xx(
    gateway, connect, pki, settings, alice_bal
):
    settings.CRL_HARD_FAIL = True
    settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
    code, text = connect(gateway.port).mail(f"dr.voisin@{PEER_DOMAIN}")
    assert code == 451 and text.decode().startswith("4.7.0")


@pytest.fixture
def outbound(pki, settings):
    """Outbound settings and the gateway's transport; `serve(identity)` starts a remote with that cert."""
    list_domain(PEER_DOMAIN, pki.peer.dn)
    settings.GATEWAY_CA_FILES = [str(pki.ca.cert_path)]
    settings.GATEWAY_CERT_FILE = str(pki.server.cert_path)
    settings.GATEWAY_KEY_FILE = str(pki.server.key_path)
    settings.SMIME_SIGN_OUTBOUND = False
    yield settings


def _mx(pki, stem: str, **kwargs):
    return pki.ca.issue(
        stem, subject(**PEER_SUBJECT), server_names=("localhost", "127.0.0.1"), server=True, **kwargs
    )


def _deliver_to(identity, pki, settings, alice_bal, dr_alice):
    """Send one message to a remote presenting `identity`: the transport's own exception (its class is what
    the sender's timeline can name), then an attempt through the delivery pipeline (deferred)."""
    with RemoteOperator(identity, pki.ca.cert_path) as remote:
        settings.GATEWAY_ROUTES = [f"{PEER_DOMAIN}=localhost:{remote.port}"]
        message = send(
            alice_bal, dr_alice, [f"dr.voisin@{PEER_DOMAIN}"], subject="Avis", text="x", deliver=False
        )
        delivery = Delivery.objects.select_related("message").get(message=message)
        with pytest.raises(CertificateRefused) as caught:
            send_delivery(delivery)
        with pytest.raises(TemporaryFailure):
            do_deliver(delivery.pk)
        delivery.refresh_from_db()
        return caught.value, remote, delivery


@pytest.mark.django_db
def test_a_revoked_remote_server_never_receives_the_message_deferred_and_alerted(
    outbound, pki, tmp_path, settings, alice_bal, dr_alice, admin_olga
):
    mx = _mx(pki, "revoked-mx")
    pki.ca.revoke(mx)
    _load_crl(pki, tmp_path, settings)

    error, remote, delivery = _deliver_to(mx, pki, settings, alice_bal, dr_alice)

    assert isinstance(error, CertificateRevoked) and error.reason_code == "revoked"
    assert remote.received == []  # QUIT before MAIL FROM
    assert delivery.state == DeliveryState.QUEUED and "4.7.5" in delivery.error_text
    assert format(mx.certificate.serial_number, "X") in delivery.error_text
    [alert] = mail.outbox
    assert "révoqué" in alert.subject and "localhost" in alert.body
    failures = TlsFailure.objects.filter(direction="outbound", remote="localhost")
    assert {failure.reason_code for failure in failures} == {"revoked"} and failures.count() == 2  # 2 tries


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stem", "options", "code", "words"),
    [
        (
            "expired-mx",
            {"not_before": dt.datetime.now(dt.UTC) - dt.timedelta(days=400), "days": 30},
            "expired",
            "expiré",
        ),
        ("server-only-mx", {"client": False}, "wrong_usage", "1.3.6.1.5.5.7.3.2"),
        ("no-policy-mx", {"policy_oids": ()}, "policy", "politique de certification"),
    ],
)
def test_a_server_certificate_outside_the_outbound_policy_is_refused_with_its_reason(
    outbound, pki, settings, alice_bal, dr_alice, stem, options, code, words
):
    error, remote, delivery = _deliver_to(_mx(pki, stem, **options), pki, settings, alice_bal, dr_alice)
    assert type(error) is CertificateRefused and error.reason_code == code
    assert words in str(error) and words in delivery.error_text
    assert remote.received == []
