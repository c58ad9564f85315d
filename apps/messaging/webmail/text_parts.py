"""Cutting a plain-text body into the writer's own text, quoted text and signature (for folding them)."""

from __future__ import annotations

import re

# « Le 6 déc. 2026, Alice Martin a écrit : », "On Mon, … wrote:", "-----Message d'origine-----".
_ATTRIBUTION = re.compile(
    r"(a écrit|wrote|écrivait)\s*:\s*$|^-{3,}\s*(message d'origine|original message)", re.IGNORECASE
)
_SIGNATURE_MARK = ("-- ", "--")
SIGNATURE_MAX_LINES = 15  # a longer tail after "--" is more likely text than a signature


def _signature_start(lines: list[str]) -> int | None:
    for index in range(len(lines) - 1, max(-1, len(lines) - SIGNATURE_MAX_LINES - 2), -1):
        if lines[index] in _SIGNATURE_MARK:
            return index
    return None


def _unquote(line: str) -> str:
    return line[1:].removeprefix(" ") if line.startswith(">") else line


def split_text(text: str) -> list[tuple[str, str]]:
    """[(kind, text)] in order, kind being "text", "quote" or "signature"; empty parts are left out."""
    lines = text.replace("\r\n", "\n").split("\n")
    signature: list[str] = []
    start = _signature_start(lines)
    if start is not None:
        lines, signature = lines[:start], lines[start + 1 :]
    parts: list[tuple[str, list[str]]] = []
    for index, line in enumerate(lines):
        quoted = line.startswith(">")
        opens_quote = bool(_ATTRIBUTION.search(line.strip())) and any(
            later.startswith(">") for later in lines[index + 1 : index + 3]
        )
        kind = "quote" if quoted or opens_quote else "text"
        if kind == "text" and not line.strip() and parts and parts[-1][0] == "quote":
            kind = "quote"  # blank lines between quoted paragraphs stay in the quote
        if parts and parts[-1][0] == kind:
            parts[-1][1].append(_unquote(line) if kind == "quote" else line)
        else:
            parts.append((kind, [_unquote(line) if kind == "quote" else line]))
    result = [(kind, "\n".join(body).strip("\n")) for kind, body in parts]
    if signature:
        result.append(("signature", "\n".join(signature).strip("\n")))
    return [(kind, body) for kind, body in result if body.strip()]
