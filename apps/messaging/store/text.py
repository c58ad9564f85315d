"""Small text rules shared by messaging: snippets, reply subjects, References."""

from __future__ import annotations

import re
from typing import Any

SNIPPET_CHARS = 160
_SPACES = re.compile(r"\s+")
_REPLY_PREFIX = re.compile(r"^\s*((re|tr|fwd?|réf)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")


def make_snippet(text: str) -> str:
    """The first SNIPPET_CHARS of `text`, its white space collapsed. Only a growing head of the text is
    collapsed (the whole body was, a regex pass over up to megabytes for 160 characters): a head whose
    collapsed form is longer than the snippet gives the same first characters as the whole text would."""
    text = text or ""
    size = 4 * SNIPPET_CHARS
    while True:
        head = _SPACES.sub(" ", text[:size]).strip()
        if len(head) > SNIPPET_CHARS or size >= len(text):
            return head[:SNIPPET_CHARS]
        size *= 8


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
