"""search_directory and autocomplete on PostgreSQL (pg_trgm): multi-criteria, typos, accents, ranking."""

from __future__ import annotations

import pytest

from apps.annuaire.models import BalAddress, Professional
from apps.annuaire.search import SearchCriteria, autocomplete, search_directory
from apps.annuaire.services import do_publish_local_bal
from tests.annuaire.conftest import addresses, publish_cardiologist

pytestmark = pytest.mark.django_db


@pytest.fixture
def helene(imported_directory):
    return publish_cardiologist("Dupont")


def test_it_finds_cardiologists_in_lyon(imported_directory):
    page = search_directory(SearchCriteria(q="cardiologue à Lyon"))
    assert page.results
    for bal in page.results:
        assert bal.town == "LYON"
        assert "Cardiologie" in (bal.specialty_label + bal.service)
    expected = set(BalAddress.objects.filter(town="LYON", specialty_label__startswith="Cardiologie")
                   .values_list("address", flat=True))  # fmt: skip
    assert expected and expected <= set(addresses(page))


def test_it_combines_free_text_with_place_and_kind_filters(imported_directory):
    page = search_directory(SearchCriteria(q="cardiologie", place="69", kind="ORG"))
    assert page.results and all(bal.kind == "ORG" and bal.department_code == "69" for bal in page.results)
    by_postcode = search_directory(SearchCriteria(q="infirmier", place="69003"))
    assert len(by_postcode.results) == 6 and all(bal.postcode == "69003" for bal in by_postcode.results)


def test_it_tolerates_a_misspelt_name(imported_directory):
    page = search_directory(SearchCriteria(q="Dupond"))
    dupont = set(
        BalAddress.objects.filter(search_name__startswith="dupont ").values_list("address", flat=True)
    )
    assert dupont and dupont <= set(addresses(page))
    assert addresses(autocomplete("dupond"))[0] in dupont


def test_it_ignores_accents_and_case(helene):
    for query in ("Hélène Dupont", "helene dupont", "HELENE", "dupont hélène"):
        assert helene.address in addresses(search_directory(SearchCriteria(q=query))), query
    assert addresses(autocomplete("dupont hel"))[0] == helene.address


def test_it_ranks_name_prefixes_first(imported_directory):
    page = search_directory(SearchCriteria(q="morel"))
    names = [bal.display_name for bal in page.results]
    assert names and all("MOREL" in name for name in names[:5])
    assert addresses(autocomplete("mor"))  # a 3-letter prefix already suggests


def test_it_searches_by_structure_name_or_finess(imported_directory):
    by_finess = search_directory(SearchCriteria(structure="292760188"))
    assert addresses(by_finess) and all(
        bal.structure_name.startswith("PHARMACIE") for bal in by_finess.results
    )
    by_name = search_directory(SearchCriteria(structure="pharmacie brest", kind="ORG"))
    assert "pharmacie.1@activbiolab.mssante.fr" in addresses(by_name)


def test_it_covers_local_bals_but_never_liste_rouge_or_inactive(imported_directory):
    pro = Professional.objects.get(national_id="811590830169")
    do_publish_local_bal(address="elodie.morel@demo.mssante.fr", kind="PER", professional=pro)
    do_publish_local_bal(
        address="secret.morel@demo.mssante.fr", kind="PER", professional=pro, liste_rouge=True
    )
    found = addresses(search_directory(SearchCriteria(q="elodie morel")))
    assert "elodie.morel@demo.mssante.fr" in found and "secret.morel@demo.mssante.fr" not in found
    BalAddress.objects.filter(address="elodie.morel@activbiolab.mssante.fr").update(is_active=False)
    assert "elodie.morel@activbiolab.mssante.fr" not in addresses(autocomplete("morel elodie"))


def test_it_paginates(imported_directory):
    first = search_directory(SearchCriteria(q="infirmier"), page=1, page_size=5)
    second = search_directory(SearchCriteria(q="infirmier"), page=2, page_size=5)
    assert first.has_next and len(first.results) == 5
    assert not set(addresses(first)) & set(addresses(second))
    assert second.start_index == 6


def test_it_returns_nothing_for_empty_criteria_and_finds_a_pasted_address(imported_directory):
    assert search_directory(SearchCriteria()).results == []
    assert autocomplete("a") == []
    assert addresses(search_directory(SearchCriteria(q="Pharmacie.1@activbiolab.mssante.fr"))) == [
        "pharmacie.1@activbiolab.mssante.fr"
    ]
    assert addresses(autocomplete("pharmacie.1@act")) == ["pharmacie.1@activbiolab.mssante.fr"]
