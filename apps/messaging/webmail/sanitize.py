"""HTML of received messages made safe to show inside the webmail page (nh3, an allow-list sanitiser).

Kept: text structure, tables, links (http, https; a mailto opens our composer; in a new tab without
referrer) and images. Removed with their content: script, style, iframe, object, form and the like; every
`on*` handler, `style`, `class` and `id` attribute (CSS could hide or overlay parts of the page). Remote
images are tracking pixels as often as not: their `src` is replaced by a local placeholder until the reader
clicks « Afficher les images distantes » for this message; only then does the page's Content-Security-Policy
allow https images. Embedded images (`cid:`) are never fetched from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import nh3
from django.conf import settings

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd",
    "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
# Removed together with what they contain (their text is code or chrome, never the message).
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "form", "noscript", "template",
                        "textarea", "select", "svg", "math", "head", "title", "button"}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "table": {"summary"},
    "ol": {"start"},
    "*": {"dir", "lang", "title"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid"}
# A grey frame saying the image is blocked (data: is allowed by the page's img-src, nothing is fetched).
PLACEHOLDER = (
    "data:image/svg+xml;charset=utf-8,%3Csvg xmlns='http://www.w3.org/2000/svg' width='220' height='40'%3E"
    "%3Crect width='100%25' height='100%25' fill='%23e8edf3' stroke='%238a95a8'/%3E%3Ctext x='10' y='25' "
    "font-family='sans-serif' font-size='13' fill='%23333'%3EImage distante bloqu%C3%A9e%3C/text%3E%3C/svg%3E"
)


@dataclass(frozen=True)
class SafeHtml:
    html: str
    blocked_images: int
    # The same HTML cut into the writer's text, quoted text and signature (html_parts.py), each part
    # sanitised on its own: the reader folds the last two. [("text", html)] when nothing is to fold.
    parts: tuple[tuple[str, str], ...] = ()


def _is_remote(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered.startswith(("http:", "https:", "//"))


def sanitize_html(html: str, *, allow_remote_images: bool = False) -> SafeHtml:
    """The body made safe, whole and cut into parts to fold (quoted text, signature)."""
    from apps.messaging.webmail.html_parts import split_html

    parts: list[tuple[str, str]] = []
    blocked = 0
    for kind, source in split_html(html or ""):
        safe = _sanitize(source, allow_remote_images=allow_remote_images)
        blocked += safe.blocked_images
        if safe.html.strip():
            parts.append((kind, safe.html))
    return SafeHtml("".join(markup for _, markup in parts), blocked, tuple(parts))


def _sanitize(html: str, *, allow_remote_images: bool) -> SafeHtml:
    blocked = 0

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if tag == "img" and attribute == "src":
            if value.strip().lower().startswith("cid:"):
                return None  # inline parts are listed as attachments; never resolved against the web
            if _is_remote(value) and not allow_remote_images:
                blocked += 1
                return PLACEHOLDER
            if not _is_remote(value):
                return None
        if tag == "a" and attribute == "href" and value.strip().lower().startswith("cid:"):
            return None
        if tag == "a" and attribute == "href" and value.strip().lower().startswith("mailto:"):
            # Never an outside mail program: the webmail's own composer, recipient filled in.
            from apps.messaging.compose.views_write_to import write_to_url

            return write_to_url(value.strip()[7:].split("?")[0])
        return value

    cleaned = nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return SafeHtml(cleaned, blocked)


def content_security_policy(*, remote_images: bool) -> str:
    """The page's policy; with `remote_images`, images (only) may come from any https origin."""
    policy = settings.CONTENT_SECURITY_POLICY
    if remote_images:
        policy = policy.replace("img-src 'self' data:", "img-src 'self' data: https:")
    return policy
