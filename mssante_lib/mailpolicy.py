"""`email.policy.default`, with its header objects made once instead of at every access.

The standard library's `HeaderRegistry` builds a new header *class* (`type(...)`) each time a header is
read, then parses the value again: reading a received message (its Content-Type alone is read some twenty
times by `get_body`, `iter_attachments` and the nested-message checks) spent 40% of the inbound ingest's
CPU there (docs/benchmarks.md, "Profile of the vs-Postfix run"). Here the class is made once per header
name, and the parsed header of the MIME structure fields (`Content-*`, `MIME-Version`), whose values repeat
from message to message, is kept for the values met again. Header objects are immutable strings carrying
their parse, so sharing one between messages changes nothing a caller can see; other fields (Subject,
Message-ID, Date: unique per message) are parsed as before. Parsing results are identical to
`policy.default`'s: same classes, same values, same defects.
"""

from __future__ import annotations

from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as _default
from typing import Any

_CACHED_NAMES = frozenset(
    {"content-type", "content-transfer-encoding", "content-disposition", "mime-version", "content-id"}
)
_MAX_ENTRIES = 2048  # distinct values kept per process (then the table starts afresh)
_MAX_VALUE_CHARS = 512  # a longer value is rare enough not to keep


class CachingHeaderRegistry(HeaderRegistry):
    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if name.lower() not in _CACHED_NAMES or not isinstance(value, str) or len(value) > _MAX_VALUE_CHARS:
            return self[name](name, value)
        key = (name, value)
        header = self._parsed.get(key)
        if header is None:
            header = self[name](name, value)
            if len(self._parsed) >= _MAX_ENTRIES:
                self._parsed.clear()
            self._parsed[key] = header
        return header


POLICY: EmailPolicy[EmailMessage] = _default.clone(header_factory=CachingHeaderRegistry())
