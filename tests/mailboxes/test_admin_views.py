"""Administration pages: scope of structure admins, creation, members over htmx, lifecycle, import, export."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox, MailboxMembership, MailboxStatus

pytestmark = pytest.mark.django_db


def test_it_shows_structure_admins_only_their_structures_bals(
    sam_client, cardio_bal, pharmacy_bal, alice_bal
):
    page = sam_client.get(reverse("mailboxes:admin-list")).content.decode()
    assert "secretariat.cardio@" in page
    assert "pharmacie.centre@" not in page and "alice.martin@" not in page


def test_it_lists_every_bal_to_operator_admins_in_bounded_queries(
    admin_client_olga, cardio_bal, pharmacy_bal, alice_bal, lab_bal, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        page = admin_client_olga.get(reverse("mailboxes:admin-list")).content.decode()
    for address in ("secretariat.cardio@", "pharmacie.centre@", "alice.martin@", "noreply-biologie@"):
        assert address in page
    filtered = admin_client_olga.get(
        reverse("mailboxes:admin-list"), {"kind": "applicative"}
    ).content.decode()
    assert "noreply-biologie@" in filtered and "alice.martin@" not in filtered


def test_it_lets_a_structure_admin_create_an_organisational_bal(sam_client, struct_admin_sam, chu, dr_alice):
    response = sam_client.post(
        reverse("mailboxes:admin-create", args=["organisationnelle"]),
        {
            "local_part": "Urgences.Cardio",
            "domain": "chu-demo.mssante.fr",
            "structure": chu.pk,
            "responsible": dr_alice.email,
            "head_agreement_by": "Directrice générale",
            "service": "Urgences",
        },
    )
    mailbox = Mailbox.objects.get(address="urgences.cardio@chu-demo.mssante.fr")
    assert response.status_code == 302
    assert response["Location"] == reverse("mailboxes:admin-detail", args=[mailbox.pk])
    assert mailbox.created_by == struct_admin_sam and mailbox.structure == chu


def test_it_shows_service_errors_on_the_form(sam_client, chu, sec_bob, cardio_bal):
    response = sam_client.post(
        reverse("mailboxes:admin-create", args=["organisationnelle"]),
        {
            "local_part": "secretariat.cardio",
            "domain": "demo.mssante.fr",
            "structure": chu.pk,
            "responsible": sec_bob.email,
            "head_agreement_by": "Directeur",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "ne peut pas être responsable" in unescape(page)


def test_it_hides_nominative_creation_from_structure_admins(sam_client):
    assert sam_client.get(reverse("mailboxes:admin-create", args=["nominative"])).status_code == 404


def test_it_adds_and_removes_a_member_over_htmx(sam_client, cardio_bal, charlie):
    url = reverse("mailboxes:member-add", args=[cardio_bal.pk])
    response = sam_client.post(url, {"user": charlie.email, "role": "read"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Charlie Petit" in response.content.decode()
    assert "<html" not in response.content.decode()
    membership = MailboxMembership.objects.get(mailbox=cardio_bal, user=charlie)
    remove = reverse("mailboxes:member-remove", args=[cardio_bal.pk, membership.pk])
    response = sam_client.post(remove, HTTP_HX_REQUEST="true")
    assert "n'est plus membre" in unescape(response.content.decode())
    assert not MailboxMembership.objects.filter(pk=membership.pk).exists()


def test_it_reports_an_unknown_member_email(sam_client, cardio_bal):
    url = reverse("mailboxes:member-add", args=[cardio_bal.pk])
    response = sam_client.post(url, {"user": "personne@example.test", "role": "read"}, HTTP_HX_REQUEST="true")
    assert "Aucun compte n'utilise l'adresse" in unescape(response.content.decode())


def test_it_suspends_reactivates_and_deletes(admin_client_olga, cardio_bal):
    admin_client_olga.post(reverse("mailboxes:admin-suspend", args=[cardio_bal.pk]), {"reason": "Audit"})
    cardio_bal.refresh_from_db()
    assert cardio_bal.status == MailboxStatus.SUSPENDED and cardio_bal.suspension_reason == "Audit"
    admin_client_olga.post(reverse("mailboxes:admin-reactivate", args=[cardio_bal.pk]))
    cardio_bal.refresh_from_db()
    assert cardio_bal.status == MailboxStatus.ACTIVE
    confirm = admin_client_olga.get(reverse("mailboxes:admin-delete", args=[cardio_bal.pk]))
    assert "Supprimer définitivement" in confirm.content.decode()
    admin_client_olga.post(reverse("mailboxes:admin-delete", args=[cardio_bal.pk]))
    assert not Mailbox.objects.filter(pk=cardio_bal.pk).exists()


def test_it_edits_without_touching_the_address(admin_client_olga, cardio_bal):
    admin_client_olga.post(
        reverse("mailboxes:admin-edit", args=[cardio_bal.pk]),
        {
            "display_name": "Cardiologie — secrétariat",
            "service": "Cardiologie",
            "head_agreement_by": "Directeur du CHU",
            "address": "pirate@demo.mssante.fr",
        },
    )
    cardio_bal.refresh_from_db()
    assert cardio_bal.display_name == "Cardiologie — secrétariat"
    assert cardio_bal.address == "secretariat.cardio@demo.mssante.fr"


def test_it_shows_a_new_credential_once(admin_client_olga, lab_bal):
    mailbox, _token = lab_bal
    response = admin_client_olga.post(
        reverse("mailboxes:credential-create", args=[mailbox.pk]), {"name": "LIMS"}
    )
    page = response.content.decode()
    assert "il ne sera plus jamais affiché" in unescape(page)
    detail = admin_client_olga.get(reverse("mailboxes:admin-detail", args=[mailbox.pk])).content.decode()
    prefix = mailbox.credentials.get(name="LIMS").prefix
    assert prefix in detail and prefix + "." not in detail


def test_it_imports_a_csv_with_a_report(admin_client_olga, chu, dr_alice, alice_professional):
    csv_text = (
        "type;adresse;titulaire;structure;responsable;accord;service\n"
        f"nominative;alice.m@demo.mssante.fr;{dr_alice.email};;;;\n"
        f"organisationnelle;accueil@demo.mssante.fr;;{chu.finess};{dr_alice.email};Directeur;Accueil\n"
        f"organisationnelle;bad@gmail.com;;{chu.finess};{dr_alice.email};Directeur;\n"
    )
    upload = SimpleUploadedFile("bal.csv", csv_text.encode(), content_type="text/csv")
    page = admin_client_olga.post(reverse("mailboxes:admin-import"), {"file": upload}).content.decode()
    assert "2 BAL créées, 1 ligne refusée" in page
    assert "gmail.com" in page and "n'est pas l'un des domaines" in unescape(page)


def test_it_exports_the_fhir_publication_and_journals_it(admin_client_olga, cardio_bal, alice_bal):
    response = admin_client_olga.get(reverse("mailboxes:admin-export"))
    bundle = json.loads(response.content)
    assert response["Content-Type"].startswith("application/fhir+json")
    assert {entry["request"]["url"].split("?")[0] for entry in bundle["entry"]} == {
        "Practitioner",
        "Organization",
    }
    assert AuditEvent.objects.get(action="mailbox.fhir_exported").details["count"] == 2


def test_it_toggles_liste_rouge(admin_client_olga, cardio_bal):
    admin_client_olga.post(reverse("mailboxes:admin-liste-rouge", args=[cardio_bal.pk]), {"liste_rouge": "1"})
    cardio_bal.refresh_from_db()
    assert cardio_bal.liste_rouge is True


def test_it_transfers_responsibility(admin_client_olga, cardio_bal, charlie):
    admin_client_olga.post(
        reverse("mailboxes:admin-transfer", args=[cardio_bal.pk]), {"responsible": charlie.email}
    )
    cardio_bal.refresh_from_db()
    assert cardio_bal.responsible == charlie
