"""SMTP submission's temporary failures (issue 17 point 6): each 4xx in French, like the gateway's, never a
5xx for an outage of ours (the mail client keeps the message and retries)."""

from __future__ import annotations

import smtplib

import pytest

from apps.accounts.app_passwords import do_create_app_password
from apps.gateway import submission as submission_module
from apps.gateway import submission_parse
from apps.gateway.replies import TEMPORARY_AUTH_FAILURE, TEMPORARY_FAILURE
from apps.messaging.models import Message
from tests.gateway.test_submission import MESSAGE, _client, submission  # noqa: F401 (fixture by name)

FRENCH_451 = str(TEMPORARY_FAILURE).encode().split(b" ", 2)[2]


def _down(*args: object) -> None:
    raise ConnectionError("database went away")


def test_auth_while_the_database_is_down_gets_454_in_french(submission, pki, dr_alice, monkeypatch):  # noqa: F811
    monkeypatch.setattr(submission_module, "check_app_password", _down)
    with _client(pki, submission.port) as session, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        session.login(dr_alice.email, "un-mot-de-passe")
    assert refused.value.smtp_code == 454
    assert refused.value.smtp_error == str(TEMPORARY_AUTH_FAILURE).split(" ", 1)[1].encode()
    assert b"temporairement impossible" in refused.value.smtp_error


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_an_outage_during_a_command_gets_451_in_french(
    submission,  # noqa: F811
    pki,
    dr_alice,
    alice_bal,
    cardio_bal,
    monkeypatch,
    stage,
):
    patched = {
        "MAIL": (submission_parse, "check_sender_mailbox"),
        "RCPT": (submission_parse, "check_submission_recipient"),
        "DATA": (submission_module, "submit_raw"),
    }[stage]
    monkeypatch.setattr(*patched, _down)
    _row, secret = do_create_app_password(dr_alice, label="Thunderbird")
    with _client(pki, submission.port) as session:
        session.login(dr_alice.email, secret)
        code, text = session.mail(alice_bal.address)
        if stage != "MAIL":
            assert code == 250
            code, text = session.rcpt(cardio_bal.address)
        if stage == "DATA":
            assert code == 250
            code, text = session.data(MESSAGE)
    assert (code, text) == (451, b"4.3.0 " + FRENCH_451)
    assert not Message.objects.exists()
