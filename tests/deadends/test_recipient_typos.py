"""Two-word typo tolerance on both recipient search entry points (issue 14, item 5).

Each word of 4+ letters may carry one edit, 8+ letters two: « Alise Martin », « cardiologie ajacio » and
« phamacie bordeaux » find their obvious target in the first 3 results of the composer's suggestions and of
the directory page, on the demo directory. The same rule at 1.5 M entries: bench/bench_annuaire.py.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.annuaire import lexicon
from apps.annuaire.lexicon import allowed_edits, edit_distance, near_in_python, near_words
from apps.annuaire.models import SearchWord
from apps.annuaire.search import SearchCriteria, autocomplete, search_directory

pytestmark = pytest.mark.django_db

ALICE = "alice.martin@demo.mssante.fr"


def _is_alice(row: dict) -> bool:
    return row["address"] == ALICE


def _is_cardiology_in_ajaccio(row: dict) -> bool:
    return row["town"] == "AJACCIO" and "Cardiologie" in row["service"] + row["specialty"]


def _is_pharmacy_in_bordeaux(row: dict) -> bool:
    return row["town"] == "BORDEAUX" and row["structure"].startswith("PHARMACIE") and row["kind"] == "ORG"


QUERIES = [
    ("Alise Martin", _is_alice),
    ("cardiologie ajacio", _is_cardiology_in_ajaccio),
    ("phamacie bordeaux", _is_pharmacy_in_bordeaux),
]


@pytest.fixture
def directory(imported_directory, alice_bal):
    """The demo directory (both sample extractions) and Alice's BAL hosted here, as `make run` seeds it."""
    cache.clear()
    return alice_bal


def _row(bal) -> dict:
    return {
        "address": bal.address,
        "town": bal.town,
        "service": bal.service,
        "specialty": bal.specialty_label,
        "structure": bal.structure_name,
        "kind": bal.kind,
    }


@pytest.mark.parametrize(("query", "is_target"), QUERIES)
def test_the_composer_suggests_the_target_among_the_first_three(directory, alice_client, query, is_target):
    response = alice_client.get(reverse("annuaire:autocomplete"), {"q": query})
    assert response.status_code == 200
    results = response.json()["results"]
    assert any(is_target(row) for row in results[:3]), (query, results[:3])
    # The composer's htmx fragment is the same list.
    fragment = alice_client.get(reverse("annuaire:autocomplete"), {"q": query}, HTTP_HX_REQUEST="true")
    assert results[0]["address"] in fragment.content.decode()


@pytest.mark.parametrize(("query", "is_target"), QUERIES)
def test_the_directory_page_lists_the_target_among_the_first_three(directory, alice_client, query, is_target):
    response = alice_client.get(reverse("annuaire:search"), {"q": query})
    assert response.status_code == 200
    first = [_row(bal) for bal in response.context["page"].results[:3]]
    assert any(is_target(row) for row in first), (query, first)
    assert first[0]["address"] in response.content.decode()


@pytest.mark.parametrize(("query", "is_target"), QUERIES)
def test_without_the_typos_the_same_targets_come_first(directory, query, is_target):
    fixed = {"Alise Martin": "Alice Martin", "cardiologie ajacio": "cardiologie ajaccio"}.get(query, query)
    fixed = fixed.replace("phamacie", "pharmacie")
    assert any(is_target(_row(bal)) for bal in autocomplete(fixed)[:3]), fixed
    assert any(is_target(_row(bal)) for bal in search_directory(SearchCriteria(q=fixed)).results[:3]), fixed


def test_each_word_of_a_query_may_carry_its_own_typos(directory):
    # Two edits in an 8+ letter word (« cardiolgoie »: a swap), one in each 4+ letter word, any word order.
    for query in (
        "cardiolgoie ajacio",
        "Martin Alise",
        "phamracie bordaux",
        "alise martn",
        "pamacie bordeaux",
    ):
        criteria = SearchCriteria(q=query)
        found = [_row(bal) for bal in search_directory(criteria).results[:3]]
        assert any(is_target(row) for row in found for _q, is_target in QUERIES), (query, found)


def test_short_words_far_words_and_known_words_are_not_corrected(directory):
    assert near_words(["martin"]) == {"martin": ["martin"]}  # not also "martinez"
    assert near_words(["lyo", "ajaccio", "xqzwv"]) == {"ajaccio": ["ajaccio"], "xqzwv": []}
    assert "ajaccio" not in near_words(["ajcco"])["ajcco"]  # two edits of a 7-letter word: too far
    assert "pharmacie" in near_words(["pamacie"])["pamacie"]  # two edits of a 9-letter word
    assert not search_directory(SearchCriteria(q="alise xqzwvk")).results


def test_the_place_and_structure_fields_tolerate_typos_too(directory):
    page = search_directory(SearchCriteria(q="cardiologie", place="Ajacio"))
    assert page.results and all(bal.town == "AJACCIO" for bal in page.results)
    page = search_directory(SearchCriteria(structure="phamacie bordeaux", kind="ORG"))
    assert page.results and all(_is_pharmacy_in_bordeaux(_row(bal)) for bal in page.results)


def test_the_portable_path_finds_the_same_near_words_as_postgresql(directory):
    """`make run` on SQLite resolves typos in Python over the lexicon: same words as fuzzystrmatch."""
    queries = ["alise", "martn", "ajacio", "phamacie", "cardiolgoie", "bordaux", "dupond", "infirmeir"]
    portable = near_in_python(queries)
    assert "alice" in portable["alise"] and "ajaccio" in portable["ajacio"]
    assert "pharmacie" in portable["phamacie"] and "cardiologie" in portable["cardiolgoie"]
    if connection.vendor == "postgresql":
        in_database = lexicon._near_in_postgres(sorted(queries))
        assert {word: set(near) for word, near in in_database.items()} == {
            word: set(near) for word, near in portable.items()
        }


def test_a_bal_published_here_adds_its_words_to_the_lexicon(directory):
    assert (
        SearchWord.objects.filter(word="martin").exists() and SearchWord.objects.filter(word="alice").exists()
    )
    assert ALICE in [bal.address for bal in autocomplete("Alise Martin")[:1]]


# --- properties -----------------------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@st.composite
def edited(draw, word: str) -> str:
    """`word` with as many random edits (insert, delete, replace) as its length allows."""
    for _ in range(allowed_edits(word, word)):
        position = draw(st.integers(min_value=0, max_value=len(word) - 1))
        letter = draw(st.sampled_from(LETTERS))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        if operation == "insert":
            word = word[:position] + letter + word[position:]
        elif operation == "delete" and len(word) > 4:
            word = word[:position] + word[position + 1 :]
        else:
            word = word[:position] + letter + word[position + 1 :]
    return word


# Real directory words of every length class, mutually far apart so that the closest-first cap never hides
# the original word behind ties.
TARGETS = ["alice", "ajaccio", "bordeaux", "pharmacie", "cardiologie", "strasbourg", "orthophoniste", "nice"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_word_with_its_allowed_edits_is_still_found(directory, data):
    target = data.draw(st.sampled_from(TARGETS))
    typed = data.draw(edited(target))
    if len(typed) < 4 or SearchWord.objects.filter(word=typed).exists():
        return  # typed words of 1-3 letters, and words the directory holds, are taken as typed
    assert edit_distance(typed, target, 2) <= allowed_edits(typed, target)
    found = near_words([typed]).get(typed, [])
    assert target in found or typed in target, (typed, found)


@settings(max_examples=200, deadline=None)
@given(st.text(LETTERS, min_size=0, max_size=12), st.text(LETTERS, min_size=0, max_size=12))
def test_the_python_edit_distance_is_levenshtein(left, right):
    # Reference: the full dynamic programme, without the early exit.
    previous = list(range(len(right) + 1))
    for row, left_char in enumerate(left, start=1):
        current = [row]
        for column, right_char in enumerate(right, start=1):
            current.append(
                min(previous[column] + 1, current[-1] + 1, previous[column - 1] + (left_char != right_char))
            )
        previous = current
    for limit in (0, 1, 2):
        assert edit_distance(left, right, limit) == min(previous[-1], limit + 1)
