"""Accent-, case- and punctuation-free text for search columns and queries.

The same function feeds the stored `search_*` columns (importer, local publication) and the user's query,
so PostgreSQL only ever compares plain ASCII lowercase: no `unaccent()` in the hot path and the SQLite
fallback behaves the same way.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Ligatures NFKD does not split.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")


# Cached: an extraction repeats the same first names, professions, towns and structures millions of times.
@lru_cache(maxsize=200_000)
def normalize(value: str | None) -> str:
    """'Dr Hélène  ŒUVRARD-Saint' -> 'dr helene oeuvrard saint'."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()


def join_normalized(*parts: str | None) -> str:
    return " ".join(filter(None, (normalize(part) for part in parts)))
