"""The MSS-C rules at each entry point, not only through the portal: SMTP RCPT, SMTP submission, the
applicative API's submission and the deposit all meet the same registered policy."""

from __future__ import annotations

from apps.gateway.policies import check_inbound_recipient
from apps.gateway.submission_parse import check_submission_recipient
from apps.messaging.delivery.submit import Outgoing, do_submit_message
from apps.messaging.models import Origin
from apps.patients.services import do_close_profile
from tests.patients.conftest import PAUL_ADDRESS

REMOTE_DOCTOR = "dr.durand@autre-operateur.mssante.fr"


def test_it_refuses_a_closed_profile_at_smtp_rcpt_with_the_cause(paul_profile):
    assert check_inbound_recipient(REMOTE_DOCTOR, PAUL_ADDRESS).refusal is None
    do_close_profile(paul_profile, acting_user=None)
    refusal = check_inbound_recipient(REMOTE_DOCTOR, PAUL_ADDRESS).refusal
    assert refusal.startswith("550 5.2.1") and "messagerie fermee" in refusal


def test_it_refuses_an_oversized_message_to_a_patient_at_smtp_rcpt(paul_profile):
    refusal = check_inbound_recipient(REMOTE_DOCTOR, PAUL_ADDRESS, size=26 * 1024 * 1024).refusal
    assert refusal is not None and refusal.startswith("552")


def test_it_refuses_a_patient_starting_a_thread_through_smtp_submission(
    paul_profile, alice_bal, pharmacy_bal
):
    user = paul_profile.user
    refusal = check_submission_recipient(user, paul_profile.address, alice_bal.address)
    assert refusal is not None and refusal.code == "patient_cannot_initiate"
    assert check_submission_recipient(user, paul_profile.address, pharmacy_bal.address) is None


def test_it_lets_an_applicative_bal_write_to_a_patient_through_the_api(paul_profile, lab_bal):
    mailbox, _token = lab_bal
    message = do_submit_message(
        Outgoing(
            mailbox=mailbox,
            to=[PAUL_ADDRESS],
            subject="Vos résultats",
            text="...",
            origin=Origin.API,
            hold=True,
        ),
        acting_user=None,
    )
    assert message.deliveries.get().recipient == PAUL_ADDRESS
