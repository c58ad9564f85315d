"""IMAP commands: a whole received command (line and literals) -> `Command` with typed arguments.

`parse_command` raises `CommandError` carrying the tag when it could read one (the server answers
`<tag> BAD …`), else `* BAD`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from apps.imap import utf7
from apps.imap.items import (
    SequenceSet,
    parse_datetime,
    parse_fetch_atts,
    parse_flags,
    parse_search,
)
from apps.imap.tokens import Atom, ParseError, String, Token, astring, atom, tokenize

_TAG_FORBIDDEN = set('(){ %*"\\+')
_NO_ARGS = {
    "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "EXPUNGE", "UNSELECT", "IDLE", "NAMESPACE",
}  # fmt: skip
_ONE_MAILBOX = {"CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT"}
_STATUS_ITEMS = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE"}


class CommandError(ParseError):
    def __init__(self, message: str, tag: str | None = None) -> None:
        super().__init__(message)
        self.tag = tag


@dataclass(frozen=True)
class Command:
    tag: str
    name: str
    uid: bool = False
    args: dict[str, Any] = field(default_factory=dict)


def mailbox_name(token: Token) -> str:
    """A mailbox argument decoded from modified UTF-7 (`INBOX` in any case is the inbox)."""
    raw = astring(token)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        # Clients that ENABLE UTF8=ACCEPT would send UTF-8; we do not advertise it, but accept it.
        return raw.decode("utf-8", "replace")
    try:
        name = utf7.decode(text)
    except utf7.Utf7Error as exc:
        raise ParseError(str(exc)) from None
    return "INBOX" if name.upper() == "INBOX" else name


def parse_command(data: bytes) -> Command:
    try:
        tokens = tokenize(data)
    except ParseError as exc:
        raise CommandError(str(exc), _guess_tag(data)) from None
    if len(tokens) < 2 or not isinstance(tokens[0], Atom) or not isinstance(tokens[1], Atom):
        raise CommandError("tag and command expected", _guess_tag(data))
    tag = tokens[0].value
    if set(tag) & _TAG_FORBIDDEN:
        raise CommandError("invalid tag", None)
    name, rest, uid = tokens[1].upper, tokens[2:], False
    if name == "UID":
        if not rest or not isinstance(rest[0], Atom):
            raise CommandError("UID needs a command", tag)
        name, rest, uid = rest[0].upper, rest[1:], True
        if name not in {"FETCH", "SEARCH", "STORE", "COPY", "MOVE", "EXPUNGE"}:
            raise CommandError(f"UID {name[:20]} is not a command", tag)
    try:
        return Command(tag, name, uid, _arguments(name, rest, uid))
    except ParseError as exc:
        raise CommandError(str(exc), tag) from None


def _guess_tag(data: bytes) -> str | None:
    head = data.split(b" ", 1)[0]
    try:
        tag = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    return tag if tag and not set(tag) & _TAG_FORBIDDEN and tag.isprintable() and len(tag) < 64 else None


def _count(rest: list[Token], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(rest) <= high:
        raise ParseError("wrong number of arguments")


def _arguments(name: str, rest: list[Token], uid: bool) -> dict[str, Any]:
    if name in _NO_ARGS:
        if name == "EXPUNGE" and uid:
            _count(rest, 1)
            return {"set": SequenceSet.parse(atom(rest[0]))}
        _count(rest, 0)
        return {}
    if name in _ONE_MAILBOX:
        _count(rest, 1)
        return {"mailbox": mailbox_name(rest[0])}
    parser = _PARSERS.get(name)
    if parser is None:
        raise ParseError(f"unknown command {name[:20]!r}")
    return parser(rest)


def _login(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2)
    return {"user": astring(rest[0]).decode("utf-8", "replace"), "password": astring(rest[1])}


def _authenticate(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 1, 2)
    initial = astring(rest[1]).decode("ascii", "replace") if len(rest) == 2 else None
    return {"mechanism": atom(rest[0]).upper(), "initial": initial}


def _select(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 1, 2)
    params = rest[1] if len(rest) == 2 else []
    if not isinstance(params, list):
        raise ParseError("SELECT parameters must be a list")
    return {
        "mailbox": mailbox_name(rest[0]),
        "params": [atom(p).upper() for p in params if isinstance(p, Atom)],
    }


def _rename(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2)
    return {"mailbox": mailbox_name(rest[0]), "new": mailbox_name(rest[1])}


def _list(rest: list[Token]) -> dict[str, Any]:
    """LIST [(selection)] reference pattern|(patterns) [RETURN (options)] (RFC 5258)."""
    selection: list[str] = []
    if rest and isinstance(rest[0], list):
        selection = [atom(item).upper() for item in rest[0]]
        rest = rest[1:]
    returns: list[str] = []
    if len(rest) == 4 and isinstance(rest[2], Atom) and rest[2].upper == "RETURN":
        returns = [_return_item(item) for item in _as_list(rest[3])]
        rest = rest[:2]
    _count(rest, 2)
    patterns = rest[1] if isinstance(rest[1], list) else [rest[1]]
    if not patterns:
        raise ParseError("LIST needs a pattern")
    return {
        "reference": mailbox_name(rest[0]) if astring(rest[0]) else "",
        "patterns": [_pattern(p) for p in patterns],
        "selection": selection,
        "returns": returns,
    }


def _return_item(token: Token) -> str:
    if isinstance(token, list):  # STATUS (MESSAGES UNSEEN)
        return "STATUS " + " ".join(atom(item).upper() for item in token)
    return atom(token).upper()


def _pattern(token: Token) -> str:
    raw = astring(token).decode("ascii", "replace")
    try:
        return utf7.decode(raw)
    except utf7.Utf7Error as exc:
        raise ParseError(str(exc)) from None


def _as_list(token: Token) -> list[Token]:
    if not isinstance(token, list):
        raise ParseError("list expected")
    return token


def _lsub(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2)
    return {"reference": _pattern(rest[0]), "patterns": [_pattern(rest[1])], "selection": [], "returns": []}


def _status(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2)
    items = [atom(item).upper() for item in _as_list(rest[1])]
    if not items or set(items) - _STATUS_ITEMS:
        raise ParseError("unknown STATUS item")
    return {"mailbox": mailbox_name(rest[0]), "items": items}


def _append(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2, 4)
    flags: tuple[str, ...] = ()
    when: dt.datetime | None = None
    mailbox, message = rest[0], rest[-1]
    for token in rest[1:-1]:
        if isinstance(token, list):
            flags = parse_flags(token)
        elif isinstance(token, String) and not token.literal:
            when = parse_datetime(token.text())
        else:
            raise ParseError("APPEND: flag list or date-time expected")
    if not isinstance(message, String) or not message.literal:
        raise ParseError("APPEND: the message must be a literal")
    return {"mailbox": mailbox_name(mailbox), "flags": flags, "date": when, "message": message.value}


def _search(rest: list[Token]) -> dict[str, Any]:
    returns: list[str] | None = None
    if len(rest) >= 2 and isinstance(rest[0], Atom) and rest[0].upper == "RETURN":
        returns = [atom(item).upper() for item in _as_list(rest[1])]
        rest = rest[2:]
    charset, program = parse_search(rest)
    if charset not in {"US-ASCII", "UTF-8"}:
        raise ParseError("BADCHARSET")
    return {"charset": charset, "program": program, "returns": returns}


def _fetch(rest: list[Token]) -> dict[str, Any]:
    if len(rest) == 3 and isinstance(rest[2], list):
        rest = rest[:2]  # fetch modifiers (CHANGEDSINCE…): CONDSTORE is not advertised
    _count(rest, 2)
    return {"set": SequenceSet.parse(atom(rest[0])), "atts": parse_fetch_atts(rest[1])}


def _store(rest: list[Token]) -> dict[str, Any]:
    if len(rest) < 3:
        raise ParseError("STORE needs a set, an action and flags")
    action = atom(rest[1]).upper()
    mode = {"FLAGS": "set", "+FLAGS": "add", "-FLAGS": "remove"}.get(action.removesuffix(".SILENT"))
    if mode is None:
        raise ParseError("STORE action must be FLAGS, +FLAGS or -FLAGS")
    flag_tokens: Token = rest[2] if len(rest) == 3 and isinstance(rest[2], list) else list(rest[2:])
    return {
        "set": SequenceSet.parse(atom(rest[0])),
        "mode": mode,
        "silent": action.endswith(".SILENT"),
        "flags": parse_flags(flag_tokens),
    }


def _copy(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 2)
    return {"set": SequenceSet.parse(atom(rest[0])), "mailbox": mailbox_name(rest[1])}


def _id(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 1)
    if isinstance(rest[0], Atom) and rest[0].upper == "NIL":
        return {"params": {}}
    items = _as_list(rest[0])
    if len(items) % 2 or len(items) > 60:
        raise ParseError("ID takes field/value pairs (at most 30)")
    params = {}
    for key, value in zip(items[::2], items[1::2], strict=True):
        text = None if isinstance(value, Atom) and value.upper == "NIL" else astring(value)
        params[astring(key).decode("utf-8", "replace")[:30]] = (text or b"").decode("utf-8", "replace")[:1024]
    return {"params": params}


def _enable(rest: list[Token]) -> dict[str, Any]:
    if not rest:
        raise ParseError("ENABLE needs a capability")
    return {"capabilities": [atom(item).upper() for item in rest]}


def _getquota(rest: list[Token]) -> dict[str, Any]:
    _count(rest, 1)
    return {"root": astring(rest[0]).decode("utf-8", "replace")}


_PARSERS = {
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "SELECT": _select,
    "EXAMINE": _select,
    "RENAME": _rename,
    "LIST": _list,
    "LSUB": _lsub,
    "STATUS": _status,
    "APPEND": _append,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy,
    "MOVE": _copy,
    "ID": _id,
    "ENABLE": _enable,
    "GETQUOTA": _getquota,
}
