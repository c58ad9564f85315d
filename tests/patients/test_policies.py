"""The MSS-C rules of apps.patients.policies, one test per rule (docs/mssante.md §0 and §5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.policies import closes_exchange as closes_thread
from apps.messaging.policies import is_fin_header, is_fin_subject
from apps.messaging.recipient_policies import RecipientContext, registered
from apps.messaging.store.folders import system_folder
from apps.patients.policies import check_patient_rules, refusal_from_remote_dsn
from apps.patients.services import do_close_profile
from tests.patients.conftest import PAUL_ADDRESS, stored_message

ALICE = "alice.martin@demo.mssante.fr"
CHARLIE = "charlie.petit@demo.mssante.fr"
UNKNOWN_PATIENT = "269022A00400188@patient.mssante.fr".lower()


# --- [FIN] ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "closes"),
    [
        ("[FIN]", True),
        ("Re: Résultats [FIN]", True),
        ("[FIN] Re: Résultats", True),
        ("Résultats[FIN]suite", True),
        ("Re: Résultats [fin]", False),
        ("Re: Résultats [Fin]", False),
        ("Re: Résultats FIN", False),
        ("Re: Résultats (FIN)", False),
        ("", False),
    ],
)
def test_it_detects_fin_only_in_capitals_with_brackets(subject, closes):
    assert is_fin_subject(subject) is closes


@given(st.text(), st.text())
def test_it_closes_whenever_the_subject_contains_fin(before, after):
    assert is_fin_subject(before + "[FIN]" + after)


@given(st.text().filter(lambda text: "[FIN]" not in text))
def test_it_never_closes_without_the_exact_marker(subject):
    assert not is_fin_subject(subject)


def test_it_closes_with_the_x_mss_mes_header():
    assert is_fin_header({"X-MSS-MES": "FIN"}) and is_fin_header({"x-mss-mes": " fin "})
    assert not is_fin_header({"X-MSS-MES": "MESSAGE"}) and not is_fin_header({})
    assert closes_thread("Résultats", {"X-MSS-MES": "FIN"}) and not closes_thread("Résultats", {})


def test_it_is_registered_into_messaging_at_start_up():
    assert "patients" in registered()


# --- a professional writes to a patient ---------------------------------------------------------------------
def _to_patient(recipient: str = PAUL_ADDRESS, **extra) -> RecipientContext:
    return RecipientContext(sender_address=ALICE, recipient_address=recipient, **extra)


def test_it_lets_a_professional_start_a_thread_with_an_activated_patient(paul_profile):
    assert check_patient_rules(_to_patient()) is None


def test_it_delivers_to_an_open_profile_not_yet_activated(open_paul_profile):
    assert check_patient_rules(_to_patient()) is None


def test_it_returns_a_message_to_a_closed_profile(paul_profile):
    do_close_profile(paul_profile, acting_user=None)
    refusal = check_patient_rules(_to_patient())
    assert refusal.code == "patient_closed" and "messagerie fermée" in refusal.message


def test_it_returns_a_message_to_an_unknown_ins(db):
    refusal = check_patient_rules(_to_patient(UNKNOWN_PATIENT))
    assert refusal.code == "patient_not_found" and "patient non trouvé" in refusal.message


@pytest.mark.parametrize(
    "address",
    ["279035121518988@patient.mssante.fr", "paul@patient.mssante.fr", "27903512151898@patient.mssante.fr"],
)
def test_it_returns_a_message_to_an_invalid_address(db, address):
    refusal = check_patient_rules(_to_patient(address))
    assert refusal.code == "patient_invalid_address" and "adresse invalide" in refusal.message


def test_it_returns_a_message_over_25_mb(paul_profile):
    assert check_patient_rules(_to_patient(size=25 * 1024 * 1024)) is None
    refusal = check_patient_rules(_to_patient(size=25 * 1024 * 1024 + 1))
    assert refusal.code == "patient_too_large" and "25 Mo" in refusal.message and refusal.smtp_code == 552


def test_it_leaves_profiles_of_a_remote_patient_domain_to_that_domain(db, settings):
    settings.PATIENT_DOMAIN_HOSTED = False
    assert check_patient_rules(_to_patient(UNKNOWN_PATIENT)) is None
    assert check_patient_rules(_to_patient("123@patient.mssante.fr")).code == "patient_invalid_address"


def test_it_ignores_messages_between_professionals(db):
    assert check_patient_rules(RecipientContext(sender_address=ALICE, recipient_address=CHARLIE)) is None


def test_it_maps_the_remote_patient_domain_dsns_to_the_same_returns():
    assert refusal_from_remote_dsn(PAUL_ADDRESS, "5.1.1", "Patient non trouve").code == "patient_not_found"
    assert refusal_from_remote_dsn(PAUL_ADDRESS, "5.2.1", "Messagerie fermee").code == "patient_closed"
    assert refusal_from_remote_dsn(PAUL_ADDRESS, "5.3.4", "message too large").code == "patient_too_large"
    assert refusal_from_remote_dsn(ALICE, "5.1.1", "unknown") is None


# --- a patient writes -------------------------------------------------------------------------------------
def _from_paul(profile, recipient: str = ALICE, reply_to=None, **extra) -> RecipientContext:
    return RecipientContext(
        sender_address=profile.address,
        recipient_address=recipient,
        sender_mailbox=profile.mailbox,
        sender_user=profile.user,
        in_reply_to=reply_to.message_id if reply_to else "",
        references=tuple(reply_to.references.split()) if reply_to else (),
        **extra,
    )


def test_it_refuses_a_patient_starting_a_thread_with_a_professional(paul_profile, alice_bal):
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address))
    assert refusal.code == "patient_cannot_initiate"


def test_it_refuses_a_reply_naming_an_unknown_message(paul_profile, alice_bal):
    context = _from_paul(paul_profile, recipient=alice_bal.address)
    context.in_reply_to = "<forged@demo.mssante.fr>"
    assert check_patient_rules(context).code == "patient_cannot_initiate"


def test_it_lets_a_patient_reply_in_a_thread_a_professional_started(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    assert check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=letter)) is None


def test_it_lets_a_patient_reply_deeper_in_the_thread(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    reply = stored_message(PAUL_ADDRESS, [alice_bal.address], in_reply_to=letter)
    again = stored_message(alice_bal.address, [PAUL_ADDRESS], in_reply_to=reply, from_mailbox=alice_bal)
    assert check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=again)) is None


def test_it_refuses_a_reply_to_someone_outside_the_thread(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=CHARLIE, reply_to=letter))
    assert refusal.code == "patient_cannot_initiate"


def test_it_refuses_a_thread_the_patient_started_with_a_professional(paul_profile, alice_bal):
    own = stored_message(PAUL_ADDRESS, [alice_bal.address])
    assert check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=own)).code == (
        "patient_cannot_initiate"
    )


def test_it_refuses_a_reply_to_the_fin_message(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    fin = stored_message(
        alice_bal.address, [PAUL_ADDRESS], in_reply_to=letter, is_fin=True, from_mailbox=alice_bal
    )
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=fin))
    assert (
        refusal.code == "patient_thread_closed" and "Échange clôturé par le professionnel" in refusal.message
    )


def test_it_refuses_a_reply_to_an_older_message_of_a_closed_thread(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    stored_message(alice_bal.address, [PAUL_ADDRESS], in_reply_to=letter, is_fin=True, from_mailbox=alice_bal)
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=letter))
    assert refusal.code == "patient_thread_closed"


def test_it_finds_the_fin_in_the_patients_own_inbox(paul_profile, alice_bal):
    # The [FIN] came from another BAL of the thread's professional (no from_mailbox here): the inbox knows it.
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    fin = stored_message(alice_bal.address, [PAUL_ADDRESS], in_reply_to=letter, is_fin=True)
    MessageCopy.objects.create(
        mailbox=paul_profile.mailbox,
        message=fin,
        folder=system_folder(paul_profile.mailbox_id, FolderRole.INBOX),
        data_key_wrap=b"-",
    )
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=CHARLIE, reply_to=letter))
    assert refusal.code == "patient_cannot_initiate"
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=letter))
    assert refusal.code == "patient_thread_closed"


def test_it_does_not_let_a_patient_close_a_thread(paul_profile, alice_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    own_fin = stored_message(PAUL_ADDRESS, [alice_bal.address], in_reply_to=letter, is_fin=True)
    assert (
        check_patient_rules(_from_paul(paul_profile, recipient=alice_bal.address, reply_to=own_fin)) is None
    )


def test_it_lets_an_activated_patient_write_first_to_a_pharmacy(paul_profile, pharmacy_bal):
    assert pharmacy_bal.is_officine
    assert check_patient_rules(_from_paul(paul_profile, recipient=pharmacy_bal.address)) is None


def test_it_does_not_extend_the_pharmacy_exception_to_other_organisational_bals(paul_profile, cardio_bal):
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=cardio_bal.address))
    assert refusal.code == "patient_cannot_initiate"


def test_it_lets_an_open_profile_receive_but_not_reply(open_paul_profile, alice_bal, pharmacy_bal):
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    for context in (
        _from_paul(open_paul_profile, recipient=alice_bal.address, reply_to=letter),
        _from_paul(open_paul_profile, recipient=pharmacy_bal.address),
    ):
        assert check_patient_rules(context).code == "patient_not_activated"


def test_it_refuses_everything_from_a_closed_profile(paul_profile, pharmacy_bal):
    do_close_profile(paul_profile, acting_user=None)
    paul_profile.refresh_from_db()
    assert check_patient_rules(_from_paul(paul_profile, recipient=pharmacy_bal.address)).code == (
        "patient_sender_closed"
    )


def test_it_refuses_a_patient_writing_to_a_patient(paul_profile):
    refusal = check_patient_rules(_from_paul(paul_profile, recipient=UNKNOWN_PATIENT))
    assert refusal.code == "patient_to_patient"


def test_it_refuses_a_patient_message_over_25_mb_even_to_a_pharmacy(paul_profile, pharmacy_bal):
    context = _from_paul(paul_profile, recipient=pharmacy_bal.address, size=26 * 1024 * 1024)
    assert check_patient_rules(context).code == "patient_too_large"


def test_it_checks_a_remote_patient_replying_over_smtp_against_our_stored_thread(db, settings, alice_bal):
    settings.PATIENT_DOMAIN_HOSTED = False
    letter = stored_message(alice_bal.address, [PAUL_ADDRESS], from_mailbox=alice_bal)
    context = RecipientContext(
        sender_address=PAUL_ADDRESS,
        recipient_address=alice_bal.address,
        recipient_mailbox=alice_bal,
        in_reply_to=letter.message_id,
        stage="inbound",
    )
    assert check_patient_rules(context) is None
    stored_message(alice_bal.address, [PAUL_ADDRESS], in_reply_to=letter, is_fin=True, from_mailbox=alice_bal)
    assert check_patient_rules(context).code == "patient_thread_closed"
    context.in_reply_to, context.stage = "", "deposit"
    assert check_patient_rules(context).code == "patient_cannot_initiate"


def test_it_leaves_the_thread_rule_to_the_deposit_when_smtp_has_no_headers_yet(db, settings, alice_bal):
    # At RCPT TO the gateway knows only the envelope; the deposit stage sees In-Reply-To and decides.
    settings.PATIENT_DOMAIN_HOSTED = False
    at_rcpt = RecipientContext(
        sender_address=PAUL_ADDRESS,
        recipient_address=alice_bal.address,
        recipient_mailbox=alice_bal,
        stage="inbound",
    )
    assert check_patient_rules(at_rcpt) is None
    at_rcpt.recipient_address = UNKNOWN_PATIENT
    assert check_patient_rules(at_rcpt).code == "patient_to_patient"
