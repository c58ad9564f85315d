"""The directory's word lexicon (models.SearchWord) and typo tolerance: each query word to its near words.

A query word of 4+ letters may carry one edit (a letter inserted, deleted or replaced) from a directory
word, two when either word has 8 letters or more (« Alise » → alice, « ajacio » → ajaccio, « phamacie » →
pharmacie, « pamacie » → pharmacie). The search
then looks for the word as typed *or* any of its near words, word by word, so multi-word queries with a typo
in each word still find their target. See docs/decisions/0026-multi-word-typos.md.

PostgreSQL: one query for all the words of a search. Candidates come from the trigram GIN index of the small
lexicon table (similarity ≥ 0.2, low enough that one edit of a 4-letter word or two edits of an 8-letter
word still share enough trigrams), then `levenshtein_less_equal` (fuzzystrmatch) keeps those within the
allowed edits. SQLite (`make run`): the same rule in Python over the lexicon words of a compatible length,
fine for the demo's few thousand words.

PostgreSQL also resolves what was typed to the lexicon words that contain it (`holding_words`), so that the
search looks rows up by exact words (migration 0008) rather than by trigrams of the whole text.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models.functions import Length

from apps.annuaire.models import BalAddress, SearchWord

MIN_TYPO_LENGTH = 4  # shorter words are matched as typed only: one edit of "lyon" is already "lion"
TWO_EDITS_LENGTH = 8
MAX_NEAR_WORDS = 8  # per query word, closest first: each becomes one more word to look up
# Trigram similarity floor of the candidates: a replaced letter changes at most 3 of a word's trigrams,
# so "mart"/"bart" still share 2 of 8 (0.25) and two edits of an 8-letter word keep 3 of 15 (0.2).
TRIGRAM_FLOOR = 0.2
# Lexicon words (also in _SQL_REFRESH): a 4-letter query word with one inserted letter may be a 3-letter word.
MIN_WORD_LENGTH = 3
# Lexicon words listed for one spelling (PostgreSQL): the search then looks its rows up in the exact-word
# indexes of migration 0008. A spelling held by more words (a 3-letter fragment being typed) is matched as
# a substring on the trigram index instead.
MAX_HOLDING_WORDS = 1000

_SQL_REFRESH = (
    "INSERT INTO annuaire_searchword (word) "
    "SELECT DISTINCT word FROM annuaire_baladdress, unnest(string_to_array(search_text, ' ')) AS word "
    "WHERE is_active AND NOT liste_rouge AND length(word) BETWEEN 3 AND 100 "
    "AND word !~ '^[0-9]+$' ON CONFLICT (word) DO NOTHING"
)
_SQL_NEAR = """
SELECT query.word, near.word
FROM unnest(%s::text[]) AS query(word)
CROSS JOIN LATERAL (
    SELECT lexicon.word, levenshtein_less_equal(query.word, lexicon.word, 2) AS distance
    FROM annuaire_searchword lexicon
    WHERE lexicon.word %% query.word
      AND length(lexicon.word) BETWEEN length(query.word) - 2 AND length(query.word) + 2
      AND levenshtein_less_equal(query.word, lexicon.word, 2)
          <= CASE WHEN greatest(length(query.word), length(lexicon.word)) >= %s THEN 2 ELSE 1 END
    ORDER BY distance, similarity(lexicon.word, query.word) DESC, lexicon.word
    LIMIT %s
) AS near
"""


_SQL_HOLDING = """
SELECT typed.spelling, found.word
FROM unnest(%s::text[]) AS typed(spelling)
CROSS JOIN LATERAL (
    SELECT lexicon.word FROM annuaire_searchword lexicon
    WHERE lexicon.word LIKE '%%' || typed.spelling || '%%'
    LIMIT %s
) AS found
"""


def may_be_misspelt(word: str) -> bool:
    """Typed words shorter than 4 letters are taken as typed (prefixes being typed, "lyon" vs "lion")."""
    return len(word) >= MIN_TYPO_LENGTH


def allowed_edits(typed: str, word: str) -> int:
    """Edits allowed between a typed word and a directory word: 1, or 2 when either has 8+ letters.

    The longer of the two counts, so two letters dropped from « pharmacie » (« pamacie », 7 letters) are
    still two edits of a 9-letter word.
    """
    if not may_be_misspelt(typed):
        return 0
    return 2 if max(len(typed), len(word)) >= TWO_EDITS_LENGTH else 1


def lexicon_words(text: str) -> set[str]:
    """The words of a normalised `search_text` kept in the lexicon (no numbers, no 1-2 letter words)."""
    return {word for word in text.split() if MIN_WORD_LENGTH <= len(word) <= 100 and not word.isdigit()}


def add_words(texts: Iterable[str]) -> None:
    """Add the words of these normalised texts (a BAL published here) to the lexicon."""
    found: set[str] = set()
    for text in texts:
        found |= lexicon_words(text)
    SearchWord.objects.bulk_create([SearchWord(word=word) for word in sorted(found)], ignore_conflicts=True)


def refresh_lexicon() -> int:
    """Add every word of the published search rows to the lexicon (after an import); returns how many."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SQL_REFRESH)
            return cursor.rowcount
    before = SearchWord.objects.count()
    published = BalAddress.objects.filter(is_active=True, liste_rouge=False)
    add_words(published.values_list("search_text", flat=True).iterator(chunk_size=2000))
    return SearchWord.objects.count() - before


def near_words(words: Iterable[str]) -> dict[str, list[str]]:
    """Each query word (4+ letters) -> lexicon words within its allowed edits, closest first.

    A word the lexicon holds maps to itself alone. Words too short for typos are left out; a word with no
    near word maps to an empty list.
    """
    wanted = sorted({word for word in words if may_be_misspelt(word)})
    if not wanted:
        return {}
    found = _near_in_postgres(wanted) if connection.vendor == "postgresql" else near_in_python(wanted)
    # A word the directory holds is taken as typed: "martin" is not also "marton" and "martil", and
    # "cardiologie" not "radiologie" (each near word is one more scan of the trigram index).
    return {word: [word] if word in near else near for word, near in found.items()}


def _near_in_postgres(wanted: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {word: [] for word in wanted}
    with connection.cursor() as cursor:
        # The `%` operator's threshold is a session setting. Set on every call rather than once per
        # connection: a SET made inside a transaction that is rolled back is undone with it.
        cursor.execute(f"SET pg_trgm.similarity_threshold = {TRIGRAM_FLOOR}")
        cursor.execute(_SQL_NEAR, (wanted, TWO_EDITS_LENGTH, MAX_NEAR_WORDS))
        for word, near in cursor.fetchall():
            found[word].append(near)
    return found


def near_in_python(wanted: list[str]) -> dict[str, list[str]]:
    """The SQLite path: the lexicon words of a compatible length, edit distance computed here."""
    found: dict[str, list[str]] = {}
    for word in wanted:
        candidates = (
            SearchWord.objects.annotate(length=Length("word"))
            .filter(length__gte=len(word) - 2, length__lte=len(word) + 2)
            .values_list("word", flat=True)
        )
        scored = sorted(
            (distance, candidate)
            for candidate in candidates
            if (distance := edit_distance(word, candidate, 2)) <= allowed_edits(word, candidate)
        )
        found[word] = [candidate for _distance, candidate in scored[:MAX_NEAR_WORDS]]
    return found


def edit_distance(left: str, right: str, limit: int) -> int:
    """Levenshtein distance of two words, or `limit + 1` as soon as it is known to exceed `limit`.

    Same definition as fuzzystrmatch's `levenshtein` (insertions, deletions, replacements; a swap of two
    letters counts two), so SQLite and PostgreSQL agree on what is near.
    """
    if abs(len(left) - len(right)) > limit:
        return limit + 1
    previous = list(range(len(right) + 1))
    for row, left_char in enumerate(left, start=1):
        current = [row]
        for column, right_char in enumerate(right, start=1):
            current.append(
                min(
                    previous[column] + 1,
                    current[column - 1] + 1,
                    previous[column - 1] + (left_char != right_char),
                )
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


def holding_words(spellings: Iterable[str]) -> dict[str, list[str] | None]:
    """Each spelling -> the lexicon words that contain it (itself included), or None when it cannot be
    listed: more than MAX_HOLDING_WORDS words, a number or a 1-2 letter fragment (not in the lexicon).

    A spelling has no space, and `search_text` is its words joined by single spaces, so `search_text`
    contains the spelling exactly when one of its words does: with a complete lexicon, « one of these words »
    is the substring condition, answered by exact posting lists. The spelling itself is always listed, so a
    whole word typed still finds a row whose words never reached the lexicon. PostgreSQL only (the SQLite
    search keeps its substring conditions): {} elsewhere.
    """
    if connection.vendor != "postgresql":
        return {}
    found: dict[str, list[str] | None] = dict.fromkeys(spellings)
    listable = sorted(spelling for spelling in found if " " not in spelling and lexicon_words(spelling))
    if not listable:
        return found
    words: dict[str, list[str]] = {spelling: [] for spelling in listable}
    with connection.cursor() as cursor:
        cursor.execute(_SQL_HOLDING, (listable, MAX_HOLDING_WORDS + 1))
        for spelling, word in cursor.fetchall():
            words[spelling].append(word)
    for spelling, holding in words.items():
        if len(holding) <= MAX_HOLDING_WORDS:
            found[spelling] = sorted({spelling, *holding})
    return found
