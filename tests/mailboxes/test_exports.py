"""The FHIR Patch publication shape of docs/mssante.md §3."""

from __future__ import annotations

import pytest

from apps.mailboxes.exports import (
    EMAIL_TYPE_URL,
    METADATA_URL,
    export_fhir_patch_parameters,
    patch_parameters,
)
from apps.mailboxes.services import Address, do_create_organisational_mailbox, do_set_liste_rouge
from tests.plugins.bals import DOMAIN

pytestmark = pytest.mark.django_db


def _metadata(contact_point: dict) -> dict:
    ext = next(e for e in contact_point["extension"] if e["url"] == METADATA_URL)
    return {
        one["url"]: one.get("valueBoolean", one.get("valueString", one.get("valueCodeableConcept")))
        for one in ext["extension"]
    }


def test_it_targets_the_practitioner_of_a_nominative_bal(alice_bal):
    bundle = export_fhir_patch_parameters([alice_bal])
    (entry,) = bundle["entry"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    assert entry["request"] == {
        "method": "PATCH",
        "url": "Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|810001234565",
    }
    (operation,) = entry["resource"]["parameter"]
    parts = {part["name"]: part for part in operation["part"]}
    assert parts["type"]["valueCode"] == "insert"
    assert parts["path"]["valueString"] == "Practitioner.telecom"
    contact = parts["value"]["valueContactPoint"]
    assert contact["system"] == "email" and contact["value"] == "alice.martin@demo.mssante.fr"
    email_type = next(e for e in contact["extension"] if e["url"] == EMAIL_TYPE_URL)
    assert email_type["valueCoding"]["code"] == "MSSANTE"
    metadata = _metadata(contact)
    assert metadata["type"]["coding"][0]["code"] == "PER" and metadata["listeRouge"] is False


def test_it_targets_the_organisation_by_finess_with_service_and_responsible(cardio_bal, chu):
    (entry,) = export_fhir_patch_parameters([cardio_bal])["entry"]
    assert entry["request"]["url"] == f"Organization?identifier=https://finess.esante.gouv.fr|{chu.finess}"
    contact = entry["resource"]["parameter"][0]["part"][-1]["valueContactPoint"]
    metadata = _metadata(contact)
    assert metadata["type"]["coding"][0]["code"] == "ORG"
    assert metadata["service"] == "Cardiologie" and metadata["responsible"] == "Alice Martin"
    assert metadata["description"] == "Secrétariat de cardiologie"


def test_it_uses_the_siret_when_there_is_no_finess(lab_bal, lab):
    mailbox, _token = lab_bal
    (entry,) = export_fhir_patch_parameters([mailbox])["entry"]
    assert entry["request"]["url"] == f"Organization?identifier=https://sirene.fr|{lab.siret}"


def test_it_carries_a_cabinet_bal_on_each_practitioner(dr_alice, alice_professional):
    mailbox = do_create_organisational_mailbox(
        address=Address("cabinet", DOMAIN),
        is_cabinet=True,
        practitioners=[alice_professional],
        responsible=dr_alice,
        head_agreement_by="Dr Martin",
        acting_user=None,
    )
    (entry,) = export_fhir_patch_parameters([mailbox])["entry"]
    assert entry["request"]["url"].startswith("Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|8100")
    assert (
        _metadata(entry["resource"]["parameter"][0]["part"][-1]["valueContactPoint"])["type"]["coding"][0][
            "code"
        ]
        == "CAB"
    )


def test_it_never_publishes_a_liste_rouge_bal(cardio_bal):
    hidden = do_set_liste_rouge(cardio_bal, liste_rouge=True, acting_user=None)
    assert export_fhir_patch_parameters([hidden])["entry"] == []


def test_it_writes_replace_and_delete_on_the_address(cardio_bal):
    replace = patch_parameters(cardio_bal, "Organization", "replace")["parameter"][0]["part"]
    delete = patch_parameters(cardio_bal, "Organization", "delete")["parameter"][0]["part"]
    where = "Organization.telecom.where(value='secretariat.cardio@demo.mssante.fr')"
    assert [p.get("valueString") for p in replace if p["name"] == "path"] == [where]
    assert delete == [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": where}]
