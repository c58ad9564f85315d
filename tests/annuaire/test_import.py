"""import_annuaire / do_import_annuaire on PostgreSQL: formats, counts, idempotence, deactivation, guard."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.management import CommandError, call_command

from apps.annuaire import importer
from apps.annuaire.formats import UnknownFormat
from apps.annuaire.import_sqlite import PortableBackend
from apps.annuaire.importer import DeactivationGuardTripped
from apps.annuaire.models import BalAddress, Category, ExercisePlace, Professional, Source, Structure
from apps.annuaire.services import do_import_annuaire, do_publish_local_bal
from apps.audit.models import AuditEvent
from tests.annuaire.conftest import ACTIVITY, MSSANTE, sample_lines

pytestmark = pytest.mark.django_db


def _run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_annuaire", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_the_activity_sample():
    result = do_import_annuaire(str(ACTIVITY))
    assert result.format == "PS_LibreAcces_Personne_activite"
    assert result.lines == 300 and result.rejected == 0
    assert result.counts["pro"].created == Professional.objects.count() == 300
    assert result.counts["place"].created == ExercisePlace.objects.count() == 300
    assert Professional.objects.filter(id_type="0").count() > 0  # ADELI people
    officines = Structure.objects.filter(is_officine=True)
    assert officines.count() == 39 and set(officines.values_list("sector_code", flat=True)) == {"SA33"}
    assert not Professional.objects.exclude(category=Category.HEALTH).exists()


def test_it_imports_the_mssante_sample_and_reports_malformed_lines_with_their_number():
    out, err = _run(MSSANTE)
    assert BalAddress.objects.filter(source=Source.IMPORTED, is_active=True).count() == 380
    assert "Ligne 382 rejetée : 31 colonnes attendues, 4 trouvées" in err
    assert "Ligne 383 rejetée : L'identifiant national est invalide" in err and "clé de contrôle" in err
    assert "Ligne 384 rejetée : adresse BAL vide ou invalide" in err
    assert "adresses BAL : 380 créé(e)s, 0 mis(es) à jour, 0 désactivé(e)s" in out
    assert "3 lignes rejetées" in out
    org = BalAddress.objects.get(address="pharmacie.1@activbiolab.mssante.fr")
    assert org.kind == "ORG" and org.service == "Officine" and org.structure.finess == "292760188"
    per = BalAddress.objects.get(address="elodie.morel@activbiolab.mssante.fr")
    assert (
        per.professional.national_id == "811590830169" and per.town == "LYON" and per.department_code == "69"
    )


def test_it_accepts_lines_with_or_without_the_trailing_separator(write_extraction):
    lines = sample_lines(MSSANTE)[:200]
    with_bar = [line if line.endswith("|") else line + "|" for line in lines]
    without_bar = [line.removesuffix("|") for line in lines]
    first = do_import_annuaire(str(write_extraction(with_bar)))
    second = do_import_annuaire(str(write_extraction(without_bar)))
    assert first.rejected == second.rejected == 0
    assert first.counts["bal"].created == 199
    assert second.counts["bal"].created == second.counts["bal"].updated == 0


def test_it_reads_the_published_zip(tmp_path):
    archive = tmp_path / "Extraction_Correspondance_MSSante.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(MSSANTE, MSSANTE.name)
    result = do_import_annuaire(str(archive))
    assert result.source.endswith(MSSANTE.name) and result.counts["bal"].created == 380


def test_it_is_idempotent():
    do_import_annuaire(str(ACTIVITY))
    do_import_annuaire(str(MSSANTE))
    out, _ = _run(MSSANTE)
    assert "Total : 0 créés, 0 mis à jour, 0 désactivés, 3 lignes rejetées." in out
    again = do_import_annuaire(str(ACTIVITY))
    assert again.total("created") == again.total("updated") == again.total("deactivated") == 0


def test_it_updates_what_changed(write_extraction):
    lines = sample_lines(MSSANTE)
    do_import_annuaire(str(MSSANTE))
    lines[1] = lines[1].replace("|MOREL|Élodie|", "|MOREL-DURAND|Élodie|")
    result = do_import_annuaire(str(write_extraction(lines)))
    assert result.counts["bal"].updated == 1 and result.counts["bal"].created == 0
    bal = BalAddress.objects.get(address="elodie.morel@activbiolab.mssante.fr")
    assert bal.display_name == "Élodie MOREL-DURAND" and bal.search_name == "morel durand elodie"


def test_it_deactivates_vanished_entries_but_never_a_local_bal(write_extraction, dr_alice):
    do_import_annuaire(str(MSSANTE))
    local_pro = Professional.objects.get(national_id="811590830169")
    do_publish_local_bal(address="alice.martin@demo.mssante.fr", kind="PER", professional=local_pro)
    lines = sample_lines(MSSANTE)
    vanished = [line.split("|")[1] for line in lines[1:11]]
    result = do_import_annuaire(str(write_extraction(lines[:1] + lines[11:])))
    assert result.counts["bal"].deactivated == 10
    assert not BalAddress.objects.filter(address__in=vanished, is_active=True).exists()
    assert BalAddress.objects.filter(address__in=vanished).count() == 10  # kept, inactive
    assert BalAddress.objects.get(address="alice.martin@demo.mssante.fr").is_active


def test_it_never_overwrites_a_local_bal_echoed_by_the_extraction(write_extraction):
    do_import_annuaire(str(ACTIVITY))
    pro = Professional.objects.get(national_id="811590830169")
    do_publish_local_bal(
        address="elodie.morel@activbiolab.mssante.fr", kind="PER", professional=pro, liste_rouge=True
    )
    do_import_annuaire(str(MSSANTE))
    bal = BalAddress.objects.get(address="elodie.morel@activbiolab.mssante.fr")
    assert bal.source == Source.LOCAL and bal.liste_rouge


def test_it_keeps_professionals_still_named_by_an_active_bal(write_extraction):
    do_import_annuaire(str(ACTIVITY))
    do_import_annuaire(str(MSSANTE))
    lines = sample_lines(ACTIVITY)
    gone = [line.split("|")[2] for line in lines[1:21]]
    result = do_import_annuaire(str(write_extraction(lines[:1] + lines[21:], name=ACTIVITY.name)))
    with_bal = set(BalAddress.objects.filter(professional__national_id__in=gone).values_list(
        "professional__national_id", flat=True))  # fmt: skip
    assert result.counts["place"].deactivated == 20
    assert result.counts["pro"].deactivated == len(set(gone) - with_bal)
    assert set(Professional.objects.filter(national_id__in=gone, is_active=True).values_list(
        "national_id", flat=True)) == with_bal  # fmt: skip


def test_it_refuses_a_run_that_would_deactivate_more_than_20_percent(write_extraction):
    do_import_annuaire(str(MSSANTE))
    lines = sample_lines(MSSANTE)
    truncated = lines[:150]
    truncated[1] = truncated[1].replace("|MOREL|Élodie|", "|CHANGED|Élodie|")
    path = write_extraction(truncated)
    with pytest.raises(
        CommandError, match=r"rien n'a été modifié : il désactiverait \d+ adresses BAL sur 380"
    ):
        _run(path)
    assert BalAddress.objects.filter(is_active=True).count() == 380
    assert not BalAddress.objects.filter(display_name__contains="CHANGED").exists()
    refused = AuditEvent.objects.get(action="annuaire.import_refused")
    assert refused.outcome == "failure" and refused.details["entity"] == "bal"


def test_it_goes_past_the_guard_with_force(write_extraction):
    do_import_annuaire(str(MSSANTE))
    path = write_extraction(sample_lines(MSSANTE)[:150])
    out, _ = _run(path, "--force")
    assert "231 désactivé(e)s" in out
    assert BalAddress.objects.filter(is_active=True).count() == 149


def test_it_reports_duplicate_addresses(write_extraction):
    lines = sample_lines(MSSANTE)[:20]
    lines.append(lines[3])
    result = do_import_annuaire(str(write_extraction(lines)))
    assert result.rejections == [(21, "adresse BAL déjà présente ligne 4")]
    assert result.counts["bal"].created == 19


def test_it_audits_the_import_with_its_counts():
    do_import_annuaire(str(MSSANTE))
    event = AuditEvent.objects.get(action="annuaire.imported")
    entities = event.details["entities"]
    assert entities["bal"]["created"] == 380 and event.details["rejected"] == 3
    assert event.details["created"] == sum(counts["created"] for counts in entities.values())
    assert entities["pro"]["created"] == Professional.objects.count()


def test_it_refuses_an_unknown_file(write_extraction):
    path = write_extraction(["nom|prénom", "a|b"], name="autre.txt")
    with pytest.raises(UnknownFormat, match="En-tête non reconnu"):
        do_import_annuaire(str(path))
    with pytest.raises(CommandError, match="En-tête non reconnu"):
        _run(path)


def test_it_gives_the_same_counts_on_the_portable_backend(monkeypatch):
    pg = [do_import_annuaire(str(ACTIVITY)).as_details(), do_import_annuaire(str(MSSANTE)).as_details()]
    BalAddress.objects.all().delete()
    ExercisePlace.objects.all().delete()
    Professional.objects.all().delete()
    Structure.objects.all().delete()
    monkeypatch.setattr(importer, "_backend", PortableBackend)
    portable = [do_import_annuaire(str(ACTIVITY)).as_details(), do_import_annuaire(str(MSSANTE)).as_details()]
    assert portable == pg
    assert do_import_annuaire(str(MSSANTE)).total("created") == 0


def test_it_stops_on_deactivation_guard_inside_the_service(write_extraction):
    do_import_annuaire(str(ACTIVITY))
    path = write_extraction(sample_lines(ACTIVITY)[:100], name=ACTIVITY.name)
    with pytest.raises(DeactivationGuardTripped):
        do_import_annuaire(str(path))
    assert Professional.objects.filter(is_active=True).count() == 300


def test_it_rebuilds_the_search_indexes_after_a_first_bulk_load(monkeypatch):
    from django.db import connection

    from apps.annuaire import import_pg
    from apps.annuaire.search import SearchCriteria, search_directory

    monkeypatch.setattr(import_pg, "BULK_MIN_LINES", 10)  # the sample counts as a first bulk load
    do_import_annuaire(str(MSSANTE))
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'annuaire_baladdress'")
        indexes = {row[0] for row in cursor.fetchall()}
    assert set(import_pg.SEARCH_INDEXES) <= indexes
    assert search_directory(SearchCriteria(q="Dupond")).results
    again = do_import_annuaire(str(MSSANTE))  # 380 active BALs now: no longer a bulk load
    assert again.total("created") == 0


def test_it_fills_the_lexicon_used_for_typos(monkeypatch):
    from apps.annuaire import import_pg
    from apps.annuaire.lexicon import near_words
    from apps.annuaire.models import SearchWord

    monkeypatch.setattr(import_pg, "LEXICON_REINDEX_AFTER", 10)  # exercise the rebuild on the sample
    do_import_annuaire(str(MSSANTE))
    # Every word of the search rows: names, first names, professions, structures, towns; no numbers.
    for word in ("dupont", "alice", "pharmacie", "pharmacien", "cardiologie", "ajaccio", "bordeaux"):
        assert SearchWord.objects.filter(word=word).exists(), word
    assert not SearchWord.objects.filter(word__in=["33000", "de", "la"]).exists()
    assert "dupont" in near_words(["dupond"])["dupond"]
