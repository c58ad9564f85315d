"""The inbound gateway over real mutual TLS on loopback, smtplib playing the other operator.

What is refused where: no certificate / DN not listed / domain outside the liste blanche at MAIL FROM; a
certificate of another CA at the TLS handshake; unknown or suspended BAL, full quota, recipient policies,
relay at RCPT TO; size at MAIL FROM (SIZE=) and at the end of DATA. Accepted messages are spooled durably.
"""

from __future__ import annotations

import smtplib
import ssl
import time

import pytest

from apps.gateway.models import InboundMessage, SpoolState
from apps.gateway.server import GatewayServer
from apps.gateway.services import open_plaintext
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services import do_reactivate_mailbox, do_suspend_mailbox
from apps.messaging.recipient_policies import Refusal, register, unregister
from tests.gateway.conftest import OTHER_DOMAIN, PEER_DOMAIN, gateway_config, sample_message

pytestmark = pytest.mark.slow

SENDER = f"dr.voisin@{PEER_DOMAIN}"
ALICE = "alice.martin@demo.mssante.fr"


def send(session: smtplib.SMTP, sender: str, recipients: list[str], raw: bytes) -> dict:
    return session.sendmail(sender, recipients, raw)


def test_it_accepts_a_message_from_a_listed_peer_and_spools_it_encrypted(gateway, connect, alice_bal):
    session = connect(gateway.port)
    raw = sample_message(SENDER, ALICE)

    code, text = session.mail(SENDER)
    assert (code, text) == (250, b"2.1.0 Expediteur accepte")
    assert session.rcpt(ALICE) == (250, b"2.1.5 Destinataire accepte")
    code, text = session.data(raw)

    assert code == 250
    assert text.startswith(b"2.0.0 Message accepte et enregistre (id ")
    spool = InboundMessage.objects.get()
    assert str(spool.pk) in text.decode()
    assert spool.state == SpoolState.RECEIVED
    assert spool.envelope_sender == SENDER
    assert spool.recipients == [ALICE]
    assert "CN=mx.hopital-voisin.fr" in spool.peer_dn
    assert spool.tls_version in ("TLSv1.2", "TLSv1.3")
    # The row holds ciphertext only (small message: no blob); decrypted, it is the message with our
    # Received trace line on top.
    assert spool.blob == ""
    assert b"Compte rendu" not in bytes(spool.ciphertext)
    with open_plaintext(spool) as plaintext:
        stored = plaintext.read()
    assert stored.startswith(b"Received: from mx.hopital-voisin.fr ([127.0.0.1])\r\n\tby mx.demo.mssante.fr")
    assert stored.endswith(raw)
    assert spool.size == len(stored)


def test_it_accepts_over_implicit_tls_too(gateway, connect, alice_bal):
    session = connect(gateway.smtps_port, implicit=True)

    assert send(session, SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}
    assert InboundMessage.objects.count() == 1


def test_it_refuses_mail_from_without_a_client_certificate(gateway, connect, alice_bal):
    session = connect(gateway.port, identity=None)

    code, text = session.mail(SENDER)

    assert code == 530
    assert text.startswith(b"5.7.0 Certificat client requis")


def test_it_refuses_mail_before_starttls(gateway, alice_bal):
    session = smtplib.SMTP("localhost", gateway.port, timeout=10)
    session.ehlo("mx.hopital-voisin.fr")
    try:
        assert session.mail(SENDER)[0] == 530
    finally:
        session.close()


def test_it_refuses_a_certificate_from_another_ca_at_the_handshake(gateway, connect, pki, alice_bal):
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionResetError)):
        session = connect(gateway.port, identity=pki.foreign_peer)
        session.mail(SENDER)  # TLS 1.3 reports the client certificate's rejection on first use

    assert InboundMessage.objects.count() == 0


def test_it_refuses_a_dn_not_listed_for_the_sender_domain(gateway, connect, pki, alice_bal):
    # A certificate of our CA, listed in the liste blanche, but for another domain than the sender's.
    session = connect(gateway.port, identity=pki.other_operator)

    code, text = session.mail(SENDER)

    assert code == 550
    assert text.startswith(b"5.7.1 Le certificat presente (CN=mx.clinique-tierce.fr")
    assert f"pour le domaine {PEER_DOMAIN}".encode() in text


def test_it_accepts_the_other_operator_for_its_own_domain(gateway, connect, pki, alice_bal):
    session = connect(gateway.port, identity=pki.other_operator)

    assert session.mail(f"secretariat@{OTHER_DOMAIN}")[0] == 250


def test_it_refuses_a_domain_outside_the_liste_blanche(gateway, connect, alice_bal):
    session = connect(gateway.port)

    code, text = session.mail("someone@gmail.com")

    assert code == 550
    assert text == (
        b"5.7.1 Le domaine \"gmail.com\" n'appartient pas a l'espace de confiance MSSante : "
        b"aucun message ne peut en etre recu."
    )


def test_it_refuses_a_peer_sending_as_one_of_our_domains(gateway, connect, alice_bal):
    session = connect(gateway.port)

    assert session.mail("usurpateur@demo.mssante.fr")[0] == 550


def test_it_accepts_a_null_sender_from_a_listed_operator_and_refuses_it_otherwise(
    gateway, connect, pki, alice_bal
):
    assert connect(gateway.port).mail("<>")[0] == 250
    code, text = connect(gateway.port, identity=pki.unlisted).mail("<>")
    assert code == 550
    assert b"n'appartient a aucun operateur de la liste blanche" in text


def test_it_refuses_an_unknown_bal(gateway, connect, alice_bal):
    session = connect(gateway.port)
    session.mail(SENDER)

    code, text = session.rcpt("personne@demo.mssante.fr")

    assert code == 550
    assert (
        text
        == b"5.1.1 Adresse inconnue : aucune boite aux lettres personne@demo.mssante.fr chez cet operateur."
    )


def test_it_refuses_a_suspended_bal(gateway, connect, alice_bal):
    do_suspend_mailbox(alice_bal, reason="test", acting_user=None)
    session = connect(gateway.port)
    session.mail(SENDER)

    code, text = session.rcpt(ALICE)

    assert code == 550
    assert text.startswith(b"5.2.1 La boite aux lettres alice.martin@demo.mssante.fr est suspendue")


def test_it_refuses_a_full_bal(gateway, connect, alice_bal):
    Mailbox.objects.filter(pk=alice_bal.pk).update(quota_bytes=10_000, used_bytes=10_000)
    session = connect(gateway.port)
    session.mail(SENDER)

    code, text = session.rcpt(ALICE)

    assert code == 552
    assert text.startswith(b"5.2.2 La boite aux lettres alice.martin@demo.mssante.fr est pleine")


def test_it_refuses_at_rcpt_when_the_declared_size_exceeds_the_quota_left(gateway, connect, alice_bal):
    Mailbox.objects.filter(pk=alice_bal.pk).update(quota_bytes=10_000, used_bytes=5_000)
    session = connect(gateway.port)
    session.mail(SENDER, options=["SIZE=6000"])

    assert session.rcpt(ALICE)[0] == 552


def test_it_applies_the_registered_recipient_policies(gateway, connect, alice_bal):
    def refuse_alice(context):  # noqa: ANN001, ANN202
        if context.stage == "inbound" and context.recipient_address == ALICE:
            return Refusal("test_rule", "Règle de test : destinataire fermé.", 550, "5.7.1")
        return None

    register("test-gateway", refuse_alice)
    try:
        session = connect(gateway.port)
        session.mail(SENDER)
        code, text = session.rcpt(ALICE)
    finally:
        unregister("test-gateway")

    assert (code, text) == (550, b"5.7.1 Regle de test : destinataire ferme.")


def test_it_refuses_to_relay_to_a_domain_it_does_not_host(gateway, connect, alice_bal):
    session = connect(gateway.port)
    session.mail(SENDER)

    code, text = session.rcpt(f"collegue@{OTHER_DOMAIN}")

    assert code == 550
    assert (
        text
        == f"5.7.1 Relais refuse : le domaine {OTHER_DOMAIN} n'est pas heberge par cet operateur.".encode()
    )


def test_it_limits_recipients_per_message(gateway, connect, alice_bal):
    session = connect(gateway.port)
    session.mail(SENDER)
    for _ in range(5):
        assert session.rcpt(ALICE)[0] == 250  # a repeated recipient is accepted once

    assert session.rcpt(ALICE)[0] == 250
    assert session.data(sample_message(SENDER, ALICE))[0] == 250
    assert InboundMessage.objects.get().recipients == [ALICE]


def test_it_refuses_a_declared_size_over_the_limit_at_mail_from(gateway, connect, alice_bal):
    session = connect(gateway.port)

    code, text = session.mail(SENDER, options=["SIZE=200001"])

    assert code == 552
    assert text.startswith(b"5.3.4 Message trop volumineux")


def test_it_refuses_data_over_the_limit_and_stores_nothing(gateway, connect, alice_bal):
    session = connect(gateway.port)
    session.mail(SENDER)
    session.rcpt(ALICE)

    code, text = session.data(b"Subject: trop gros\r\n\r\n" + (b"B" * 998 + b"\r\n") * 210)

    assert code == 552
    assert (
        text == b"5.3.4 Message trop volumineux : la taille maximale acceptee par cet operateur est de "
        b"200000 octets."
    )
    assert InboundMessage.objects.count() == 0
    # The session stays usable: the next message goes through.
    assert send(session, SENDER, [ALICE], sample_message(SENDER, ALICE)) == {}


def test_it_offers_starttls_size_and_no_auth(gateway, alice_bal):
    session = smtplib.SMTP("localhost", gateway.port, timeout=10)
    try:
        session.ehlo("mx.hopital-voisin.fr")
        assert session.has_extn("starttls")
        assert session.esmtp_features["size"] == "200000"
        assert session.has_extn("enhancedstatuscodes")
        assert not session.has_extn("auth")  # operators authenticate by certificate only
    finally:
        session.close()


def test_it_reuses_an_accepted_recipient_for_a_bounded_time_and_never_a_refusal(
    liste_blanche, pki, connect, alice_bal, settings
):
    settings.GATEWAY_DECISION_REUSE_SECONDS = 0.5  # production: 1 s, with the liste blanche snapshot
    with GatewayServer(gateway_config(pki)).running() as gateway:
        session = connect(gateway.port)
        assert (session.mail(SENDER)[0], session.rcpt(ALICE)[0]) == (250, 250)
        session.rset()
        do_suspend_mailbox(alice_bal, reason="test", acting_user=None)

        # Within the window the acceptance stands (the deposit applies the BAL's state again)...
        assert (session.mail(SENDER)[0], session.rcpt(ALICE)[0]) == (250, 250)
        session.rset()
        time.sleep(0.6)
        # ...after it the suspension is seen; a refusal is never reused.
        assert (session.mail(SENDER)[0], session.rcpt(ALICE)[0]) == (250, 550)
        session.rset()
        do_reactivate_mailbox(alice_bal, acting_user=None)
        assert (session.mail(SENDER)[0], session.rcpt(ALICE)[0]) == (250, 250)


def test_an_accepted_recipient_is_reused_only_for_a_message_no_larger(
    liste_blanche, pki, connect, alice_bal, settings
):
    settings.GATEWAY_DECISION_REUSE_SECONDS = 30
    with GatewayServer(gateway_config(pki)).running() as gateway:
        session = connect(gateway.port)

        def rcpt_with_size(size: int) -> int:
            session.rset()
            assert session.mail(SENDER, options=[f"SIZE={size}"])[0] == 250
            return session.rcpt(ALICE)[0]

        assert rcpt_with_size(1000) == 250
        do_suspend_mailbox(alice_bal, reason="test", acting_user=None)
        # What was accepted for 1,000 bytes is for 500 (quota and size limits only refuse what is larger)...
        assert rcpt_with_size(500) == 250
        # ...a larger message is checked again, and meets the suspension.
        assert rcpt_with_size(2000) == 550
