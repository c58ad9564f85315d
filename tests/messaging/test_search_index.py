"""apps.messaging.store.search_index: the faster fold() and HMACs give exactly the former results.

Stored search indexes (MessageCopy.search_tokens) were built with the former implementation, kept below
(`_reference_*`): a token computed today for the same text and key must be the same, or old messages would
no longer be found.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.crypto.keys import derive_search_key
from apps.messaging.store import search_index
from apps.messaging.store.search_index import MAX_BODY_CHARS, build_tokens, fold

# -- the former implementation -------------------------------------------------------------------------


def _reference_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _reference_token(search_key: bytes, kind: str, value: str) -> str:
    return hmac.new(search_key, f"v1|{kind}|{value}".encode(), hashlib.sha256).hexdigest()[:16]


def _reference_words(text: str) -> list[str]:
    return [
        w
        for w in search_index._WORD.findall(_reference_fold(text))  # noqa: SLF001
        if len(w) > 1 and w not in search_index._STOP  # noqa: SLF001
    ]


def _reference_lexemes(text: str) -> set[str]:
    found = _reference_words(text[:MAX_BODY_CHARS])
    if not found:
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(tsvector_to_array(to_tsvector('mssante_fr', %s)))", [" ".join(found)])
        return {row[0] for row in cursor.fetchall()}


def _reference_build_tokens(mailbox_key: bytes, full_text: list[str], prefix_text: list[str]) -> str:
    key = derive_search_key(mailbox_key)
    everything = " ".join([*full_text, *prefix_text])
    tokens = {_reference_token(key, "w", lexeme) for lexeme in _reference_lexemes(everything)}
    for text in prefix_text:
        for word in _reference_words(text):
            for size in range(3, min(len(word), 10) + 1):
                tokens.add(_reference_token(key, "p", word[:size]))
    return " ".join(sorted(tokens))


# -- fold ------------------------------------------------------------------------------------------------

# Latin letters with accents and ligatures, digits, punctuation: what French mail is made of.
_FRENCH = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "àâäáãåçéèêëíìîïñóòôöõúùûüýÿÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝŸœŒæÆßŁłøØđĐ"
    "ﬁﬂﬀﬃﬄĲĳǅǈǋ"  # ligatures NFKD splits
    " \t\n.,;:!?'’\"«»()[]{}-–—_/\\@#%&*+=<>…°€$£§¹²³½¼ªº"
    "\u00a0\u202f\u2009"  # the spaces French typography puts before ; : ! ?
    "\u0301\u0300\u0302\u0308\u0327\u034f"  # combining marks already decomposed, and the joiner (class 0)
)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_FRENCH), max_size=300))
def test_fold_is_the_former_fold_on_french_text(text: str):
    assert fold(text) == _reference_fold(text)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(max_size=100))
def test_fold_is_the_former_fold_on_any_text(text: str):
    assert fold(text) == _reference_fold(text)


def test_fold_examples():
    assert fold("Œdème ÉCHOGRAPHIE ﬁbrose Müller") == "œdeme echographie fibrose muller"
    assert fold("Ça coûte 3 € …") == "ca coute 3 € ..."
    assert fold("PLAIN ascii 123") == "plain ascii 123"
    assert fold("e\u034f\u0301") == "e\u034f"  # the grapheme joiner is not a combining mark


def test_the_ranges_fold_relies_on_hold_for_this_unicode_database():
    """fold() strips U+0300-U+036F but U+034F in one pass, and does the per-character test only when a
    character lies outside U+0000-U+02FF and U+2000-U+20CF: that is exact only while those ranges hold no
    other combining mark, which this checks against the running Python's unicodedata."""
    for code in [*range(0x0000, 0x0300), *range(0x2000, 0x20D0)]:
        assert unicodedata.combining(chr(code)) == 0, hex(code)
    for code in range(0x0300, 0x0370):
        assert (unicodedata.combining(chr(code)) == 0) == (code == 0x034F), hex(code)


# -- tokens ----------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=100),
    kind=st.sampled_from(["w", "p"]),
    values=st.sets(st.text(max_size=30), max_size=20),
)
def test_batched_hmacs_are_the_former_tokens(key: bytes, kind: str, values: set[str]):
    assert search_index._tokens(key, kind, values) == {  # noqa: SLF001
        _reference_token(key, kind, value) for value in values
    }


def test_tokens_of_fixed_values_never_change():
    """Golden values computed with hmac.new when the index was designed: stored indexes depend on them."""
    key = bytes(range(32))
    assert search_index._tokens(key, "w", ["echograph", "œdem"]) == {  # noqa: SLF001
        "007017734dcc1e7a",
        "9fca7f0e8b137e5d",
    }
    assert search_index._tokens(key, "p", ["écho"]) == {"5996071353c8514c"}  # noqa: SLF001


LETTERS = [
    (
        "Cher confrère,\n\nJe vous adresse Mme DUPONT Élodie, née le 03/04/1951 à Lyon, pour une "
        "échographie cardiaque : œdème des membres inférieurs, dyspnée d'effort. Traitement : Kardégic® "
        "75 mg, bisoprolol 2,5 mg. ﬁbrillation auriculaire paroxystique ?\n\nBien confraternellement,\n"
        "Dr Noël Müller",
        ["Résultats échographie - DUPONT Élodie", "Dr Noël Müller", "noel.muller@chu-lyon.mssante.fr",
         "2026-03-14_CR_DUPONT_Élodie.pdf"],
    ),
    ("", ["", "x"]),
    ("Ελληνικά 中文 العربية עִבְרִית हिन्दी", ["Çà et là"]),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "prefix_text"), LETTERS)
def test_build_tokens_are_the_former_tokens(body: str, prefix_text: list[str]):
    mailbox_key = bytes(range(32, 64))
    expected = _reference_build_tokens(mailbox_key, [body], prefix_text)
    assert build_tokens(mailbox_key, full_text=[body], prefix_text=prefix_text) == expected
    if body:
        assert expected  # the comparison means something


_VOCABULARY = [
    *[
        "le",
        "la",
        "les",
        "des",
        "patiente",
        "Patient",
        "hospitalisée",
        "hospitalisation",
        "cœur",
        "cardiaque",
        "insuffisance",
    ],
    *[
        "ÉCHOGRAPHIE",
        "échographies",
        "14",
        "2024",
        "12h30",
        "cr_2024",
        "a1c",
        "hba1c",
        "mg/l",
        "0,5",
        "ordonnances",
        "ordonnance",
    ],
    *[
        "aux",
        "Mme",
        "M.",
        "Dupont-Martin",
        "l'examen",
        "d'entrée",
        "jusqu'à",
        "présent",
        "naïf",
        "Noël",
        "être",
        "été",
        "était",
    ],
    *["sommes", "œdème", "x2", "3ème", "IRM", "scanner"],
]


def _whole_text_lexemes(text: str) -> set[str]:
    """The former way: the whole (split) text stemmed by PostgreSQL at once."""
    joined = " ".join(search_index.words(text))
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(tsvector_to_array(to_tsvector('mssante_fr', %s)))", [joined])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
@given(st.lists(st.lists(st.sampled_from(_VOCABULARY), max_size=25).map(" ".join), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_lexemes_word_by_word_are_those_of_the_whole_text(texts):
    search_index._LEXEMES.clear()
    cold = search_index.lexemes_many(texts)
    warm = search_index.lexemes_many(texts)
    assert cold == warm == [_whole_text_lexemes(text) for text in texts]


@pytest.mark.django_db
def test_known_words_cost_no_round_trip(django_assert_num_queries):
    search_index._LEXEMES.clear()
    search_index.lexemes_many(["Insuffisance cardiaque, échographie de contrôle"])
    with django_assert_num_queries(0):
        found = search_index.lexemes("ÉCHOGRAPHIE cardiaque : insuffisance")
    assert found == {"echograph", "cardiaqu", "insuffis"}
