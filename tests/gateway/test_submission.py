"""SMTP submission: STARTTLS, AUTH with an application password or a PSC token, sender restricted to the
BALs the person may send from, recipients checked like the webmail, then the same submission service."""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from apps.accounts.app_passwords import do_create_app_password, do_revoke_app_password
from apps.gateway.submission import SubmissionConfig, SubmissionServer
from apps.mailboxes.services import Address, do_create_nominative_mailbox
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.models import Delivery, Message, MessageCopy, Origin
from tests.messaging.helpers import subject_of
from tests.psc.conftest import psc_doctor, psc_provider  # noqa: F401 (fixtures used by name below)


@pytest.fixture
def submission(transactional_db, pki) -> Iterator[SubmissionServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.server.cert_path), str(pki.server.key_path))
    config = SubmissionConfig(
        host="127.0.0.1",
        port=0,
        tls_context=context,
        hostname="smtp.demo.mssante.fr",
        data_size_limit=500_000,
    )
    with SubmissionServer(config).running() as server:
        yield server


def _client(pki, port: int) -> smtplib.SMTP:
    session = smtplib.SMTP("localhost", port, timeout=20)
    session.ehlo("poste-cabinet")
    session.starttls(context=ssl.create_default_context(cafile=str(pki.ca.cert_path)))
    session.ehlo("poste-cabinet")
    return session


MESSAGE = (
    b"From: Dr Alice Martin <alice.martin@demo.mssante.fr>\r\nTo: secretariat.cardio@demo.mssante.fr\r\n"
    b"Subject: =?utf-8?q?Demande_d=27avis_cardiologique?=\r\nMessage-ID: <client-1@poste-cabinet>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Bonjour, pouvez-vous voir M. X ?\r\n"
)


def test_it_refuses_auth_before_starttls(submission, dr_alice):
    session = smtplib.SMTP("localhost", submission.port, timeout=20)
    session.ehlo("x")
    code, _ = session.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0a\0b").decode())
    assert code in (530, 538)
    session.close()


def test_it_sends_with_an_application_password_through_the_same_service(
    submission, pki, dr_alice, alice_bal, cardio_bal
):
    _row, secret = do_create_app_password(dr_alice, label="Thunderbird")
    with _client(pki, submission.port) as session:
        session.login(dr_alice.email, secret)
        session.sendmail(alice_bal.address, [cardio_bal.address], MESSAGE)
    message = Message.objects.get(origin=Origin.SUBMISSION)
    assert message.from_mailbox == alice_bal and message.sent_by == dr_alice
    do_deliver(Delivery.objects.get(message=message).pk)
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    assert subject_of(copy) == "Demande d'avis cardiologique"


def test_a_wrong_or_revoked_password_is_refused(submission, pki, dr_alice, alice_bal):
    row, secret = do_create_app_password(dr_alice, label="Outlook")
    do_revoke_app_password(row, acting_user=dr_alice)
    with _client(pki, submission.port) as session:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            session.login(dr_alice.email, secret)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            session.login(dr_alice.email, "not-the-password")


def test_the_sender_must_be_a_bal_the_person_may_send_from(submission, pki, charlie, cardio_bal, alice_bal):
    _row, secret = do_create_app_password(charlie, label="Client")
    with _client(pki, submission.port) as session:
        session.login(charlie.email, secret)
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            session.sendmail(cardio_bal.address, [alice_bal.address], MESSAGE)
    assert caught.value.smtp_code == 550
    assert not Message.objects.exists()


def test_a_recipient_outside_the_liste_blanche_is_refused_at_rcpt(submission, pki, dr_alice, alice_bal):
    _row, secret = do_create_app_password(dr_alice, label="Client")
    with _client(pki, submission.port) as session:
        session.login(dr_alice.email, secret)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            session.sendmail(alice_bal.address, ["quelqu.un@gmail.com"], MESSAGE)
    code, text = caught.value.recipients["quelqu.un@gmail.com"]
    assert code == 550 and b"espace de confiance" in text


def test_a_secretary_sends_on_behalf_of_the_service(submission, pki, sec_bob, cardio_bal, alice_bal):
    _row, secret = do_create_app_password(sec_bob, label="Logiciel du secretariat")
    with _client(pki, submission.port) as session:
        session.login(sec_bob.email, secret)
        session.sendmail(cardio_bal.address, [alice_bal.address], MESSAGE)
    message = Message.objects.get(origin=Origin.SUBMISSION)
    assert message.from_mailbox == cardio_bal and message.sent_by == sec_bob


def _xoauth2(session: smtplib.SMTP, email: str, token: str) -> tuple[int, bytes]:
    blob = base64.b64encode(f"user={email}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    return session.docmd("AUTH", f"XOAUTH2 {blob}")


def test_xoauth2_with_a_pro_sante_connect_token(submission, pki, cardio_bal, request):
    provider = request.getfixturevalue("psc_provider")
    doctor = request.getfixturevalue("psc_doctor")
    mailbox = do_create_nominative_mailbox(
        owner=doctor, address=Address("dr.psc", "demo.mssante.fr"), acting_user=None
    )
    token = provider.issue_access_token()
    with _client(pki, submission.port) as session:
        assert _xoauth2(session, "someone.else@demo.mssante.fr", token)[0] == 535
    with _client(pki, submission.port) as session:
        assert _xoauth2(session, doctor.email, "forged-token")[0] == 535
    with _client(pki, submission.port) as session:
        code, _ = _xoauth2(session, doctor.email, token)
        assert code == 235
        session.sendmail(mailbox.address, [cardio_bal.address], MESSAGE)
    assert Message.objects.get(origin=Origin.SUBMISSION).sent_by == doctor


def test_repeated_auth_failures_are_refused_for_a_while_even_with_the_right_password(
    submission, pki, dr_alice, alice_bal, settings
):
    """SMTP submission counts failures with the platform's one limiter (apps.accounts.attempts)."""
    cache.clear()  # counters are per login: no leftover of another test of dr_alice
    settings.APP_PASSWORD_FAILED_RATE = "2/5m/key,50/5m/ip"
    _row, secret = do_create_app_password(dr_alice, label="Poste du cabinet")
    with _client(pki, submission.port) as session:
        assert _auth_plain(session, dr_alice.email, "pas-le-bon")[0] == 535
        assert _auth_plain(session, dr_alice.email, "pas-le-bon")[0] == 535
        code, text = _auth_plain(session, dr_alice.email, secret)
    assert code == 454 and b"Trop de tentatives" in text


def test_a_successful_auth_does_not_use_the_failure_budget(submission, pki, dr_alice, alice_bal, settings):
    cache.clear()
    settings.APP_PASSWORD_FAILED_RATE = "1/5m/key"
    _row, secret = do_create_app_password(dr_alice, label="Poste du cabinet")
    for _ in range(3):
        with _client(pki, submission.port) as session:
            assert _auth_plain(session, dr_alice.email, secret)[0] == 235


def _auth_plain(session: smtplib.SMTP, email: str, secret: str) -> tuple[int, bytes]:
    """One AUTH PLAIN exchange (smtplib's login() would try several mechanisms, each an attempt)."""
    return session.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{email}\0{secret}".encode()).decode())
