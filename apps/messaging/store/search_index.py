"""The per-BAL blind search index (docs/decisions/0008-messaging.md).

Text is tokenised by PostgreSQL's French full-text configuration `mssante_fr` (unaccent + French stemmer)
— the plaintext crosses the connection, is never stored — and each lexeme is stored as a 64-bit HMAC under
the BAL's search key, in a `tsvector` with a GIN index. A query is tokenised the same way, hashed with the
same key and run as a `tsquery`, so PostgreSQL's full-text machinery does the matching without ever seeing
a word. Subjects, sender names/addresses and attachment names also get prefix tokens (3 to 10 characters,
unstemmed) so a word being typed already matches. On SQLite (`make run` without PostgreSQL) the
tokenisation is done in Python, without stemming.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from apps.crypto.keys import derive_search_key

MAX_BODY_CHARS = 200_000
PREFIX_MIN, PREFIX_MAX = 3, 10
_WORD = re.compile(r"[0-9a-z]+")
# Words too common to be worth an index entry (the French config drops its own stop words on PostgreSQL).
_STOP = frozenset(
    [
        "le",
        "la",
        "les",
        "de",
        "des",
        "du",
        "un",
        "une",
        "et",
        "ou",
        "en",
        "au",
        "aux",
        "a",
        "ce",
        "ces",
        "dans",
        "par",
        "pour",
        "sur",
        "pas",
        "que",
        "qui",
        "ne",
        "se",
        "sa",
        "son",
        "ses",
        "vos",
        "votre",
        "nous",
        "vous",
        "il",
        "elle",
        "ils",
        "elles",
        "est",
        "sont",
        "re",
        "tr",
        "fwd",
    ]
)


# fold() runs over every submitted and delivered message body: a per-character Python loop over
# unicodedata.combining was most of its cost. The combining marks French decomposes into (U+0300-U+036F,
# all of combining class > 0 but U+034F) go in one regex pass; text keeping characters outside Latin,
# IPA and general punctuation/currency (which hold no combining mark) gets the exact per-character test.
_LATIN_MARKS = re.compile("[\u0300-\u034e\u0350-\u036f]+")
_BEYOND_LATIN = re.compile("[^\x00-\u02ff\u2000-\u20cf]")


def fold(text: str) -> str:
    """NFKD, without combining marks, casefolded: "Œdème Été" -> "œdeme ete"."""
    if text.isascii():  # NFKD leaves ASCII alone; casefold is lower() there
        return text.lower()
    stripped = _LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text))
    if _BEYOND_LATIN.search(stripped):
        stripped = "".join(ch for ch in stripped if not unicodedata.combining(ch))
    return stripped.casefold()


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if len(w) > 1 and w not in _STOP]


# Every byte but [0-9a-z] -> a space: an ASCII text split on it gives the words `_WORD` finds.
_NOT_WORD = bytes(b if (0x30 <= b <= 0x39 or 0x61 <= b <= 0x7A) else 0x20 for b in range(256))


def word_set(text: str) -> set[str]:
    """`set(words(text))`, the duplicates dropped before the filters (a letter repeats most of its words).
    An ASCII text (once folded) is split in bytes, three times faster than the regex on a 20 KB letter."""
    folded = fold(text)
    if folded.isascii():
        found = {w.decode() for w in set(folded.encode().translate(_NOT_WORD).split())}
    else:
        found = set(_WORD.findall(folded))
    return {w for w in found if len(w) > 1 and w not in _STOP}


def lexemes(text: str) -> set[str]:
    """The normalised lexemes of `text` (PostgreSQL French stemming when available)."""
    return lexemes_many([text])[0]


# word -> its lexemes under `mssante_fr` (one, or none for a stop word). The text is split on every
# non-alphanumeric character before PostgreSQL sees it, so each word is stemmed on its own and the memo is
# exact: a letter's words are mostly known already, and known words need no round trip. Per process,
# bounded (a few MB); a change of the text search configuration needs a restart of the processes.
_LEXEMES: dict[str, tuple[str, ...]] = {}
_LEXEMES_MAX = 50_000


def lexemes_many(texts: list[str]) -> list[set[str]]:
    """The lexemes of each text; words not met before are stemmed by PostgreSQL in one round trip."""
    # Split on every non-alphanumeric first: file names (2024_CR_DUPONT.pdf), addresses and URLs would
    # otherwise be single opaque tokens to the PostgreSQL parser.
    split = [word_set(text[:MAX_BODY_CHARS]) for text in texts]
    if connection.vendor != "postgresql":
        return [set(found) for found in split]
    needed = {word for found in split for word in found}
    known = {word: _LEXEMES[word] for word in needed if word in _LEXEMES}
    missing = needed - known.keys()
    if missing:
        learned = _stem(sorted(missing))
        known.update(learned)
        if len(_LEXEMES) + len(learned) > _LEXEMES_MAX:
            _LEXEMES.clear()
        _LEXEMES.update(learned)
    return [{lexeme for word in found for lexeme in known[word]} for found in split]


def _stem(words_: list[str]) -> dict[str, tuple[str, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w, tsvector_to_array(to_tsvector('mssante_fr', w)) FROM unnest(%s::text[]) AS w",
            [words_],
        )
        return {word: tuple(found) for word, found in cursor.fetchall()}


def prefixes(text: str) -> set[str]:
    out: set[str] = set()
    for word in words(text):
        for size in range(PREFIX_MIN, min(len(word), PREFIX_MAX) + 1):
            out.add(word[:size])
    return out


def _token(search_key: bytes, kind: str, value: str) -> str:
    return hmac.new(search_key, f"v1|{kind}|{value}".encode(), hashlib.sha256).hexdigest()[:16]


_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def _tokens(search_key: bytes, kind: str, values: Iterable[str]) -> set[str]:
    """`_token` of many values (~130 a message): HMAC-SHA256 (RFC 2104) from SHA-256 states keyed once,
    the inner one already holding "v1|kind|", copied per value. The same digests as hmac.new, at less
    than half the CPU of one hmac object per token."""
    block = hashlib.sha256().block_size
    if len(search_key) > block:
        search_key = hashlib.sha256(search_key).digest()
    search_key = search_key.ljust(block, b"\0")
    inner = hashlib.sha256(search_key.translate(_IPAD))
    inner.update(f"v1|{kind}|".encode())
    outer = hashlib.sha256(search_key.translate(_OPAD))
    tokens = set()
    for value in values:
        step = inner.copy()
        step.update(value.encode())
        final = outer.copy()
        final.update(step.digest())
        tokens.add(final.hexdigest()[:16])
    return tokens


@dataclass(frozen=True)
class Terms:
    """What a message is indexed by, before hashing under a BAL's key: lexemes and typed prefixes."""

    words: frozenset[str]
    prefixes: frozenset[str]


def terms_many(texts: list[tuple[list[str], list[str]]]) -> list[Terms]:
    """The terms of each (full_text, prefix_text) pair, with one PostgreSQL round trip for all."""
    joined = [" ".join([*full_text, *prefix_text]) for full_text, prefix_text in texts]
    found = lexemes_many(joined)
    return [
        Terms(frozenset(words_), frozenset(p for text in prefix_text for p in prefixes(text)))
        for words_, (_full, prefix_text) in zip(found, texts, strict=True)
    ]


def tokens_for(mailbox_key: bytes, terms: Terms) -> str:
    """The space-separated tokens to store in `MessageCopy.search_tokens` (a tsvector literal)."""
    key = derive_search_key(mailbox_key)
    tokens = _tokens(key, "w", terms.words) | _tokens(key, "p", terms.prefixes)
    return " ".join(sorted(tokens))


def build_tokens(mailbox_key: bytes, *, full_text: Iterable[str], prefix_text: Iterable[str]) -> str:
    """`tokens_for` the terms of one message."""
    (terms,) = terms_many([(list(full_text), list(prefix_text))])
    return tokens_for(mailbox_key, terms)


def query_groups(mailbox_key: bytes, query: str) -> list[list[str]]:
    """For each query word, the tokens that would match it (its lexeme, or it as a prefix); AND of ORs."""
    key = derive_search_key(mailbox_key)
    groups: list[list[str]] = []
    for word in words(query)[:8]:
        # One round trip per word keeps the word -> lexeme correspondence (queries have a few words).
        options = {_token(key, "w", lexeme) for lexeme in lexemes(word)}
        if len(word) >= PREFIX_MIN:
            options.add(_token(key, "p", word[:PREFIX_MAX]))
        if options:
            groups.append(sorted(options))
    return groups


def tsquery(groups: list[list[str]]) -> str:
    return " & ".join("(" + " | ".join(group) + ")" for group in groups)
