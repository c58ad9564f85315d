"""Structured arguments of IMAP commands: sequence sets, FETCH attributes, SEARCH keys, flags, dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from apps.imap.tokens import Atom, ParseError, String, Token, astring, atom

MAX_NUMBER = 4_294_967_295
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def number(text: str, *, nonzero: bool = False) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise ParseError(f"number expected, got {text[:20]!r}")
    value = int(text)
    if value > MAX_NUMBER or (nonzero and value == 0):
        raise ParseError(f"number out of range: {text[:20]}")
    return value


@dataclass(frozen=True)
class SequenceSet:
    """`1:4,7,9:*`: ranges (low, high) where None stands for `*` (the largest number in use)."""

    ranges: tuple[tuple[int | None, int | None], ...]

    @classmethod
    def parse(cls, text: str) -> SequenceSet:
        if not text:
            raise ParseError("empty sequence set")
        ranges = []
        for part in text.split(","):
            low, _, high = part.partition(":")
            first = cls._bound(low)
            ranges.append((first, cls._bound(high) if high else first))
        return cls(tuple(ranges))

    @staticmethod
    def _bound(text: str) -> int | None:
        return None if text == "*" else number(text, nonzero=True)

    def bounds(self, star: int) -> Iterator[tuple[int, int]]:
        """Each range as (low, high) with `*` = star, low <= high (`5:2` means `2:5`)."""
        for low, high in self.ranges:
            a = star if low is None else low
            b = star if high is None else high
            yield (a, b) if a <= b else (b, a)

    def contains(self, value: int, star: int) -> bool:
        return any(low <= value <= high for low, high in self.bounds(star))

    def __str__(self) -> str:
        parts = []
        for low, high in self.ranges:
            a, b = ("*" if low is None else str(low)), ("*" if high is None else str(high))
            parts.append(a if a == b else f"{a}:{b}")
        return ",".join(parts)


# ---- FETCH ----------------------------------------------------------------------------------------------
_SIMPLE_FETCH = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "UID"}
_WHOLE_FETCH = {"RFC822": "", "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}
_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SECTION_ITEM = re.compile(
    r"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<(\d+)(?:\.(\d+))?>)?$", re.S
)
_SECTION_TEXTS = {"HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"}


@dataclass(frozen=True)
class Section:
    part: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, TEXT, MIME, HEADER.FIELDS, HEADER.FIELDS.NOT
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        spec = ".".join(str(n) for n in self.part)
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True)
class FetchAtt:
    """One FETCH data item. `kind`: a simple name (FLAGS, ENVELOPE…), or BODY / BINARY / BINARY.SIZE with
    a section; `peek` leaves \\Seen alone; `partial` is (origin, length or None)."""

    kind: str
    section: Section | None = None
    partial: tuple[int, int | None] | None = None
    peek: bool = False

    @property
    def reads_content(self) -> bool:
        """Whether this item hands out message content (journaled as a consultation)."""
        return self.section is not None and self.kind != "BINARY.SIZE"

    def response_name(self) -> str:
        if self.section is None:
            return self.kind
        name = f"{self.kind}[{self.section}]"
        if self.partial is not None and self.kind != "BINARY.SIZE":
            name += f"<{self.partial[0]}>"
        return name


def parse_fetch_atts(token: Token) -> tuple[FetchAtt, ...]:
    if isinstance(token, Atom) and token.upper in _MACROS:
        return tuple(FetchAtt(name) for name in _MACROS[token.upper])
    items = token if isinstance(token, list) else [token]
    if not items:
        raise ParseError("empty FETCH attribute list")
    return tuple(_fetch_att(atom(item)) for item in items)


def _fetch_att(text: str) -> FetchAtt:
    upper = text.upper()
    if upper in _SIMPLE_FETCH:
        return FetchAtt(upper)
    if upper in _WHOLE_FETCH:
        # RFC822 = BODY[] (sets \Seen), RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT]
        return FetchAtt(upper, section=Section(text=_WHOLE_FETCH[upper]), peek=upper == "RFC822.HEADER")
    match = _SECTION_ITEM.match(upper)
    if match is None:
        raise ParseError(f"unknown FETCH attribute {text[:40]!r}")
    name, spec, origin, length = match.groups()
    kind = name.replace(".PEEK", "")
    section = _section(spec, binary=kind != "BODY")
    partial = None
    if origin is not None:
        partial = (number(origin), number(length, nonzero=True) if length is not None else None)
    return FetchAtt(kind, section=section, partial=partial, peek=name.endswith(".PEEK"))


def _section(spec: str, *, binary: bool) -> Section:
    head, _, rest = spec.partition(" ")
    parts: list[int] = []
    text = ""
    for index, piece in enumerate(head.split(".") if head else []):
        if piece.isdigit() and not text:
            parts.append(number(piece, nonzero=True))
            continue
        text = ".".join(head.split(".")[index:])
        break
    if text and (binary or text not in _SECTION_TEXTS or (text == "MIME" and not parts)):
        raise ParseError(f"invalid section {spec[:60]!r}")
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        inner = rest.strip()
        if not (inner.startswith("(") and inner.endswith(")")) or not inner[1:-1].split():
            raise ParseError("HEADER.FIELDS needs a list of header names")
        fields = tuple(name.upper() for name in inner[1:-1].split())
    elif rest:
        raise ParseError(f"invalid section {spec[:60]!r}")
    return Section(tuple(parts), text, fields)


# ---- SEARCH ---------------------------------------------------------------------------------------------
_NO_ARG = {
    "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
    "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN",
}  # fmt: skip
_STRING_ARG = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO", "KEYWORD", "UNKEYWORD"}
_DATE_ARG = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
_NUMBER_ARG = {"LARGER", "SMALLER"}


@dataclass(frozen=True)
class SearchKey:
    """A node of the search program: `name` is an RFC 3501 key (ALL, SEEN, FROM, OR, NOT, AND, UID, SET,
    HEADER…); `args` its arguments (str, int, date, SequenceSet or SearchKey)."""

    name: str
    args: tuple = ()


def parse_search(tokens: list[Token]) -> tuple[str, SearchKey]:
    """(charset, program) of a SEARCH command's arguments."""
    charset = "US-ASCII"
    if len(tokens) >= 2 and isinstance(tokens[0], Atom) and tokens[0].upper == "CHARSET":
        charset = astring(tokens[1]).decode("ascii", "replace").upper()
        tokens = tokens[2:]
    if not tokens:
        raise ParseError("SEARCH needs at least one key")
    keys, rest = _search_keys(tokens, 0)
    if rest:
        raise ParseError("unexpected SEARCH arguments")
    return charset, keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))


def _search_keys(tokens: list[Token], depth: int) -> tuple[list[SearchKey], list[Token]]:
    keys = []
    while tokens:
        key, tokens = _search_key(tokens, depth)
        keys.append(key)
    return keys, tokens


def _search_key(tokens: list[Token], depth: int) -> tuple[SearchKey, list[Token]]:
    if depth > 32:
        raise ParseError("search program nested too deeply")
    first, rest = tokens[0], tokens[1:]
    if isinstance(first, list):
        inner, _ = _search_keys(first, depth + 1)
        if not inner:
            raise ParseError("empty search list")
        return SearchKey("AND", tuple(inner)), rest
    if isinstance(first, String):
        raise ParseError("search key expected, got a string")
    name = first.upper
    if name in _NO_ARG:
        return SearchKey(name), rest
    if name == "NOT":
        inner_key, rest = _search_key(_need(rest, name), depth + 1)
        return SearchKey("NOT", (inner_key,)), rest
    if name == "OR":
        left, rest = _search_key(_need(rest, name), depth + 1)
        right, rest = _search_key(_need(rest, name), depth + 1)
        return SearchKey("OR", (left, right)), rest
    if name in _STRING_ARG:
        return SearchKey(name, (astring(_need(rest, name)[0]).decode("utf-8", "replace"),)), rest[1:]
    if name == "HEADER":
        if len(rest) < 2:
            raise ParseError("HEADER needs a field name and a string")
        field = astring(rest[0]).decode("ascii", "replace").upper()
        return SearchKey(name, (field, astring(rest[1]).decode("utf-8", "replace"))), rest[2:]
    if name in _DATE_ARG:
        return SearchKey(name, (parse_date(astring(_need(rest, name)[0]).decode("ascii", "replace")),)), rest[
            1:
        ]
    if name in _NUMBER_ARG:
        return SearchKey(name, (number(atom(_need(rest, name)[0])),)), rest[1:]
    if name == "UID":
        return SearchKey("UID", (SequenceSet.parse(atom(_need(rest, name)[0])),)), rest[1:]
    if name[:1].isdigit() or name[:1] == "*":
        return SearchKey("SET", (SequenceSet.parse(name),)), rest
    raise ParseError(f"unknown search key {name[:30]!r}")


def _need(rest: list[Token], name: str) -> list[Token]:
    if not rest:
        raise ParseError(f"{name} needs an argument")
    return rest


def parse_date(text: str) -> dt.date:
    """`1-Feb-1994` / `01-Feb-1994` (RFC 3501 date)."""
    day, _, rest = text.partition("-")
    month, _, year = rest.partition("-")
    if month.title() not in _MONTHS or not day.isdigit() or not year.isdigit() or len(year) != 4:
        raise ParseError(f"invalid date {text[:30]!r}")
    try:
        return dt.date(int(year), _MONTHS.index(month.title()) + 1, int(day))
    except ValueError:
        raise ParseError(f"invalid date {text[:30]!r}") from None


def parse_datetime(text: str) -> dt.datetime:
    """APPEND's date-time: `17-Jul-1996 02:44:25 -0700`."""
    try:
        return dt.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        raise ParseError(f"invalid date-time {text[:40]!r}") from None


def format_datetime(value: dt.datetime) -> str:
    return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.strftime('%Y %H:%M:%S %z')}"


def parse_flags(token: Token) -> tuple[str, ...]:
    """A flag list `(\\Seen $Label)` or a single flag."""
    items = token if isinstance(token, list) else [token]
    flags = []
    for item in items:
        value = atom(item)
        if value.startswith("\\") and value[1:].title() not in {
            "Seen",
            "Answered",
            "Flagged",
            "Deleted",
            "Draft",
        }:
            raise ParseError(f"unknown system flag {value[:30]!r}")
        flags.append(value.title() if value.startswith("\\") else value)
    return tuple(flags)
