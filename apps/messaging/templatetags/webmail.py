"""Template helpers of the webmail's look: the Lucide sprite icons and the list's short dates.

Icons are one SVG sprite (static/icons/lucide.svg, built by scripts/build_icons.py): a page references it by
URL, so the browser fetches it once and caches it, and no emoji depends on the fonts of the machine.
"""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html

from apps.messaging.policies import FIN_MARKER

register = template.Library()

# French abbreviations as in the press and in French mail clients ("6 déc."), not Python's locale.
_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
_MONTHS_FULL: tuple[str, ...] = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août")
_MONTHS_FULL += ("septembre", "octobre", "novembre", "décembre")
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@register.simple_tag
def icon(name: str, label: str = "") -> str:
    """An icon of the sprite; decorative (hidden from screen readers) unless a label is given."""
    href = f"{static('icons/lucide.svg')}#{name}"
    if label:
        return format_html(
            '<svg class="icon" role="img" aria-label="{}" focusable="false"><title>{}</title>'
            '<use href="{}"></use></svg>',
            label,
            label,
            href,
        )
    return format_html(
        '<svg class="icon" aria-hidden="true" focusable="false"><use href="{}"></use></svg>', href
    )


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


@register.filter
def short_date(value: datetime | None, now: datetime | None = None) -> str:
    """A list's date: the time for today, "6 déc." for this year, dd/mm/yyyy before."""
    if value is None:
        return ""
    value, today = _local(value), _local(now or timezone.now())
    if value.date() == today.date():
        return value.strftime("%H:%M")
    if value.year == today.year:
        return f"{value.day} {_MONTHS[value.month - 1]}"
    return value.strftime("%d/%m/%Y")


@register.filter
def long_date(value: datetime | None) -> str:
    """A date in full French words: « dimanche 6 décembre 2026 à 15 h 38 »."""
    if value is None:
        return ""
    value = _local(value)
    day = "1er" if value.day == 1 else str(value.day)
    return (
        f"{_DAYS[value.weekday()]} {day} {_MONTHS_FULL[value.month - 1]} {value.year} "
        f"à {value.hour} h {value.minute:02d}"
    )


@register.filter
def text_parts(text: str | None) -> list[dict[str, object]]:
    """A plain-text body cut into what the writer wrote, quoted text ("> …", with the « … a écrit : »
    line before it) and the signature (after a "-- " line), so the page can fold the last two."""
    from apps.messaging.webmail.text_parts import split_text

    parts = split_text(text or "")
    return [{"kind": kind, "text": body, "lines": body.count("\n") + 1} for kind, body in parts]


@register.simple_tag
def inbox_unread(folders: list | None) -> str:
    """The Réception's unread count as the sidebar shows it ("999+" past the cap), "" when none: the tab
    title starts with it."""
    for entry in folders or ():
        if entry.folder.role == "inbox":
            return entry.unread_label if entry.unread else ""
    return ""


_REPLY_PREFIX = re.compile(r"^\s*(re|tr|fwd?|réf)\s*(\[\d+\])?\s*:\s*", re.IGNORECASE)
_FIN_MARK = re.compile(r"\s*" + re.escape(FIN_MARKER) + r"\s*", re.IGNORECASE)


@register.filter
def patient_subject(subject: str | None) -> str:
    """A subject as a patient reads it: no « Re: » / « Tr: » chains, no technical [FIN] marker (the
    portal shows « Échange clos » instead)."""
    text = _FIN_MARK.sub(" ", subject or "").strip()
    while _REPLY_PREFIX.match(text):
        text = _REPLY_PREFIX.sub("", text, count=1)
    return text.strip()
