"""`search_directory` and `autocomplete`: the directory search over published BAL addresses.

Everything a user types is normalised like the stored `search_*` columns (text.normalize), split into words,
and each word must match `search_text`: as a substring or, for a word of 4+ letters, as one of the
directory's words within one edit (two from 8 letters: lexicon.py, so "dupond" finds "dupont" and « Alise
Martin » finds Alice Martin). On PostgreSQL both are first resolved to lexicon words (those holding the typed
word, the near words) and looked up in an exact-word GIN index; a fragment held by too many words falls back
to the trigram index. Ranking puts hosted BALs first, then name
prefixes, then word similarity. Structured criteria (kind, department, postcode, FINESS, profession code)
are plain equality filters. See docs/decisions/0003-directory-search.md and 0026-multi-word-typos.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from django.db import connection
from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Collate

from apps.annuaire.identifiers import is_valid_finess
from apps.annuaire.lexicon import holding_words, near_words
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
# PostgreSQL, free text: matches of each set that are read and ranked for the suggestions and the first
# pages (ADR 0026). Ranking reads every row it orders: 1,000 cost 8-13 ms of heap reads per set.
RANKED_CANDIDATES = 200


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


@dataclass(frozen=True)
class Lexicon:
    """What the lexicon says of the words of one search (two small queries, lexicon.py).

    `near`: each query word of 4+ letters -> its near words (typos). `holding` (PostgreSQL; empty on
    SQLite): each word as typed and its nomenclature wording -> the lexicon words that contain it (None
    when too many to list), each near word -> itself. With it a word is looked up in the exact-word
    indexes of migration 0008.
    """

    near: dict[str, list[str]]
    holding: dict[str, list[str] | None]


# Columns with an exact-word GIN index over `string_to_array(column, ' ')` (migration 0008).
WORD_INDEXED = ("search_text", "search_name")


def _word_condition(word: str, lexicon: Lexicon, field: str = "search_text") -> Q:
    """One word of the query: a substring of `field`, its nomenclature wording, or (4+ letters) a
    directory word within its allowed edits (lexicon.near_words: « ajacio » -> ajaccio).

    The typo itself is resolved against the small lexicon table, never against the 1.5 million BAL rows.
    """
    return _one_of(_spellings(word, lexicon.near), field, lexicon)


def _spellings(word: str, near: dict[str, list[str]]) -> list[str]:
    """The word as typed, its nomenclature wording and its near words (those not already holding it)."""
    found = [word]
    expansion = EXPANSIONS.get(word)
    if expansion and expansion != word:
        found.append(expansion)
    found += [similar for similar in near.get(word, ()) if similar != word and word not in similar]
    return found


def _one_of(spellings: list[str], field: str, lexicon: Lexicon) -> Q:
    """`field` holds one of these spellings.

    PostgreSQL, when the lexicon lists the words holding each spelling: `string_to_array(field, ' ') &&
    ARRAY[those words]`, served by the exact-word GIN index (migration 0008), which intersects the words
    of a search as exact posting lists. The trigram index had to recheck every row sharing the trigrams
    of a common word (« bordeaux »: 60,000 rows at 1.5 M entries, 40-60 ms on its own).
    Otherwise (SQLite, a fragment held by too many words): a LIKE for one spelling, else one regular
    expression `a|b|c` — one operator per query word, so that all the words of a search are conditions
    of the same trigram index scan (an OR of LIKEs per word was planned as a BitmapOr, or folded back into
    a filter over every row of the commonest word).
    """
    listed = [lexicon.holding.get(spelling) for spelling in spellings]
    if field in WORD_INDEXED and listed and all(words is not None for words in listed):
        words = sorted({word for holding in listed for word in holding or ()})
        # The column (one of WORD_INDEXED, never user input) as the index expression spells it, unqualified:
        # also right inside a subquery. The words are a parameter.
        sql = f"string_to_array({field}, ' ') && %s::text[]"
        return Q(RawSQL(sql, (words,), BooleanField()))  # noqa: S611
    if len(spellings) == 1:
        return Q(**{f"{field}__contains": spellings[0]})
    # Sorted, not closest first: pg_trgm then keeps far more of the expression's trigrams (measured:
    # « moneau » and its 6 near words, 33,110 index rows to recheck closest first, 1,114 sorted).
    return Q(**{f"{field}__regex": "|".join(re.escape(spelling) for spelling in sorted(spellings))})


def _all_in(query_words: list[str], lexicon: Lexicon, field: str = "search_name") -> Q:
    """Every word (or one of its spellings) in `field`, in any order: one condition per word.

    Not one expression of the orderings of the spellings ("alice.*martin|martin.*alice|…", the first
    version of ADR 0026): with a few near words per word it grew to dozens of alternatives, more trigrams
    than pg_trgm keeps from one expression, and the index then returned a fifth of the directory to
    recheck (« cauinet dijn »: 316,888 rows, 2.4 s; one condition per word: 1,235 rows, 59 ms).
    """
    condition = Q()
    for word in query_words:
        condition &= _one_of(_spellings(word, lexicon.near), field, lexicon)
    return condition


def _best_form(word: str, near: dict[str, list[str]]) -> str:
    """The word as typed when the directory knows it (or nothing is near), else its closest near word."""
    close = near.get(word) or []
    if not close or word in close:
        return word
    return close[0]


def _place_condition(place: str, lexicon: Lexicon) -> Q:
    compact = place.replace(" ", "").upper()
    if compact.isdigit() and len(compact) == 5:
        return Q(postcode=compact)
    if compact in ("2A", "2B") or (compact.isdigit() and len(compact) in (2, 3)):
        return Q(department_code=compact)
    condition = Q()
    for word in words(place):
        condition &= _word_condition(word, lexicon)
    return condition


def _structure_condition(structure: str, lexicon: Lexicon) -> Q:
    compact = structure.replace(" ", "").upper()
    if is_valid_finess(compact):
        return Q(structure__finess=compact)
    condition = Q()
    for word in words(structure):
        condition &= _word_condition(word, lexicon)
    return condition


def lexicon_of(criteria: SearchCriteria) -> Lexicon:
    """Near words of every free-text word of the criteria, and (PostgreSQL) the words each spelling is.

    What the user typed and its nomenclature wording keep their substring meaning ("cardio", "secretar"):
    the lexicon words holding them. A near word is a correction, so it stands for itself, a whole word:
    « tous » is "tours" or "rous", not also the 300 names holding "rous" (rousseau, rousset…).
    """
    typed = {*([] if "@" in criteria.q else words(criteria.q)), *words(criteria.place)}
    typed |= set(words(criteria.structure))
    near = near_words(typed)
    holding = holding_words({spelling for word in typed for spelling in _spellings(word, {})})
    if _is_postgres():
        for close in near.values():
            for word in close:
                holding.setdefault(word, [word])
    return Lexicon(near, holding)


def filtered(
    criteria: SearchCriteria, lexicon: Lexicon | None = None, text_field: str = "search_text"
) -> QuerySet[BalAddress]:
    """Published BALs matching every criterion, the free-text words looked for in `text_field`."""
    lexicon = lexicon_of(criteria) if lexicon is None else lexicon
    queryset = BalAddress.objects.filter(is_active=True, liste_rouge=False)
    if "@" in criteria.q:  # a chosen suggestion, or a pasted address
        queryset = queryset.filter(address=criteria.q.strip().lower())
    typed = [] if "@" in criteria.q else words(criteria.q)
    if typed:
        queryset = queryset.filter(_all_in(typed, lexicon, text_field))
    if criteria.place:
        queryset = queryset.filter(_place_condition(criteria.place, lexicon))
    if criteria.structure:
        queryset = queryset.filter(_structure_condition(criteria.structure, lexicon))
    if criteria.kind in BalKind.values:
        queryset = queryset.filter(kind=criteria.kind)
    if criteria.profession:
        queryset = queryset.filter(profession_code=criteria.profession)
    return queryset


def _ranked(
    queryset: QuerySet[BalAddress], criteria: SearchCriteria, lexicon: Lexicon
) -> QuerySet[BalAddress]:
    """Hosted BALs first, then names starting like the query, then (PostgreSQL) closeness to the name.

    Ranking reads the query as corrected (« phamacie bordeaux » as "pharmacie bordeaux"), so the entry
    whose name holds the words comes before entries that only mention them (a pharmacist in Bordeaux).
    """
    query_words = [_best_form(word, lexicon.near) for word in words(criteria.q)]
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


def _ranked_union(
    criteria: SearchCriteria, lexicon: Lexicon, sets: list[tuple[QuerySet[BalAddress], int | None]]
) -> QuerySet[BalAddress]:
    """The union of these sets of BALs, each cut at its bound (None: whole), ranked once: one query."""
    fields = (*SELECT_FIELDS, "search_name")
    unordered = [
        _ranked(queryset, criteria, lexicon).only(*fields).order_by()[:bound] for queryset, bound in sets
    ]
    # "rank" is annotated by _ranked, which the django-stubs plugin cannot follow through the helper.
    return unordered[0].union(*unordered[1:]).order_by("-rank", "search_name", "id")  # type: ignore[misc]


def candidates_for(page: int, page_size: int) -> int:
    """How many matches of each set the page ranks: RANKED_CANDIDATES while that covers the page asked
    for (pages 1-10 of 20, what people read), MAX_RESULTS beyond, so deep pages still exist. Pages 1-10
    all rank the same rows, so they neither repeat nor skip a result between them."""
    return RANKED_CANDIDATES if page * page_size <= RANKED_CANDIDATES else MAX_RESULTS


def _ranked_page(criteria: SearchCriteria, lexicon: Lexicon, bound: int) -> QuerySet[BalAddress]:
    """The matching BALs, ranked; on PostgreSQL with free text, a bounded set of them.

    Ranking reads every row it orders, and common words match tens of thousands of rows at 1.5 M entries
    (« phamacie bordeaux »: 13,392 BALs mention a pharmacy and Bordeaux, 12,000 heap pages). What the
    ranking puts first is kept: the hosted BALs, and the entries whose own name holds every word (the
    first `bound` the name index returns); the other matches are the first `bound` + 1 the text index
    returns (candidates_for: enough for the page asked for).
    """
    matching = filtered(criteria, lexicon)
    if not _is_postgres() or "@" in criteria.q or not words(criteria.q):
        return _ranked(matching, criteria, lexicon).only(*SELECT_FIELDS)
    hosted = matching.filter(source=Source.LOCAL)
    named = filtered(criteria, lexicon, "search_name")
    return _ranked_union(criteria, lexicon, [(hosted, None), (named, bound), (matching, bound + 1)])


def search_directory(criteria: SearchCriteria, *, page: int = 1, page_size: int = 20) -> SearchPage:
    """One page of published BALs matching the criteria, best first (one query)."""
    page = max(1, min(page, MAX_RESULTS // page_size))
    if criteria.is_empty():
        return SearchPage([], page, False, page_size)
    queryset = _ranked_page(criteria, lexicon_of(criteria), candidates_for(page, page_size))
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


def _more(queryset: QuerySet[BalAddress], found: list[BalAddress], limit: int) -> list[BalAddress]:
    """Up to `limit` suggestions in all: the next ones from `queryset`, those already found left out."""
    missing = limit - len(found)
    if missing <= 0:
        return []
    return list(queryset.exclude(pk__in=[bal.pk for bal in found])[:missing])


def _first_word_prefix(base: QuerySet[BalAddress], query_words: list[str]) -> QuerySet[BalAddress]:
    """The first word prefixes the name, the other words anywhere, as typed ("moreau cardio lyon").

    The other words go through the exact-word index (the lexicon words holding each, PostgreSQL) so that
    PostgreSQL can intersect their rows instead of walking every name with that prefix to check them:
    « laboratoire tous » walked the 30,000 names starting with « laboratoire » to find none (355 ms).
    """
    others = query_words[1:]
    lexicon = Lexicon({}, holding_words(others))
    condition = Q()
    for word in others:
        condition &= _one_of([word], "search_text", lexicon)
    return _prefixed(base, "search_name", query_words[0]).filter(condition)


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
    for queryset in steps:
        found += _more(queryset, found, limit)
    if len(query_words) > 1 and len(found) < limit:
        found += _more(_first_word_prefix(base, query_words), found, limit)
    if found:
        # Prefix matches are what the user is typing: topping them up with fuzzy matches would cost a
        # trigram scan over common words on every keystroke for suggestions nobody asked for.
        return found
    criteria = SearchCriteria(q=text)
    lexicon = lexicon_of(criteria)
    # Entries whose own name holds every word (« pharmacie bordeaux », « martin alice »): the index of the
    # short name column intersects the words, so this stays small where the same words anywhere in
    # search_text match tens of thousands of rows (a town, a profession). These are also what the general
    # ranking would put first.
    published = BalAddress.objects.filter(is_active=True, liste_rouge=False)
    found = _best(published.filter(_all_in(query_words, lexicon)), criteria, lexicon, limit)
    return found or _best(filtered(criteria, lexicon), criteria, lexicon, limit)


def _best(
    matching: QuerySet[BalAddress], criteria: SearchCriteria, lexicon: Lexicon, limit: int
) -> list[BalAddress]:
    """The `limit` best of these matches. PostgreSQL: ranked among the hosted ones and the first
    RANKED_CANDIDATES the index returns, since a misspelt common name matches tens of thousands of names
    (« peioreau »: 25,045 with perreau, petoreau…) and a town as many entries, each read to be ranked."""
    if not _is_postgres():
        return list(_ranked(matching, criteria, lexicon).only(*SELECT_FIELDS)[:limit])
    hosted = matching.filter(source=Source.LOCAL)
    ranked = _ranked_union(criteria, lexicon, [(hosted, None), (matching, RANKED_CANDIDATES)])
    return list(ranked[:limit])
