"""Building DSNs (RFC 3464) and MDNs (RFC 8098) as `multipart/report` messages with a French text."""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr, parsedate_to_datetime

from apps.gateway.mss_headers import is_xdm_subject, ko_subject

from .codes import DISPLAYED, Disposition, describe_status, parse_status


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's lines in a DSN we emit."""

    final_recipient: str
    status: str = "5.0.0"
    action: str = "failed"  # failed | delayed | delivered | relayed | expanded
    diagnostic: str | None = None  # the remote's reply, e.g. "550 5.1.1 <x@y>: Recipient unknown"
    original_recipient: str | None = None
    remote_mta: str | None = None
    last_attempt: dt.datetime | None = None
    will_retry_until: dt.datetime | None = None


def build_dsn(
    original: Message | bytes,
    recipients: Sequence[RecipientStatus],
    *,
    to: str,
    reporting_mta: str,
    postmaster: str,
    envelope_id: str | None = None,
    arrival_date: dt.datetime | None = None,
    return_content: bool = False,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """A DSN for `recipients` of `original`, addressed to its envelope sender `to`.

    Send it with an empty envelope sender (MAIL FROM:<>) so that it can never bounce in a loop.
    `return_content` attaches the whole original (RET=FULL), otherwise only its headers (RET=HDRS)."""
    if not recipients:
        raise ValueError("a DSN reports on at least one recipient")
    now = now or dt.datetime.now(dt.UTC)
    headers = _original_headers(original)
    subject = str(headers.get("Subject", "") or "(sans objet)")
    title = {"failed": "Message non distribué", "delayed": "Remise retardée"}.get(
        _worst(recipients), "Avis de remise"
    )
    per_message = {"Reporting-MTA": f"dns; {reporting_mta}", "Original-Envelope-Id": envelope_id}
    if arrival_date:
        per_message["Arrival-Date"] = format_datetime(arrival_date)
    blocks = [per_message, *(_recipient_fields(r) for r in recipients)]
    report = _report_envelope(
        "delivery-status",
        f"{title} : {subject}",
        sender=f"Système de messagerie <{postmaster}>",
        to=to,
        now=now,
    )
    _link_to(report, headers, reporting_mta)
    report.set_payload(
        [
            _text_part(_dsn_text(subject, headers, recipients)),
            _fields_part("message/delivery-status", blocks),
            _returned_part(original, headers, whole=return_content),
        ]
    )
    return report


def _worst(recipients: Sequence[RecipientStatus]) -> str:
    actions = {r.action for r in recipients}
    return next((a for a in ("failed", "delayed") if a in actions), "delivered")


def _recipient_fields(r: RecipientStatus) -> dict[str, str | None]:
    return {
        "Original-Recipient": f"rfc822; {r.original_recipient}" if r.original_recipient else None,
        "Final-Recipient": f"rfc822; {r.final_recipient}",
        "Action": r.action,
        "Status": parse_status(r.status) or "5.0.0",
        "Remote-MTA": f"dns; {r.remote_mta}" if r.remote_mta else None,
        # message/delivery-status is 7-bit; a remote's non-ASCII text is reduced rather than refused.
        "Diagnostic-Code": f"smtp; {_ascii(r.diagnostic)}" if r.diagnostic else None,
        "Last-Attempt-Date": format_datetime(r.last_attempt) if r.last_attempt else None,
        "Will-Retry-Until": format_datetime(r.will_retry_until) if r.will_retry_until else None,
    }


def _dsn_text(subject: str, headers: Message, recipients: Sequence[RecipientStatus]) -> str:
    sent = f" envoyé le {_french_date(headers.get('Date'))}" if headers.get("Date") else ""
    lines = [f"Bonjour,\n\nVotre message « {subject} »{sent} appelle l'information suivante :\n"]
    for r in recipients:
        verdict = {
            "failed": "n'a pas pu être remis",
            "delayed": "n'a pas encore pu être remis",
        }.get(r.action, "a été remis")
        lines.append(f"- {r.final_recipient} : {verdict}. {describe_status(r.status)}")
        if r.diagnostic:
            lines.append(f"  Réponse du serveur distant : {r.diagnostic}")
    if _worst(recipients) == "failed":
        lines.append("\nVérifiez l'adresse dans l'annuaire puis renvoyez le message si nécessaire.")
    lines.append("\nCe message est généré automatiquement : merci de ne pas y répondre.")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class MdnRequest:
    address: str
    needs_confirmation: bool  # RFC 8098 §2.1: ask the user before answering (or answer nothing)


def request_mdn(message: Message, address: str) -> None:
    """Ask for a read receipt on an outgoing message."""
    del message["Disposition-Notification-To"]
    message["Disposition-Notification-To"] = address


def mdn_request(message: Message, envelope_sender: str | None = None) -> MdnRequest | None:
    """Whether `message` asks for an MDN, and whether one may be sent without asking the user: not when the
    notification address differs from the Return-Path (loops, RFC 8098 §2.1), nor to several addresses.
    Reports themselves never get an MDN."""
    value = str(message.get("Disposition-Notification-To", "") or "")
    addresses = [addr for _, addr in getaddresses([value]) if "@" in addr]
    if not addresses or message.get_content_type() == "multipart/report":
        return None
    return_path = envelope_sender
    if return_path is None:
        return_path = parseaddr(str(message.get("Return-Path", "") or ""))[1]
    same = bool(return_path) and return_path.lower() == addresses[0].lower()
    return MdnRequest(addresses[0], needs_confirmation=len(addresses) > 1 or not same)


def build_mdn(
    original: Message,
    *,
    final_recipient: str,
    reporting_ua: str,
    disposition: Disposition = DISPLAYED,
    error: str | None = None,
    return_content: bool = False,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The MDN `final_recipient` sends about `original` (which must carry Disposition-Notification-To).

    `error` ("902^Identifiant de patient inconnu…") goes in the Error field of a processing-error MDN; the
    CDA-courriel IG wants `return_content=True`; on error the subject gets `[KO Intégration système !][code]`.
    When `mdn_request(original).needs_confirmation`, send only after the user agreed. Like a DSN, an MDN
    is sent with an empty envelope sender (MAIL FROM:<>, RFC 8098 §3)."""
    request = mdn_request(original)
    if request is None:
        raise ValueError("the original message does not ask for a disposition notification")
    now = now or dt.datetime.now(dt.UTC)
    subject = str(original.get("Subject", "") or "(sans objet)")
    report = _report_envelope(
        "disposition-notification",
        _mdn_subject(subject, disposition, error),
        sender=final_recipient,
        to=request.address,
        now=now,
    )
    _link_to(report, original, final_recipient.rpartition("@")[2] or "localhost")
    original_recipient = parseaddr(str(original.get("Original-Recipient", "") or "").partition(";")[2])[1]
    fields = {
        "Reporting-UA": reporting_ua,
        "Original-Recipient": f"rfc822; {original_recipient}" if original_recipient else None,
        "Final-Recipient": f"rfc822; {final_recipient}",
        "Original-Message-ID": str(original.get("Message-ID", "") or "") or None,
        "Disposition": str(disposition),
        "Error": _ascii(error) if error else None,
    }
    report.set_payload(
        [
            _text_part(_mdn_text(subject, original, final_recipient, disposition, error, now)),
            _fields_part("message/disposition-notification", [fields]),
            _returned_part(original, _original_headers(original), whole=return_content),
        ]
    )
    return report


def _mdn_subject(subject: str, disposition: Disposition, error: str | None) -> str:
    if disposition.modifier == "error":
        code = (error or "906").split("^", 1)[0].strip() or "906"
        return ko_subject(subject, code)
    if is_xdm_subject(subject):
        return subject  # the CDA-courriel IG keeps the XDM subject so software can match it
    prefix = {"displayed": "Lu", "deleted": "Supprimé sans être lu", "processed": "Traité"}.get(
        disposition.type, "Accusé de réception"
    )
    return f"{prefix} : {subject}"


def _mdn_text(
    subject: str, original: Message, final: str, disposition: Disposition, error: str | None, now: dt.datetime
) -> str:
    when = now.astimezone(dt.UTC).strftime("%d/%m/%Y à %H:%M UTC")
    sent = f", envoyé le {_french_date(original.get('Date'))}," if original.get("Date") else ""
    if disposition.modifier == "error":
        label = (error or "").split("^")[1:2] or [error or "erreur non précisée"]
        return (
            f"Le message « {subject} »{sent} n'a pas pu être intégré automatiquement par {final} "
            f"pour la raison suivante : {label[0]}\nCode retourné : {error or '906'}\n"
        )
    verbs = {
        "displayed": "a été affiché",
        "deleted": "a été supprimé sans être lu",
        "dispatched": "a été transmis",
        "processed": "a été traité",
    }
    verb = verbs.get(disposition.type, "a été reçu")
    return (
        f"Le message « {subject} »{sent} {verb} par {final} le {when}.\n"
        "Cet accusé indique seulement que le message a été ouvert : il ne garantit pas qu'il a été lu "
        "ni compris.\n"
    )


# ------------------------------------------------------------------------------------- building helpers


def _report_envelope(
    report_type: str, subject: str, *, sender: str, to: str, now: dt.datetime
) -> EmailMessage:
    report = EmailMessage()
    report["From"] = sender
    report["To"] = to
    report["Subject"] = subject
    report["Date"] = format_datetime(now)
    report["Auto-Submitted"] = "auto-replied"
    report["MIME-Version"] = "1.0"
    report["Content-Type"] = f"multipart/report; report-type={report_type}"
    return report


def _link_to(report: EmailMessage, original: Message, domain: str) -> None:
    report["Message-ID"] = make_msgid(domain=domain)
    if original.get("Message-ID"):
        # Mail clients thread the report under the message it is about.
        report["In-Reply-To"] = str(original["Message-ID"])
        report["References"] = str(original["Message-ID"])


def _text_part(text: str) -> MIMEPart:
    part = MIMEPart()
    part.set_content(text, charset="utf-8")
    return part


def _fields_part(content_type: str, blocks: Sequence[dict[str, str | None]]) -> MIMEPart:
    """message/delivery-status and message/disposition-notification: blocks of header-like fields."""
    messages: list[Message | str] = []
    for block in blocks:
        fields = Message()
        for name, value in block.items():
            if value:
                fields[name] = value
        messages.append(fields)
    part = MIMEPart()
    part["Content-Type"] = content_type
    part.set_payload(messages)
    return part


def _returned_part(original: Message | bytes, headers: Message, *, whole: bool) -> MIMEPart:
    part = MIMEPart()
    if whole:
        message = original if isinstance(original, Message) else _parse(original)
        part.set_content(message)
    else:
        # Folded and RFC 2047-encoded as on the wire, so the part stays 7-bit.
        text = "".join(policy.SMTP.fold(name, value) for name, value in headers.raw_items())
        part.set_content(text.encode("ascii", "replace").decode(), subtype="rfc822-headers", cte="7bit")
    return part


def _original_headers(original: Message | bytes) -> Message:
    if isinstance(original, bytes):
        head = re.split(rb"\r?\n\r?\n", original, maxsplit=1)[0]
        return BytesHeaderParser(policy=policy.default).parsebytes(head)
    return original


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _french_date(value: object) -> str:
    """`Thu, 19 Nov 2026 17:00:00 +0100` → `19/11/2026 à 17:00`; unparsable dates are shown as sent."""
    try:
        return parsedate_to_datetime(str(value)).strftime("%d/%m/%Y à %H:%M")
    except (TypeError, ValueError):
        return str(value)


def _ascii(text: str | None) -> str:
    return (text or "").encode("ascii", "replace").decode().replace("\r", " ").replace(
        "\n", " "
    ).strip() or ""
