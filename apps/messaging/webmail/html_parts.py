"""Cutting an HTML body into the writer's own text, quoted text and signature (for folding them), like
text_parts does for plain text.

The cut is made on the message's own HTML, before sanitising: the marks mail programs leave are classes and
ids (Gmail's `gmail_quote` and `gmail_signature`, Thunderbird's `moz-cite-prefix` and `moz-signature`,
Outlook's `divRplyFwdMsg`/`appendonsend`), which the sanitiser removes. Each part is sanitised on its own
afterwards (sanitize.py), so nothing unsafe survives the cut; an HTML body that cannot be parsed is one part.

Where a part begins is decided on the top-level blocks of the body (single wrapper <div>s unwrapped):
- a <blockquote>, or Gmail's/Thunderbird's quote container, is a quote on its own (the « … a écrit : » line
  just before it joins it); text after it (an answer written below a quote) is text again;
- Outlook's reply header (« De : … Envoyé : … », alone or after an <hr>) and « -----Message d'origine----- »
  start a quote that runs to the end: Outlook puts the whole original after them, unmarked;
- a signature block (Gmail/Thunderbird classes, or a "-- " line) starts the signature, up to the next quote.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import lxml.etree
import lxml.html

from apps.messaging.webmail.text_parts import _ATTRIBUTION

Part = tuple[str, str]  # (kind, html) with kind "text", "quote" or "signature"

_QUOTE_CLASSES = {
    "gmail_quote", "gmail_quote_container", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote",
}  # fmt: skip
_SIGNATURE_CLASSES = {"gmail_signature", "moz-signature"}
_OUTLOOK_IDS = {"divrplyfwdmsg", "appendonsend", "divrplyfwdmsgheader"}
# <br>s leave no space in text_content(): "De : Alice MartinEnvoyé : …", hence no \b before the second word.
_REPLY_HEADER = re.compile(r"^\s*(de|from)\s*:.*?(envoyé|sent|date)\s*:", re.IGNORECASE | re.DOTALL)
_ORIGINAL_MARK = re.compile(r"^\s*-{3,}\s*(message d'origine|original message)", re.IGNORECASE)
_SIGNATURE_MARK = re.compile(r"^--\s*$")
_WRAPPERS = {"div", "span", "font", "center"}
# The elements that may be marks, found by libxml2 (a long message has thousands of elements, a handful of
# candidates); _is_mark decides.
_CANDIDATES = lxml.etree.XPath(
    "descendant::blockquote | descendant::hr | descendant::pre | descendant::*[@id or @data-smartmail]"
    " | descendant::*[contains(@class, 'gmail_') or contains(@class, 'moz-') or contains(@class, '_quote')]"
    " | descendant::*[starts-with(normalize-space(text()[1]), '--')]"
)
# Substrings without which nothing can be cut: a fast path for most messages (a false clue costs a parse).
_CLUES = (
    "<blockquote", "<hr", "gmail_", "moz-", "divrplyfwdmsg", "appendonsend", "yahoo_quoted",
    "protonmail_quote", "--", "de :", "de:", "from:", "-----",
)  # fmt: skip


def _classes(node: Any) -> set[str]:
    return set((node.get("class") or "").split())


def _text(node: Any) -> str:
    return " ".join(node.text_content().split()) if isinstance(node.tag, str) else ""


def _is_outlook_header(node: Any) -> bool:
    if (node.get("id") or "").lower() in _OUTLOOK_IDS:
        return True
    text = node.text_content() if isinstance(node.tag, str) else ""
    return bool(_REPLY_HEADER.match(text[:400]) or _ORIGINAL_MARK.match(text[:200]))


def _is_quote_block(node: Any) -> bool:
    return node.tag == "blockquote" or bool(_classes(node) & _QUOTE_CLASSES)


def _starts_signature(node: Any) -> bool:
    if _classes(node) & _SIGNATURE_CLASSES or node.get("data-smartmail") == "gmail_signature":
        return True
    # "-- " alone in a block (<div>-- </div>), or as its first line ("-- <br>Dr Bob…", <pre>-- \nDr Bob…).
    first_line = (node.text or "").split("\n")[0]
    if node.tag == "pre":
        return bool(_SIGNATURE_MARK.match(first_line))
    first_child = node[0] if len(node) else None
    ends_at_break = first_child is None or first_child.tag == "br"
    return bool(_SIGNATURE_MARK.match(first_line)) and ends_at_break and node.tag != "blockquote"


def _top_level(body: Any) -> Any:
    """The element whose children are the message's blocks: single wrapper elements are gone through."""
    node = body
    while (
        len(node) == 1
        and not (node.text or "").strip()
        and not (node[0].tail or "").strip()
        and node[0].tag in _WRAPPERS
        and not _is_quote_block(node[0])
        and not _starts_signature(node[0])
        and (node[0].get("id") or "").lower() not in _OUTLOOK_IDS
    ):
        node = node[0]
    return node


def _is_mark(node: Any) -> bool:
    return (
        _is_quote_block(node)
        or _starts_signature(node)
        or (node.get("id") or "").lower() in _OUTLOOK_IDS
        or node.tag == "hr"
    )


def _holders(body: Any) -> set[Any]:
    """The elements holding a mark deeper down, found in one pass. (lxml keeps one proxy per element while a
    reference lives, and the set holds them, so membership by identity is sound.)"""
    holders: set[Any] = set()
    for node in _CANDIDATES(body):
        if _is_mark(node):
            for ancestor in node.iterancestors():
                if ancestor in holders:
                    break
                holders.add(ancestor)
    return holders


def _items(parent: Any, holders: set[Any]) -> list[tuple[Any, str]]:
    """(element or None for loose text, its HTML) in order; comments and processing instructions left out.
    A wrapper holding a mark deeper down (Gmail puts the text and the signature in one <div dir="ltr">) is
    gone through, so that the mark becomes a block of its own."""
    items: list[tuple[Any, str]] = []
    if parent.text:
        items.append((None, html_lib.escape(parent.text)))
    for child in parent:
        if isinstance(child.tag, str):
            if child.tag in _WRAPPERS and child in holders and not _is_mark(child):
                items.extend(_items(child, holders))
            else:
                items.append((child, lxml.html.tostring(child, encoding="unicode", with_tail=False)))
        if child.tail:
            items.append((None, html_lib.escape(child.tail)))
    return items


def _loose_signature(items: list[tuple[Any, str]], index: int) -> bool:
    """Loose text "-- " followed by a line break: the plain-text convention written straight into <body>."""
    node, markup = items[index]
    if node is not None or not _SIGNATURE_MARK.match(html_lib.unescape(markup).strip("\n ") + " "):
        return False
    later = items[index + 1] if index + 1 < len(items) else None
    return later is not None and later[0] is not None and later[0].tag == "br"


def split_html(source: str) -> list[Part]:
    """[(kind, html)] in order, kind being "text", "quote" or "signature"; each html still to be sanitised."""
    if not source or not source.strip():
        return []
    lowered = source.lower()
    if not any(clue in lowered for clue in _CLUES):
        return [("text", source)]  # no trace of a quote, a signature or a reply header: no parsing
    try:
        document = lxml.html.document_fromstring(source)
    except (lxml.etree.ParserError, ValueError):
        return [("text", source)]
    body = document.find("body")
    if body is None:
        return [("text", source)]
    items = _items(_top_level(body), _holders(body))
    kinds: list[str] = []
    state = "text"  # "text", "signature" or "quote-to-end"
    for index, (node, _markup) in enumerate(items):
        if state == "quote-to-end":
            kinds.append("quote")
            continue
        if node is None:
            if _loose_signature(items, index):
                state = "signature"
            kinds.append(state if state == "signature" else "text")
            continue
        if _is_outlook_header(node) or (node.tag == "hr" and _next_is_outlook_header(items, index)):
            state = "quote-to-end"
            kinds.append("quote")
        elif _is_quote_block(node):
            _attribution_joins(items, kinds, index)
            kinds.append("quote")
            state = "text" if state == "signature" else state
        elif state != "signature" and _starts_signature(node):
            state = "signature"
            kinds.append("signature")
        else:
            kinds.append(state)
    return _grouped(items, kinds)


def _next_is_outlook_header(items: list[tuple[Any, str]], index: int) -> bool:
    for node, markup in items[index + 1 :]:
        if node is None and not markup.strip():
            continue
        return node is not None and _is_outlook_header(node)
    return False


def _attribution_joins(items: list[tuple[Any, str]], kinds: list[str], index: int) -> None:
    """« Le 5 déc. 2026, Alice Martin a écrit : » just before a quote belongs to it (loose text or a block,
    possibly followed by a <br> and blank text), also when it follows a signature (it then ends it)."""
    for back in range(index - 1, max(-1, index - 4), -1):
        node, markup = items[back]
        if kinds[back] not in ("text", "signature"):
            return
        text = _text(node) if node is not None else html_lib.unescape(markup).strip()
        if not text or (node is not None and node.tag == "br"):
            continue
        if _ATTRIBUTION.search(text):
            for moved in range(back, index):
                kinds[moved] = "quote"
        return


def _grouped(items: list[tuple[Any, str]], kinds: list[str]) -> list[Part]:
    parts: list[list[Any]] = []
    for (_node, markup), kind in zip(items, kinds, strict=True):
        if parts and parts[-1][0] == kind:
            parts[-1][1].append(markup)
        else:
            parts.append([kind, [markup]])
    result = [(kind, "".join(chunks)) for kind, chunks in parts]
    result = [(kind, markup) for kind, markup in result if _has_content(markup)]
    if all(kind != "text" for kind, _ in result):
        # Only a quote (a forward with nothing added): folding it would leave a lone button; show it all.
        return [("text", "".join(markup for _, markup in result))] if result else []
    return result


_TEXT_OUTSIDE_TAGS = re.compile(r"(?:^|>)[^<]*?[^\s<]")


def _has_content(markup: str) -> bool:
    """Some text outside the tags (stops at the first), or an image."""
    return bool(_TEXT_OUTSIDE_TAGS.search(markup.replace("&nbsp;", " "))) or "<img" in markup
