"""Query words looked up through the exact-word indexes (migration 0008, ADR 0026, issue 14 point 5).

On PostgreSQL each typed word is resolved to the lexicon words that hold it, each near word stands for
itself, and rows are found with `string_to_array(column, ' ') && ARRAY[...]` instead of trigram rechecks.
These tests check that this finds exactly what the substring search found, and where it falls back.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.annuaire import lexicon, search
from apps.annuaire.lexicon import holding_words
from apps.annuaire.models import Professional, SearchWord, Structure
from apps.annuaire.search import SearchCriteria, autocomplete, filtered, lexicon_of, search_directory
from apps.annuaire.services import do_publish_local_bal
from tests.annuaire.conftest import addresses, publish_cardiologist

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the exact-word indexes are PostgreSQL's (SQLite: substrings)"
)


def _ids(criteria: SearchCriteria, field: str = "search_text") -> set[int]:
    return set(filtered(criteria, text_field=field).values_list("id", flat=True))


@postgres_only
def test_typed_words_resolve_to_the_lexicon_words_holding_them(imported_directory):
    found = holding_words(["cardio", "12", "xqzwv", "ologie"])
    assert "cardiologie" in found["cardio"]
    assert {"cardiologie", "venereologie"} <= set(found["ologie"])
    assert found["12"] is None  # numbers are not in the lexicon: substring search
    assert found["xqzwv"] == ["xqzwv"]  # a word the lexicon lacks still matches itself, a whole word


@postgres_only
def test_a_near_word_stands_for_itself_not_for_the_words_holding_it(imported_directory):
    resolved = lexicon_of(SearchCriteria(q="alise martn"))
    assert "alice" in resolved.near["alise"]
    assert resolved.holding["alice"] == ["alice"]
    assert resolved.holding["martin"] == ["martin"]
    assert "martn" in resolved.holding["martn"]  # what was typed keeps its substring meaning


@postgres_only
@pytest.mark.parametrize(
    "criteria",
    [
        SearchCriteria(q="cardiologie lyon"),
        SearchCriteria(q="secretariat"),
        SearchCriteria(q="pharmacie brest"),
        SearchCriteria(q="cardio"),
        SearchCriteria(q="ologie"),
        SearchCriteria(q="morel elodie"),
        SearchCriteria(q="infirmier", place="Lyon"),
        SearchCriteria(structure="pharmacie", kind="ORG"),
    ],
    ids=lambda criteria: " / ".join(criteria.as_details().values()),
)
def test_the_word_indexes_find_what_the_substring_search_finds(imported_directory, monkeypatch, criteria):
    with CaptureQueriesContext(connection) as queries:
        by_words = _ids(criteria), _ids(criteria, "search_name")
    assert any("string_to_array(search_" in query["sql"] for query in queries.captured_queries)
    monkeypatch.setattr(search, "holding_words", lambda spellings: {})  # every word as a substring
    by_substrings = _ids(criteria), _ids(criteria, "search_name")
    assert by_words[0] and by_words == by_substrings


@postgres_only
def test_a_fragment_held_by_too_many_words_is_searched_as_a_substring(imported_directory, monkeypatch):
    expected = set(addresses(search_directory(SearchCriteria(q="cardio lyon"))))
    monkeypatch.setattr(lexicon, "MAX_HOLDING_WORDS", 0)
    assert holding_words(["cardio"])["cardio"] is None
    with CaptureQueriesContext(connection) as queries:
        found = set(addresses(search_directory(SearchCriteria(q="cardio lyon"))))
    assert found == expected
    assert any("LIKE" in query["sql"] and "cardio" in query["sql"] for query in queries.captured_queries)


def test_a_whole_word_is_found_even_if_the_lexicon_lacks_it(imported_directory):
    pro = Professional.objects.create(
        national_id="810001234565", id_type="8", last_name="ZORGLUB", first_name="Anne",
        profession_code="10", profession_label="Médecin",
    )  # fmt: skip
    structure = Structure.objects.get(idnat="1693082463")
    bal = do_publish_local_bal(
        address="anne.zorglub@demo.mssante.fr", kind="PER", professional=pro, structure=structure
    )
    SearchWord.objects.filter(word="zorglub").delete()  # as if written without the publication service
    assert bal.address in addresses(search_directory(SearchCriteria(q="zorglub lyon")))
    assert bal.address in addresses(autocomplete("anne zorglub"))


def test_the_first_word_prefixes_a_name_and_the_others_are_anywhere(imported_directory):
    """Autocomplete step 2 (« morel orthophoniste »): the other words through the word index."""
    with CaptureQueriesContext(connection) as queries:
        found = addresses(autocomplete("morel orthophoniste"))
    assert found[0] == "elodie.morel@activbiolab.mssante.fr"
    if connection.vendor == "postgresql":
        assert any("string_to_array(search_text" in query["sql"] for query in queries.captured_queries)


@postgres_only
def test_the_word_indexes_and_their_statistics_exist():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'bal_search_%_words'")
        assert {row[0] for row in cursor.fetchall()} == {"bal_search_text_words", "bal_search_name_words"}
        cursor.execute("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE 'bal_search_%_words_stats'")
        assert len(cursor.fetchall()) == 2


@pytest.fixture
def hosted_cardiologist(imported_directory):
    return publish_cardiologist("Zorglub")


@postgres_only
def test_bounded_ranking_keeps_the_hosted_bals_first(hosted_cardiologist, monkeypatch):
    """Only RANKED_CANDIDATES matches of each set are ranked, but every hosted match is."""
    monkeypatch.setattr(search, "RANKED_CANDIDATES", 1)
    assert filtered(SearchCriteria(q="medecin lyon")).count() > 2
    # No name holds both words: the composer's last step, the general search, bounded.
    assert addresses(autocomplete("medecin lyon"))[0] == hosted_cardiologist.address
    page = search_directory(SearchCriteria(q="medecin lyon"), page_size=1)
    assert addresses(page) == [hosted_cardiologist.address] and page.has_next


@postgres_only
def test_the_first_pages_rank_the_same_candidates(imported_directory, monkeypatch):
    monkeypatch.setattr(search, "RANKED_CANDIDATES", 6)
    assert [search.candidates_for(page, 2) for page in (1, 3, 4)] == [6, 6, search.MAX_RESULTS]
    criteria = SearchCriteria(q="cardiologie")
    first, second = (addresses(search_directory(criteria, page=page, page_size=2)) for page in (1, 2))
    assert len(first) == len(second) == 2 and not set(first) & set(second)
