"""The personal signature: prefilled from the Annuaire Santé on the preferences page, editable, added once to
new messages, replies and forwards, with the service's line when written from a service's BAL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.annuaire.models import ExercisePlace
from apps.audit.models import AuditEvent
from apps.messaging.compose.selectors import annuaire_signature, signature_for, with_signature
from apps.messaging.compose.services import DraftContent
from apps.messaging.models import Draft
from tests.messaging.test_compose_views import _received, compose_url, fields, save_url

pytestmark = pytest.mark.django_db

PREFERENCES = "messaging:preferences"


@pytest.fixture
def alice_at_the_chu(alice_professional, chu):
    chu.address_street = "1 rue de la Santé"
    chu.postcode, chu.town = "75014", "PARIS"
    chu.save()
    alice_professional.civility = "DR"
    alice_professional.savoir_faire_label = "Cardiologie et maladies vasculaires"
    alice_professional.save()
    ExercisePlace.objects.create(professional=alice_professional, structure=chu, role_code="FON-01")
    return alice_professional


def _body(client, mailbox, query: str = "") -> str:  # noqa: ANN001
    return client.get(compose_url(mailbox, query)).context["form"].initial["body"]


def test_the_annuaire_gives_name_profession_structure_and_address(dr_alice, alice_at_the_chu):
    assert annuaire_signature(dr_alice) == (
        "Dr Alice Martin\nCardiologie et maladies vasculaires\nCHU DE DEMONSTRATION\n"
        "1 rue de la Santé\n75014 PARIS"
    )


def test_the_preferences_page_shows_it_prefilled_and_saves_an_edited_one(
    alice_client, dr_alice, alice_bal, alice_at_the_chu
):
    page = alice_client.get(reverse(PREFERENCES)).content.decode()
    assert "Dr Alice Martin\nCardiologie et maladies vasculaires\nCHU DE DEMONSTRATION" in page
    assert "vient de l&#x27;Annuaire Santé" in page or "vient de l'Annuaire Santé" in page

    own = "Dr Alice Martin\nCardiologue\nTél. 01 23 45 67 89"
    response = alice_client.post(reverse(PREFERENCES), {"action": "signature", "signature": own})
    assert response.status_code == 302
    dr_alice.refresh_from_db()
    assert dr_alice.mail_signature == own
    assert AuditEvent.objects.filter(action="account.signature_changed", target_id=str(dr_alice.pk)).exists()
    body = _body(alice_client, alice_bal)
    assert body == f"\n\n-- \n{own}\n{alice_bal.address}\n"

    alice_client.post(reverse(PREFERENCES), {"action": "signature-annuaire"})  # back to the annuaire's
    dr_alice.refresh_from_db()
    assert dr_alice.mail_signature is None
    assert "CHU DE DEMONSTRATION" in _body(alice_client, alice_bal)


def test_saving_the_annuaire_text_unchanged_keeps_following_it(alice_client, dr_alice, alice_at_the_chu):
    text = annuaire_signature(dr_alice)
    alice_client.post(reverse(PREFERENCES), {"action": "signature", "signature": text})
    dr_alice.refresh_from_db()
    assert dr_alice.mail_signature is None


def test_an_empty_signature_means_no_signature(alice_client, dr_alice, alice_bal):
    alice_client.post(reverse(PREFERENCES), {"action": "signature", "signature": ""})
    dr_alice.refresh_from_db()
    assert dr_alice.mail_signature == ""
    assert _body(alice_client, alice_bal) == ""


def test_a_service_bal_adds_the_service_line_under_the_persons_own(sec_bob, cardio_bal):
    sec_bob.mail_signature = "Bob Leroy\nSecrétaire médical"
    assert signature_for(cardio_bal, sec_bob) == (
        "-- \nBob Leroy\nSecrétaire médical\nSecrétariat de cardiologie — CHU DE DEMONSTRATION\n"
        "secretariat.cardio@demo.mssante.fr"
    )


def test_it_is_not_added_twice_but_a_quoted_or_forwarded_one_does_not_count(dr_alice, alice_bal):
    signature = signature_for(alice_bal, dr_alice)
    once = with_signature(DraftContent(body=""), signature).body
    assert with_signature(DraftContent(body=once), signature).body == once
    quoted = "\n".join("> " + line for line in once.strip().splitlines())
    reply = with_signature(DraftContent(body=f"\n\nLe 5 déc., Alice a écrit :\n{quoted}\n"), signature).body
    assert reply.count("Alice Martin") == 2 and reply.index(signature) < reply.index("> -- ")


def test_a_reopened_draft_keeps_its_single_signature(alice_client, alice_bal, cardio_bal, dr_alice):
    body = _body(alice_client, alice_bal)
    alice_client.post(save_url(alice_bal), fields(to=cardio_bal.address, body="Bonjour," + body))
    draft = Draft.objects.get()
    reopened = _body(alice_client, alice_bal, f"?draft={draft.pk}")
    assert reopened.count("-- \n") == 1


def test_a_patient_cannot_set_a_signature(patient_paul):
    from tests.plugins.personas import _client_for

    paul_client = _client_for(patient_paul)
    response = paul_client.post(reverse(PREFERENCES), {"action": "signature", "signature": "x"})
    assert response.status_code == 403


def test_a_reply_is_signed_above_the_quote(bob_client, dr_alice, alice_bal, cardio_bal):
    original = _received(alice_bal, cardio_bal, dr_alice, subject="Avis", text="Question")
    reply = _body(bob_client, cardio_bal, f"?reply={original.pk}")
    assert reply.count("-- \n") == 1 and reply.index("-- \nBob Leroy") < reply.index("> Question")
