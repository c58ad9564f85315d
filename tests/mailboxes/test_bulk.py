"""CSV bulk creation: valid lines created, rejected lines reported with their number and a French reason."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.mailboxes.bulk import do_bulk_create_from_csv
from apps.mailboxes.models import Mailbox
from apps.mailboxes.services_members import check_credential

pytestmark = pytest.mark.django_db


def test_it_creates_valid_lines_and_reports_the_others(
    admin_olga, dr_alice, alice_professional, chu, lab, sec_bob
):
    text = "\n".join(
        [
            "Type,Adresse,Titulaire,Structure,Responsable,Accord,Praticiens,Nom,Service,Officine,Liste_rouge",
            f"nominative,alice.m@demo.mssante.fr,{dr_alice.national_id},,,,,,,,",
            f"organisationnelle,accueil@demo.mssante.fr,,{chu.finess},{dr_alice.email},Directeur,,Accueil,Accueil,,oui",
            f"cabinet,cabinet.martin@demo.mssante.fr,,,{dr_alice.email},Dr Martin,"
            f"{alice_professional.national_id},,,,",
            f"applicative,lims@demo.mssante.fr,,{lab.siret},{dr_alice.email},,,,,,",
            f"nominative,bob@demo.mssante.fr,{sec_bob.email},,,,,,,,",
            f"organisationnelle,accueil@demo.mssante.fr,,{chu.finess},{dr_alice.email},Directeur,,,,,",
            f"organisationnelle,sans.responsable@demo.mssante.fr,,{chu.finess},,Directeur,,,,,",
            "fax,fax@demo.mssante.fr,,,,,,,,,",
            f"organisationnelle,inconnue@demo.mssante.fr,,000000000,{dr_alice.email},Directeur,,,,,",
        ]
    )
    report = do_bulk_create_from_csv(text.encode(), acting_user=admin_olga)
    assert [line for line, _address in report.created] == [2, 3, 4, 5]
    reasons = {line: reason for line, _address, reason in report.rejected}
    assert set(reasons) == {6, 7, 8, 9, 10}
    assert "RPPS, ADELI ou RPPS+" in reasons[6]
    assert "déjà utilisée" in reasons[7]
    assert "colonne « responsable »" in reasons[8]
    assert "Type de BAL inconnu" in reasons[9]
    assert "introuvable dans l'annuaire" in reasons[10]
    assert Mailbox.objects.get(address="accueil@demo.mssante.fr").liste_rouge is True
    assert check_credential(report.secrets["lims@demo.mssante.fr"]) is not None
    summary = AuditEvent.objects.get(action="mailbox.bulk_imported")
    assert summary.details["created"] == 4 and summary.details["rejected_lines"] == [6, 7, 8, 9, 10]


def test_it_refuses_a_file_without_the_required_columns(admin_olga):
    report = do_bulk_create_from_csv(b"foo;bar\n1;2\n", acting_user=admin_olga)
    assert report.created == [] and "type" in report.rejected[0][2]


def test_it_refuses_a_file_that_is_not_utf8(admin_olga):
    report = do_bulk_create_from_csv("type;adresse\nnominative;é@x".encode("latin-1"), acting_user=admin_olga)
    assert report.rejected == [(1, "", "Le fichier n'est pas encodé en UTF-8.")]


def test_it_keeps_structure_admins_to_their_structures(struct_admin_sam, other_structure, chu, dr_alice):
    text = (
        "type;adresse;structure;responsable;accord\n"
        f"organisationnelle;a@demo.mssante.fr;{chu.finess};{dr_alice.email};Directeur\n"
        f"organisationnelle;b@demo.mssante.fr;{other_structure.finess};{dr_alice.email};Directeur\n"
    )
    report = do_bulk_create_from_csv(text.encode(), acting_user=struct_admin_sam)
    assert report.created == [(2, "a@demo.mssante.fr")]
    assert "Vous n'administrez pas la structure" in report.rejected[0][2]
