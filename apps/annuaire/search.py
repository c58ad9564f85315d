"""`search_directory` and `autocomplete`: the directory search over published BAL addresses.

Everything a user types is normalised like the stored `search_*` columns (text.normalize), split into words,
and each word must match `search_text`: as a substring (LIKE, served by the trigram GIN index) or, for a
word of 4+ letters, as one of the directory's words within one edit (two from 8 letters: lexicon.py, so
"dupond" finds "dupont" and « Alise Martin » finds Alice Martin). Ranking puts hosted BALs first, then name
prefixes, then word similarity. Structured criteria (kind, department, postcode, FINESS, profession code)
are plain equality filters. See docs/decisions/0003-directory-search.md and 0026-multi-word-typos.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from django.db import connection
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Collate

from apps.annuaire.identifiers import is_valid_finess
from apps.annuaire.lexicon import near_words
from apps.annuaire.models import BalAddress, BalKind, Source
from apps.annuaire.text import normalize

STOP_WORDS = frozenset(
    {"a", "au", "aux", "de", "des", "du", "d", "en", "et", "l", "la", "le", "les", "chez", "sur"}
)
# What people type -> the wording of the nomenclature, when trigram similarity alone is too far apart.
EXPANSIONS = {
    "generaliste": "generale",
    "cardiologue": "cardiologie",
    "pediatre": "pediatrie",
    "psychiatre": "psychiatrie",
    "dermatologue": "dermatologie",
    "dermato": "dermatologie",
    "gyneco": "gynecologie",
    "gynecologue": "gynecologie",
    "radiologue": "radio",
    "oncologue": "oncologie",
    "kine": "kinesitherapeute",
    "infirmiere": "infirmier",
    "labo": "laboratoire",
}
SELECT_FIELDS = (
    "id", "address", "kind", "display_name", "profession_label", "specialty_label", "structure_name",
    "service", "postcode", "town", "department_code", "source",
)  # fmt: skip
MAX_RESULTS = 1000  # pages beyond this are refused: the directory is searched, not downloaded


@dataclass
class SearchCriteria:
    q: str = ""  # free text: name, profession, specialty, structure, town ("cardiologue à Lyon")
    profession: str = ""  # profession code (exact)
    place: str = ""  # town, postcode or department
    structure: str = ""  # structure name or FINESS
    kind: str = ""  # PER / ORG / APP / CAB

    @classmethod
    def from_mapping(cls, data) -> SearchCriteria:
        return cls(**{f.name: str(data.get(f.name, "") or "").strip()[:120] for f in fields(cls)})

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def as_details(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


def words(text: str) -> list[str]:
    return [word for word in normalize(text).split() if word not in STOP_WORDS]


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _word_condition(word: str, near: dict[str, list[str]], field: str = "search_text") -> Q:
    """One word of the query: a substring of `field`, its nomenclature wording, or (4+ letters) a
    directory word within its allowed edits (lexicon.near_words: « ajacio » -> ajaccio).

    Near words are searched like typed words (on the trigram index of the field). The typo itself is
    resolved against the small lexicon table, never against the 1.5 million BAL rows.
    """
    return _one_of(_spellings(word, near), field)


def _spellings(word: str, near: dict[str, list[str]]) -> list[str]:
    """The word as typed, its nomenclature wording and its near words (those not already holding it)."""
    found = [word]
    expansion = EXPANSIONS.get(word)
    if expansion and expansion != word:
        found.append(expansion)
    found += [similar for similar in near.get(word, ()) if similar != word and word not in similar]
    return found


def _one_of(spellings: list[str], field: str) -> Q:
    """`field` holds one of these spellings: a LIKE for one, else one regular expression `a|b|c`.

    One operator per query word, so that all the words of a search are conditions of the same trigram
    index scan and PostgreSQL intersects them inside the index. An OR of LIKEs per word was planned as a
    BitmapOr, or folded back into a filter over every row of the commonest word.
    """
    if len(spellings) == 1:
        return Q(**{f"{field}__contains": spellings[0]})
    # Sorted, not closest first: pg_trgm then keeps far more of the expression's trigrams (measured:
    # « moneau » and its 6 near words, 33,110 index rows to recheck closest first, 1,114 sorted).
    return Q(**{f"{field}__regex": "|".join(re.escape(spelling) for spelling in sorted(spellings))})


def _all_in(query_words: list[str], near: dict[str, list[str]], field: str = "search_name") -> Q:
    """Every word (or one of its spellings) in `field`, in any order: one condition per word.

    Not one expression of the orderings of the spellings ("alice.*martin|martin.*alice|…", the first
    version of ADR 0026): with a few near words per word it grew to dozens of alternatives, more trigrams
    than pg_trgm keeps from one expression, and the index then returned a fifth of the directory to
    recheck (« cauinet dijn »: 316,888 rows, 2.4 s; one condition per word: 1,235 rows, 59 ms).
    """
    condition = Q()
    for word in query_words:
        condition &= _one_of(_spellings(word, near), field)
    return condition


def _best_form(word: str, near: dict[str, list[str]]) -> str:
    """The word as typed when the directory knows it (or nothing is near), else its closest near word."""
    close = near.get(word) or []
    if not close or word in close:
        return word
    return close[0]


def _place_condition(place: str, near: dict[str, list[str]]) -> Q:
    compact = place.replace(" ", "").upper()
    if compact.isdigit() and len(compact) == 5:
        return Q(postcode=compact)
    if compact in ("2A", "2B") or (compact.isdigit() and len(compact) in (2, 3)):
        return Q(department_code=compact)
    condition = Q()
    for word in words(place):
        condition &= _word_condition(word, near)
    return condition


def _structure_condition(structure: str, near: dict[str, list[str]]) -> Q:
    compact = structure.replace(" ", "").upper()
    if is_valid_finess(compact):
        return Q(structure__finess=compact)
    condition = Q()
    for word in words(structure):
        condition &= _word_condition(word, near)
    return condition


def near_words_of(criteria: SearchCriteria) -> dict[str, list[str]]:
    """The near words of every free-text word of the criteria: one lexicon query per search."""
    typed = [] if "@" in criteria.q else words(criteria.q)
    return near_words({*typed, *words(criteria.place), *words(criteria.structure)})


def filtered(
    criteria: SearchCriteria, near: dict[str, list[str]] | None = None, text_field: str = "search_text"
) -> QuerySet[BalAddress]:
    """Published BALs matching every criterion, the free-text words looked for in `text_field`."""
    near = near_words_of(criteria) if near is None else near
    queryset = BalAddress.objects.filter(is_active=True, liste_rouge=False)
    if "@" in criteria.q:  # a chosen suggestion, or a pasted address
        queryset = queryset.filter(address=criteria.q.strip().lower())
    typed = [] if "@" in criteria.q else words(criteria.q)
    if typed:
        queryset = queryset.filter(_all_in(typed, near, text_field))
    if criteria.place:
        queryset = queryset.filter(_place_condition(criteria.place, near))
    if criteria.structure:
        queryset = queryset.filter(_structure_condition(criteria.structure, near))
    if criteria.kind in BalKind.values:
        queryset = queryset.filter(kind=criteria.kind)
    if criteria.profession:
        queryset = queryset.filter(profession_code=criteria.profession)
    return queryset


def _ranked(
    queryset: QuerySet[BalAddress], criteria: SearchCriteria, near: dict[str, list[str]]
) -> QuerySet[BalAddress]:
    """Hosted BALs first, then names starting like the query, then (PostgreSQL) closeness to the name.

    Ranking reads the query as corrected (« phamacie bordeaux » as "pharmacie bordeaux"), so the entry
    whose name holds the words comes before entries that only mention them (a pharmacist in Bordeaux).
    """
    query_words = [_best_form(word, near) for word in words(criteria.q)]
    if not query_words:
        return queryset.order_by("search_name", "id")
    first = query_words[0]
    if _is_postgres():
        # Cheap on purpose (short column): the rank is computed for every matching row before the LIMIT.
        rank = RawSQL(
            "(CASE WHEN source = 'local' THEN 2 ELSE 0 END)"
            " + (CASE WHEN search_name LIKE %s THEN 1 ELSE 0 END) + word_similarity(%s, search_name)",
            (first.replace("%", "").replace("_", "") + "%", " ".join(query_words)),
        )
        return queryset.annotate(rank=rank).order_by("-rank", "search_name", "id")
    # SQLite (`make run`): the same first two tiers, then alphabetical.
    portable_rank = Case(When(source=Source.LOCAL, then=Value(2)), default=Value(0)) + Case(
        When(search_name__startswith=first, then=Value(1)), default=Value(0)
    )
    return queryset.annotate(rank=portable_rank).order_by("-rank", "search_name", "id")


@dataclass
class SearchPage:
    results: list[BalAddress]
    page: int
    has_next: bool
    page_size: int

    @property
    def start_index(self) -> int:
        return (self.page - 1) * self.page_size + 1


def _ranked_page(criteria: SearchCriteria, near: dict[str, list[str]]) -> QuerySet[BalAddress]:
    """The matching BALs, ranked; on PostgreSQL with free text, a bounded set of them.

    Ranking reads every row it orders, and common words match tens of thousands of rows at 1.5 M entries
    (« phamacie bordeaux »: 13,392 BALs mention a pharmacy and Bordeaux, 12,000 heap pages). What the
    ranking puts first is always kept: the hosted BALs and the entries whose own name holds every word
    (found by the short name column's trigram index); the other matches are the first MAX_RESULTS + 1 the
    text index returns, as many as the pages can show. One UNION query, ranked once.
    """
    matching = filtered(criteria, near)
    if not _is_postgres() or "@" in criteria.q or not words(criteria.q):
        return _ranked(matching, criteria, near).only(*SELECT_FIELDS)

    def unordered(queryset: QuerySet[BalAddress]) -> QuerySet[BalAddress]:
        return _ranked(queryset, criteria, near).only(*SELECT_FIELDS, "search_name").order_by()

    hosted = unordered(matching.filter(source=Source.LOCAL))
    named = unordered(filtered(criteria, near, "search_name"))[:MAX_RESULTS]
    first_matches = unordered(matching)[: MAX_RESULTS + 1]
    # "rank" is annotated by _ranked, which the django-stubs plugin cannot follow through the helper.
    return hosted.union(named, first_matches).order_by("-rank", "search_name", "id")  # type: ignore[misc]


def search_directory(criteria: SearchCriteria, *, page: int = 1, page_size: int = 20) -> SearchPage:
    """One page of published BALs matching the criteria, best first (one query)."""
    page = max(1, min(page, MAX_RESULTS // page_size))
    if criteria.is_empty():
        return SearchPage([], page, False, page_size)
    near = near_words_of(criteria)
    queryset = _ranked_page(criteria, near)
    start = (page - 1) * page_size
    rows = list(queryset[start : start + page_size + 1])
    return SearchPage(rows[:page_size], page, len(rows) > page_size, page_size)


def _prefixed(queryset: QuerySet[BalAddress], field: str, prefix: str) -> QuerySet[BalAddress]:
    """Rows whose `field` starts with `prefix`, in index order: a range on the "C"-collated btree
    (migration 0003), which both filters and orders, so LIMIT stops after a few index entries."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    if not _is_postgres():
        return queryset.filter(**{f"{field}__gte": prefix, f"{field}__lt": upper}).order_by(field, "id")
    key = Collate(F(field), "C")
    return (
        queryset.annotate(prefix_key=key)
        .filter(prefix_key__gte=prefix, prefix_key__lt=upper)
        .order_by("prefix_key", "id")
    )


MAX_NAMED_CANDIDATES = 1000  # autocomplete: names holding every word that are ranked


def autocomplete(text: str, *, limit: int = 10) -> list[BalAddress]:
    """Suggestions while typing, cheapest strategy first:

    1. the whole input prefixes a name ("moreau j") - btree range scan, stops at `limit`;
    2. to fill up: first word prefixes a name, other words anywhere ("moreau cardio lyon");
    3. only when neither found anything: entries whose name holds every word, typos corrected
       (« phamacie bordeaux »), ranked;
    4. only when that found nothing either: the general search (substrings, typos), ranked.
    """
    query_words = words(text)
    if not query_words or len("".join(query_words)) < 2:
        return []
    base = BalAddress.objects.filter(is_active=True, liste_rouge=False).only(*SELECT_FIELDS)
    if "@" in text:
        return list(_prefixed(base, "address", text.strip().lower())[:limit])
    found: list[BalAddress] = []
    joined = " ".join(query_words)
    # BALs hosted here first (the correspondents people write to most), then addresses typed from their
    # start ("secretariat.car"): both are btree range scans that stop at `limit` (issue 14).
    hosted = base.filter(source=Source.LOCAL)
    steps = [_prefixed(hosted, "search_name", joined)]
    typed = text.strip().lower()
    if " " not in typed:
        steps += [_prefixed(hosted, "address", typed), _prefixed(base, "address", typed)]
    steps.append(_prefixed(base, "search_name", joined))
    if len(query_words) > 1:
        second = _prefixed(base, "search_name", query_words[0])
        for word in query_words[1:]:
            second = second.filter(search_text__contains=word)
        steps.append(second)
    for queryset in steps:
        missing = limit - len(found)
        if missing <= 0:
            break
        found += list(queryset.exclude(pk__in=[bal.pk for bal in found])[:missing])
    if found:
        # Prefix matches are what the user is typing: topping them up with fuzzy matches would cost a
        # trigram scan over common words on every keystroke for suggestions nobody asked for.
        return found
    criteria = SearchCriteria(q=text)
    near = near_words_of(criteria)
    # Entries whose own name holds every word (« pharmacie bordeaux », « martin alice »): the trigram index
    # of the short name column intersects the words, so this stays cheap where the same words anywhere in
    # search_text would be rechecked on tens of thousands of rows (a town, a profession). These are also
    # what the general ranking would put first.
    published = BalAddress.objects.filter(is_active=True, liste_rouge=False)
    named = published.filter(_all_in(query_words, near))
    if _is_postgres():
        # Ranked among the first MAX_NAMED_CANDIDATES the index returns: a misspelt common name matches
        # tens of thousands of names (« peioreau »: 25,045 with perreau, petoreau…), each read to be ranked.
        named = published.filter(id__in=named.values("id")[:MAX_NAMED_CANDIDATES])
    found = list(_ranked(named, criteria, near).only(*SELECT_FIELDS)[:limit])
    if found:
        return found
    return list(_ranked(filtered(criteria, near), criteria, near).only(*SELECT_FIELDS)[:limit])
