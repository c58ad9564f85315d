"""Parsing inbound DSNs and MDNs (and, best effort, plain-text bounces) into `Report` objects.

Inbound reports come from anywhere, so nothing here may raise on malformed input: bytes are parsed with the
legacy `compat32` policy (raw header strings) and headers are read through `_header`, because the structured
header parsing of `policy.default` raises on some real-world garbage (seen while fuzzing the fixtures).
"""

from __future__ import annotations

import email
import re
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from .codes import Disposition, Report, ReportEntry, parse_status

_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|non distribu|non remis|delivery status|delivery failure|returned mail|"
    r"failure notice|mail delivery failed|échec de la remise",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_MESSAGE_ID_LINE = re.compile(r"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


def parse_report(message: Message | bytes) -> Report | None:
    """The DSN or MDN carried by `message`, or None when it is neither."""
    if isinstance(message, bytes):
        message = email.message_from_bytes(message, policy=policy.compat32)
    if message.get_content_type() == "multipart/report":
        parts = list(message.walk())
        for part in parts:
            ctype = part.get_content_type()
            if ctype in ("message/delivery-status", "message/global-delivery-status"):
                return _dsn(_blocks(part), _returned_headers(parts))
            if ctype in ("message/disposition-notification", "message/global-disposition-notification"):
                return _mdn(_blocks(part), _returned_headers(parts))
    if _looks_like_bounce(message):
        return _plain_bounce(message)
    return None


def _dsn(blocks: list[dict[str, str]], returned: Message | None) -> Report | None:
    if not blocks:
        return None
    head, rest = blocks[0], [b for b in blocks[1:] if "final-recipient" in b or "action" in b]
    if "final-recipient" in head or "action" in head:  # per-message block omitted by a sloppy MTA
        head, rest = {}, blocks
    entries = tuple(
        ReportEntry(
            final_recipient=_address(b.get("final-recipient")),
            original_recipient=_address(b.get("original-recipient")),
            action=(b.get("action") or "failed").split()[0].lower(),
            status=parse_status(b.get("status")) or parse_status(b.get("diagnostic-code")),
            diagnostic=_typed_value(b.get("diagnostic-code")),
            remote_mta=_typed_value(b.get("remote-mta")),
        )
        for b in rest
    )
    return Report(
        "dsn",
        entries,
        original_message_id=_returned_id(returned),
        original_envelope_id=head.get("original-envelope-id"),
        reporting_agent=_typed_value(head.get("reporting-mta")),
        arrival_date=head.get("arrival-date"),
        original_subject=_returned_subject(returned),
    )


def _mdn(blocks: list[dict[str, str]], returned: Message | None) -> Report | None:
    fields = {k: v for block in blocks for k, v in block.items()}
    if "disposition" not in fields:
        return None
    entry = ReportEntry(
        final_recipient=_address(fields.get("final-recipient")),
        original_recipient=_address(fields.get("original-recipient")),
        # Legacy CDA-courriel form: the error text rode in the Disposition field itself.
        diagnostic=fields.get("error") or (fields["disposition"].partition("Error:")[2].strip() or None),
        disposition=Disposition.parse(fields["disposition"]),
    )
    return Report(
        "mdn",
        (entry,),
        original_message_id=fields.get("original-message-id") or _returned_id(returned),
        reporting_agent=fields.get("reporting-ua"),
        original_subject=_returned_subject(returned),
    )


def _blocks(part: Message) -> list[dict[str, str]]:
    """Field blocks of a report part, whatever shape the email package parsed it into."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n\n".join(_fields_text(sub) if isinstance(sub, Message) else str(sub) for sub in payload)
    else:
        text = _decoded_text(part)
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        unfolded = re.sub(r"\r?\n[ \t]+", " ", chunk)
        fields: dict[str, str] = {}
        for line in unfolded.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() and " " not in name.strip():
                fields.setdefault(name.strip().lower(), value.strip())
        if fields:
            blocks.append(fields)
    return blocks


def _returned_headers(parts: list[Message]) -> Message | None:
    for part in parts:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            return inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], Message) else None
        if ctype in ("text/rfc822-headers", "text/rfc822-header"):
            raw = part.get_payload(decode=True) or b""
            return BytesHeaderParser(policy=policy.compat32).parsebytes(raw)  # type: ignore[arg-type]
    return None


def _returned_id(returned: Message | None) -> str | None:
    value = _header(returned, "Message-ID").strip() if returned is not None else ""
    return value or None


def _returned_subject(returned: Message | None) -> str | None:
    return (_header(returned, "Subject") or None) if returned is not None else None


def _typed_value(value: str | None) -> str | None:
    """`dns; mx.example.org` → `mx.example.org`; `smtp; 550 …` → `550 …`."""
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    return (rest if sep and " " not in kind.strip() else value).strip() or None


def _address(value: str | None) -> str | None:
    address = _typed_value(value)
    return (address.strip("<>").strip() or None) if address else None


def _looks_like_bounce(message: Message) -> bool:
    sender = parseaddr(_header(message, "From"))[1]
    return bool(_BOUNCE_SENDER.match(sender)) and bool(_BOUNCE_SUBJECT.search(_header(message, "Subject")))


def _plain_bounce(message: Message) -> Report | None:
    """qmail "failure notice" and similar: recipients in <…>, a status code or the SMTP reply in the text."""
    text = "\n".join(
        _decoded_text(part)
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/rfc822-headers")
    )
    # The quoted original must not lend its own addresses to the list of failed recipients.
    split = re.split(
        r"^-{2,}.*(?:original|copy|returned|message d'origine).*$", text, maxsplit=1, flags=re.I | re.M
    )
    body, quoted = split[0], split[1] if len(split) > 1 else ""
    recipients = list(dict.fromkeys(_ANGLE_ADDRESS.findall(body)))
    if not recipients:
        return None
    status = parse_status(body) or "5.0.0"
    message_id = _MESSAGE_ID_LINE.search(quoted or text)
    entries = tuple(ReportEntry(final_recipient=r, action="failed", status=status) for r in recipients)
    return Report(
        "dsn",
        entries,
        original_message_id=message_id[1] if message_id else None,
        reporting_agent=parseaddr(_header(message, "From"))[1],
        standard=False,
    )


def _header(message: Message, name: str) -> str:
    """A header's value, RFC 2047-decoded, without the structured parsing that can raise."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            try:
                return str(make_header(decode_header(str(value))))
            except (LookupError, UnicodeError, ValueError, MessageError):
                return str(value)
    return ""


def _fields_text(block: Message) -> str:
    fields = "\n".join(f"{name}: {value}" for name, value in block.raw_items())
    # message/global-* parts come back as one "message": first block as headers, the others as its body.
    rest = block.get_payload()
    return f"{fields}\n\n{rest}" if isinstance(rest, str) and rest.strip() else fields


def _decoded_text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    try:
        return raw.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:  # unknown charset name
        return raw.decode("utf-8", "replace")
