"""ENVELOPEs already encoded, per message, in this process's memory (ADR 0023).

A message's envelope never changes (the store keeps its headers sealed once), so the message list a client
fetches again and again costs one data-key unwrap and one header decryption per message the first time,
then nothing. Memory only (never written anywhere), bounded (`MAX_ENTRIES`, least recently used dropped)
and kept `TTL` seconds at most, so that a message deleted everywhere does not linger in clear in memory.
The cache is only read for copies the caller has just read from the database (or from SELECT's snapshot)
in a folder the policy let the person open: it holds no access decision of its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from apps.imap.responses import Encoded, encode

MAX_ENTRIES = 50_000
TTL = 600.0

_lock = threading.Lock()
_entries: OrderedDict[Any, tuple[float, Encoded]] = OrderedDict()


def get(message_id: Any) -> Encoded | None:
    with _lock:
        found = _entries.get(message_id)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del _entries[message_id]
            return None
        _entries.move_to_end(message_id)
        return found[1]


def encoded_for(copies: Iterable[Any], envelope_of: Callable[[Any], list[Any]]) -> dict[Any, Encoded]:
    """Database thread: the encoded ENVELOPE of each copy's message (by message id), computing the
    missing ones with `envelope_of(copy)` (decryption) and keeping them."""
    out: dict[Any, Encoded] = {}
    expires = time.monotonic() + TTL
    for copy in copies:
        key = copy.message_id
        if key in out:
            continue
        found = get(key)
        if found is None:
            found = Encoded(encode(envelope_of(copy)))
            with _lock:
                _entries[key] = (expires, found)
                while len(_entries) > MAX_ENTRIES:
                    _entries.popitem(last=False)
        out[key] = found
    return out


def clear() -> None:
    with _lock:
        _entries.clear()
