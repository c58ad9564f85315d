"""Local publication of the BALs this platform hosts, selectors, the daily task and the demo seed."""

from __future__ import annotations

import io

import pytest

from apps.annuaire import demo
from apps.annuaire.download import DownloadError, local_copy
from apps.annuaire.models import BalAddress, Category, Professional, Source, Structure
from apps.annuaire.selectors import (
    get_professional_by_national_id,
    get_published_bal,
    get_structure_by_finess,
    get_structure_by_siret,
)
from apps.annuaire.services import (
    PublicationError,
    do_publish_local_bal,
    do_register_local_professional,
    do_unpublish_local_bal,
)
from apps.annuaire.tasks import import_annuaire_sources
from apps.audit.models import AuditEvent
from tests.annuaire.conftest import ACTIVITY, MSSANTE

pytestmark = pytest.mark.django_db


def test_it_publishes_a_local_bal_with_search_columns_and_an_audit_event(imported_directory, admin_olga):
    pro = get_professional_by_national_id("811590830169")
    structure = get_structure_by_finess("693082463")
    bal = do_publish_local_bal(
        address="Elodie.Morel@demo.mssante.fr", kind="PER", professional=pro, structure=structure,
        acting_user=admin_olga,
    )  # fmt: skip
    assert bal.address == "elodie.morel@demo.mssante.fr" and bal.source == Source.LOCAL and bal.is_active
    assert bal.display_name == "Élodie MOREL" and bal.town == "LYON" and bal.search_name == "morel elodie"
    assert "orthophoniste" in bal.search_text and "lyon" in bal.search_text
    event = AuditEvent.objects.get(action="annuaire.bal_published")
    assert event.actor_id == admin_olga.pk and event.details["created"] is True


def test_it_republishes_idempotently_and_unpublishes_without_deleting(imported_directory):
    structure = get_structure_by_finess("292760188")
    first = do_publish_local_bal(address="officine@demo.mssante.fr", kind="ORG", structure=structure,
                                 service="Officine")  # fmt: skip
    again = do_publish_local_bal(address="officine@demo.mssante.fr", kind="ORG", structure=structure,
                                 service="Officine", liste_rouge=True)  # fmt: skip
    assert again.pk == first.pk and again.liste_rouge
    assert again.display_name == "PHARMACIE BREST – Officine"
    do_unpublish_local_bal("officine@demo.mssante.fr")
    kept = BalAddress.objects.get(pk=first.pk)
    assert not kept.is_active and get_published_bal("officine@demo.mssante.fr") is None
    assert do_unpublish_local_bal("unknown@demo.mssante.fr") is None


def test_it_refuses_incoherent_publications(imported_directory):
    structure = Structure.objects.first()
    with pytest.raises(PublicationError, match="rattachée à un professionnel"):
        do_publish_local_bal(address="x@demo.mssante.fr", kind="PER", structure=structure)
    with pytest.raises(PublicationError, match="rattachée à une structure"):
        do_publish_local_bal(address="y@demo.mssante.fr", kind="ORG")
    with pytest.raises(PublicationError, match="déjà publiée dans l'Annuaire Santé"):
        do_publish_local_bal(address="pharmacie.1@activbiolab.mssante.fr", kind="ORG", structure=structure)


def test_it_registers_a_local_professional_once(db):
    pro = do_register_local_professional(national_id="810001234565", last_name="MARTIN", first_name="Alice",
                                         profession_code="10", profession_label="Médecin")  # fmt: skip
    assert pro.source == Source.LOCAL and pro.category == Category.HEALTH
    same = do_register_local_professional(national_id="810001234565", last_name="X", first_name="Y")
    assert same.pk == pro.pk and same.last_name == "MARTIN"
    with pytest.raises(PublicationError, match="clé de contrôle"):
        do_register_local_professional(national_id="810001234560", last_name="X", first_name="Y")


def test_it_maps_professions_to_r1110_2_categories(db):
    from apps.annuaire.categories import category_for

    assert category_for("10", "Médecin") == Category.HEALTH
    assert category_for("93", "Psychologue") == Category.TITLED
    assert category_for("", "Ostéopathe") == Category.TITLED
    assert category_for("", "Psychothérapeute") == Category.TITLED
    assert category_for("", "Chiropracteur") == Category.TITLED
    assert category_for("", "Assistant de service social") == Category.SOCIAL
    assert category_for("", "Accompagnant éducatif et social") == Category.SOCIAL
    assert category_for("", "Assistante maternelle") == Category.SOCIAL
    assert category_for("99", "Astrologue") == Category.OTHER


def test_it_selects_by_identifiers(imported_directory):
    assert get_professional_by_national_id("811590830169").last_name == "MOREL"
    assert get_professional_by_national_id("not-an-id") is None
    assert get_structure_by_siret("54323194875747").name == "PHARMACIE BREST"
    assert get_structure_by_finess("693082463").town == "LYON"
    Professional.objects.filter(national_id="811590830169").update(is_active=False)
    assert get_professional_by_national_id("811590830169") is None
    assert get_professional_by_national_id("811590830169", active_only=False) is not None


def test_it_runs_the_daily_import_from_the_configured_sources(db, settings):
    settings.ANNUAIRE_IMPORT_SOURCE = [str(ACTIVITY), str(MSSANTE)]
    summaries = import_annuaire_sources.apply().get()
    assert [summary["format"] for summary in summaries] == [
        "PS_LibreAcces_Personne_activite", "Extraction_Correspondance_MSSante",
    ]  # fmt: skip
    assert BalAddress.objects.filter(is_active=True).count() == 380
    assert AuditEvent.objects.filter(action="annuaire.imported").count() == 2


def test_it_only_downloads_over_https():
    with pytest.raises(DownloadError, match="https"), local_copy("http://example.test/extraction.zip"):
        pass
    with local_copy(str(MSSANTE)) as path:
        assert path == MSSANTE


def test_it_seeds_the_demo_idempotently(db):
    out = io.StringIO()
    demo.seed(out)
    assert "380 créé(e)s" in out.getvalue()
    again = io.StringIO()
    demo.seed(again)
    assert again.getvalue().count("Total : 0 créés, 0 mis à jour, 0 désactivés") == 2
