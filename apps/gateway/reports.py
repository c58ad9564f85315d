"""Delivery status notifications (DSN, RFC 3464) and read receipts (MDN, RFC 8098): built and parsed.

Both are `multipart/report` (RFC 6522): a French text for people, a machine-readable part, then the original
headers (or the whole original). Parsing turns any inbound report into `Report` entries the messaging app
applies to the sender's per-recipient timeline, matched on the original Message-ID (MDN, returned headers)
or on the envelope id (ENVID) we set when sending (DSN). Non-standard bounces (plain-text "failure notice")
are read on a best-effort basis and flagged `standard=False`.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr, parsedate_to_datetime

from apps.gateway.mss_headers import is_xdm_subject, ko_subject

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|non distribu|non remis|delivery status|delivery failure|returned mail|"
    r"failure notice|mail delivery failed|échec de la remise",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_MESSAGE_ID_LINE = re.compile(r"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


class Outcome:
    """What a report entry means for the sender's timeline (string constants, stored as is)."""

    DELIVERED = "delivered"
    RELAYED = "relayed"  # handed to a system that sends no DSN: delivered as far as we can know
    DELAYED = "delayed"
    FAILED = "failed"
    DISPLAYED = "displayed"  # read
    DELETED = "deleted"  # deleted unread
    DISPATCHED = "dispatched"
    PROCESSED = "processed"  # integrated by software (CDA-courriel IG)
    PROCESSING_ERROR = "processing-error"


# ----------------------------------------------------------------------------------------- status codes

_SPECIFIC = {
    "1.1": "L'adresse du destinataire n'existe pas chez son opérateur (boîte aux lettres inconnue).",
    "1.2": "Le domaine de l'adresse du destinataire est inconnu ou ne reçoit pas de messages.",
    "1.3": "L'adresse du destinataire est mal formée.",
    "1.6": "Le destinataire a changé d'adresse et ne reçoit plus de messages à celle-ci.",
    "1.10": "Le domaine du destinataire n'accepte aucun message.",
    "2.1": "La boîte aux lettres du destinataire est fermée ou suspendue.",
    "2.2": "La boîte aux lettres du destinataire est pleine.",
    "2.3": "Le message dépasse la taille acceptée par la boîte aux lettres du destinataire.",
    "3.2": "Le système de messagerie du destinataire n'accepte pas de messages pour le moment.",
    "3.4": "Le message est trop volumineux pour le système de messagerie du destinataire.",
    "4.1": "Le serveur de messagerie du destinataire ne répond pas.",
    "4.2": "La connexion avec le serveur de messagerie du destinataire a été interrompue.",
    "4.4": "Aucun chemin n'a été trouvé vers le domaine du destinataire.",
    "4.6": "Le message tournait en boucle entre des serveurs de messagerie.",
    "4.7": "Le message n'a pas pu être remis dans le délai imparti.",
    "6.0": "Le contenu du message n'est pas accepté par le système du destinataire.",
    "7.1": "L'opérateur du destinataire a refusé le message : l'expéditeur n'est pas autorisé à écrire à "
    "ce destinataire.",
    "7.5": "Le destinataire n'a pas pu déchiffrer ou vérifier le message (échec cryptographique).",
    "7.7": "Le destinataire n'a pas pu vérifier l'intégrité du message.",
}
_BY_SUBJECT = {
    "0": "Le message n'a pas pu être remis.",
    "1": "L'adresse du destinataire pose problème.",
    "2": "La boîte aux lettres du destinataire ne peut pas recevoir ce message.",
    "3": "Le système de messagerie du destinataire ne peut pas recevoir ce message.",
    "4": "L'acheminement vers le destinataire a échoué.",
    "5": "L'échange avec le serveur de messagerie du destinataire a échoué.",
    "6": "Le contenu du message n'a pas pu être traité par le système du destinataire.",
    "7": "L'opérateur du destinataire a refusé le message pour une raison de sécurité ou de politique.",
}


def parse_status(text: str | None) -> str | None:
    """The first enhanced status code (`5.1.1`) found in `text`."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def describe_status(status: str | None) -> str:
    """A clear French reason for an enhanced status code (RFC 3463), for bounces and the timeline."""
    code = parse_status(status)
    if code is None:
        return "Le message n'a pas pu être remis (cause non précisée par le serveur distant)."
    klass, subject, detail = code.split(".")
    if klass == "2":
        return "Le message a été remis."
    reason = _SPECIFIC.get(f"{subject}.{detail}") or _BY_SUBJECT.get(subject, _BY_SUBJECT["0"])
    if klass == "4":
        return f"{reason} Échec temporaire : de nouveaux essais sont faits automatiquement."
    return reason


# --------------------------------------------------------------------------------------------- building


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
class Disposition:
    """The Disposition field of an MDN (RFC 8098 §3.2.6)."""

    type: str = "displayed"  # displayed | deleted | dispatched | processed
    automatic: bool = False
    modifier: str | None = None  # "error" for a processing error

    def __str__(self) -> str:
        mode = (
            "automatic-action/MDN-sent-automatically" if self.automatic else "manual-action/MDN-sent-manually"
        )
        return f"{mode}; {self.type}" + (f"/{self.modifier}" if self.modifier else "")

    @classmethod
    def parse(cls, value: str) -> Disposition:
        modes, _, rest = value.partition(";")
        kind, _, raw_modifier = rest.strip().partition("/")
        # Older CDA-courriel MDNs wrote "processed/Error: 902^…": keep only the modifier word.
        modifier = re.split(r"[\s:]", raw_modifier.strip(), maxsplit=1)[0].lower() or None
        return cls(kind.strip().lower(), "automatic-action" in modes.lower(), modifier)


DISPLAYED = Disposition("displayed")
PROCESSED = Disposition("processed", automatic=True)
PROCESSING_ERROR = Disposition("processed", automatic=True, modifier="error")


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
    When `mdn_request(original).needs_confirmation`, send only after the user agreed."""
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


# ---------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ReportEntry:
    """One recipient's fate in a DSN, or the disposition carried by an MDN."""

    final_recipient: str | None
    original_recipient: str | None = None
    action: str | None = None  # DSN
    status: str | None = None  # DSN, x.y.z
    diagnostic: str | None = None  # DSN Diagnostic-Code, or MDN Error
    remote_mta: str | None = None
    disposition: Disposition | None = None  # MDN

    @property
    def outcome(self) -> str:
        if self.disposition is not None:
            if self.disposition.modifier == "error":
                return Outcome.PROCESSING_ERROR
            return self.disposition.type if self.disposition.type in _MDN_OUTCOMES else Outcome.DISPLAYED
        return {
            "delivered": Outcome.DELIVERED,
            "relayed": Outcome.RELAYED,
            "expanded": Outcome.DELIVERED,
            "delayed": Outcome.DELAYED,
        }.get(self.action or "", Outcome.FAILED)

    @property
    def reason(self) -> str:
        """French explanation for the sender's timeline."""
        if self.disposition is not None:
            return _MDN_REASONS.get(self.outcome, "Accusé de réception reçu.")
        return describe_status(self.status)


_MDN_OUTCOMES = {Outcome.DISPLAYED, Outcome.DELETED, Outcome.DISPATCHED, Outcome.PROCESSED}
_MDN_REASONS = {
    Outcome.DISPLAYED: "Message lu par le destinataire.",
    Outcome.DELETED: "Message supprimé par le destinataire sans avoir été lu.",
    Outcome.DISPATCHED: "Message transmis par le destinataire sans avoir été affiché.",
    Outcome.PROCESSED: "Message traité par le logiciel du destinataire.",
    Outcome.PROCESSING_ERROR: "Le logiciel du destinataire n'a pas pu intégrer le message.",
}


@dataclass(frozen=True)
class Report:
    kind: str  # "dsn" | "mdn"
    entries: tuple[ReportEntry, ...]
    original_message_id: str | None = None
    original_envelope_id: str | None = None  # the ENVID we gave at MAIL FROM
    reporting_agent: str | None = None  # Reporting-MTA or Reporting-UA
    arrival_date: str | None = None
    standard: bool = True  # False: guessed from a plain-text bounce
    original_subject: str | None = field(default=None)


def parse_report(message: Message | bytes) -> Report | None:
    """The DSN or MDN carried by `message`, or None when it is neither."""
    message = _parse(message) if isinstance(message, bytes) else message
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
        text = "\n".join(sub.as_string() if isinstance(sub, Message) else sub for sub in payload)
    else:
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")  # type: ignore[union-attr]
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
            return BytesHeaderParser(policy=policy.default).parsebytes(raw)  # type: ignore[arg-type]
    return None


def _returned_id(returned: Message | None) -> str | None:
    value = str(returned.get("Message-ID", "") or "").strip() if returned is not None else ""
    return value or None


def _returned_subject(returned: Message | None) -> str | None:
    return (str(returned.get("Subject", "")) or None) if returned is not None else None


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
    sender = parseaddr(str(message.get("From", "") or ""))[1]
    return bool(_BOUNCE_SENDER.match(sender)) and bool(
        _BOUNCE_SUBJECT.search(str(message.get("Subject", "")))
    )


def _plain_bounce(message: Message) -> Report | None:
    """qmail "failure notice" and similar: recipients in <…>, a status code or the SMTP reply in the text."""
    text = "\n".join(
        str(part.get_content())
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/rfc822-headers") and hasattr(part, "get_content")
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
        reporting_agent=parseaddr(str(message.get("From", "")))[1],
        standard=False,
    )
