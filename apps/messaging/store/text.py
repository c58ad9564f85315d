"""Small text rules shared by messaging: snippets, reply subjects, References."""

from __future__ import annotations

import re
from typing import Any

SNIPPET_CHARS = 160
_SPACES = re.compile(r"\s+")
_REPLY_PREFIX = re.compile(r"^\s*((re|tr|fwd?|réf)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")


def make_snippet(text: str) -> str:
    return _SPACES.sub(" ", text or "").strip()[:SNIPPET_CHARS]


def base_subject(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: str) -> str:
    return f"Re: {base_subject(subject)}"


def forward_subject(subject: str) -> str:
    return f"Tr: {base_subject(subject)}"


def message_ids(text: str) -> list[str]:
    return _MSGID.findall(text or "")


def references_of(message: Any) -> list[str]:
    if message is None:
        return []
    return message_ids(message.references)
