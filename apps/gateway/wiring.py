"""What the gateway provides to messaging through `GatewayTransport` (apps/gateway/transport.py; messaging
never imports the gateway).

- remote transport: outbound SMTP (`outbound.send_delivery`), messages signed with the operator's S/MIME
  signing certificate (`SMIME_CERT_FILE`/`SMIME_KEY_FILE`; never a TLS-only certificate, see signing.py);
- inbound opener: S/MIME layers removed (decrypted with our key, signature verified against the
  trust-space CAs) before parsing, the result kept on the message for the webmail;
- report handler: DSNs and MDNs about our messages update the sender's timeline;
- read receipts to remote senders (MDN, RFC 8098) and DSNs to remote senders whose message could not be
  deposited (RFC 3464), both sent with a null envelope sender through the ordinary pipeline.
"""

from __future__ import annotations

import functools
import logging
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from apps.gateway import reports, signing, smime

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _load_credentials(cert: str, key: str) -> smime.Credentials:
    return smime.Credentials.from_pem(Path(cert).read_bytes(), Path(key).read_bytes())


@functools.lru_cache(maxsize=4)
def _load_trust(cas: tuple[str, ...]) -> smime.TrustStore:
    return smime.TrustStore.from_files(*cas)


def _credentials() -> smime.Credentials | None:
    cert = getattr(settings, "SMIME_CERT_FILE", "") or settings.GATEWAY_CERT_FILE
    key = getattr(settings, "SMIME_KEY_FILE", "") or settings.GATEWAY_KEY_FILE
    return _load_credentials(str(cert), str(key)) if cert and key else None


def _trust() -> smime.TrustStore | None:
    cas = getattr(settings, "SMIME_CA_FILES", None) or settings.GATEWAY_CA_FILES
    return _load_trust(tuple(str(ca) for ca in cas)) if cas else None


def sign_outgoing(raw: bytes) -> bytes:
    credentials = signing.signing_credentials()
    return smime.sign_message(raw, credentials) if credentials is not None else raw


def protect_outgoing(raw: bytes, recipient: str) -> bytes:
    """Sign (operator certificate) then, when the recipient's certificate is known, encrypt to it and to us
    (so our own copy of what was sent stays readable in an audit)."""
    from apps.gateway.models import PeerCertificate

    signed = sign_outgoing(raw)
    known = PeerCertificate.objects.filter(address=recipient.lower(), not_after__gt=timezone.now()).first()
    if known is None:
        return signed
    peer = x509.load_pem_x509_certificate(known.certificate_pem.encode())
    if not isinstance(peer.public_key(), rsa.RSAPublicKey):
        # cryptography builds RSA key transport only (no ECDH recipients): signed, not encrypted.
        logger.info("smime: %s has a non-RSA certificate; message signed but not encrypted", recipient)
        return signed
    recipients = [peer]
    credentials = _credentials()
    if credentials is not None and isinstance(credentials.certificate.public_key(), rsa.RSAPublicKey):
        recipients.append(credentials.certificate)
    return smime.encrypt_message(signed, recipients)


def _learn_certificate(check: smime.SignatureCheck) -> None:
    """Keep the certificate of a valid signature for each e-mail it names (RFC 8551 §2.7.1)."""
    from apps.gateway.models import PeerCertificate

    cert = check.signer_certificate
    if cert is None or check.state != smime.SignatureState.VALID:
        return
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    for address in check.signer_emails:
        PeerCertificate.objects.update_or_create(
            address=address.lower()[:254],
            defaults={
                "certificate_pem": pem,
                "fingerprint_sha256": fingerprint,
                "not_after": cert.not_valid_after_utc,
                "seen_at": timezone.now(),
            },
        )


def open_inbound(raw: bytes) -> tuple[bytes, str, str]:
    """(readable bytes, signature state, French label) — an undecryptable message is kept as received."""
    trust = _trust()
    if trust is None or smime.smime_kind(raw) == smime.SmimeKind.NONE:
        return raw, "", ""
    credentials = _credentials()
    try:
        opened = smime.open_message(raw, trust, [credentials] if credentials else [])
    except smime.SmimeError as exc:
        logger.warning("smime: inbound message not opened: %s", exc)
        return raw, "undecryptable", exc.label
    _learn_certificate(opened.signature)
    return opened.message, str(opened.signature.state), opened.signature.label


def handle_report(parsed: Any) -> bool:
    """Apply a DSN/MDN about one of our messages to its deliveries; False when it is not about ours."""
    from apps.messaging.delivery.deliver import do_fail_delivery
    from apps.messaging.models import Delivery, Message

    report = reports.parse_report(parsed)
    if report is None or not report.original_message_id:
        return False
    message = Message.objects.filter(
        message_id=report.original_message_id, from_mailbox__isnull=False
    ).first()
    if message is None:
        return False
    deliveries = list(Delivery.objects.filter(message=message, is_local=False))
    for entry in report.entries:
        address = (entry.final_recipient or entry.original_recipient or "").lower()
        delivery = next((d for d in deliveries if d.recipient == address), None)
        if delivery is None and len(deliveries) == 1:
            delivery = deliveries[0]
        if delivery is None:
            continue
        outcome = entry.outcome
        if outcome == reports.Outcome.FAILED:
            do_fail_delivery(
                delivery.pk,
                code="remote_dsn",
                reason=_reason_for(delivery.recipient, entry),
                remote_detail=(entry.diagnostic or "")[:500],
            )
        elif outcome in (reports.Outcome.DISPLAYED, reports.Outcome.PROCESSED):
            Delivery.objects.filter(pk=delivery.pk, read_at__isnull=True).update(read_at=timezone.now())
        elif outcome in (reports.Outcome.DELAYED, reports.Outcome.PROCESSING_ERROR):
            Delivery.objects.filter(pk=delivery.pk).update(error_text=entry.reason[:500])
    return True


def _reason_for(address: str, entry: Any) -> str:
    """The French reason on the sender's timeline; a DSN of a domain an app knows better (the national
    patient domain, mapped by apps.patients) becomes the same automatic return as for local recipients."""
    from apps.messaging.recipient_policies import map_remote_dsn

    refusal = map_remote_dsn(address, entry.status or "", entry.diagnostic or "")
    return refusal.message if refusal is not None else str(entry.reason)


def _original(copy: Any) -> Any:
    from apps.messaging.store import content, storage

    message = copy.message
    data_key = content.data_key_of_copy(copy)
    raw = b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, data_key))
    return BytesParser(policy=policy.default).parsebytes(raw)


def _reporting_ua() -> str:
    # A report's fields are ASCII (RFC 8098 §3.2.1): the operator's name with accents folded.
    from apps.gateway.replies import ascii_text

    return f"{settings.OPERATOR_DOMAINS[0]}; {ascii_text(str(settings.OPERATOR_NAME)) or 'MSSante'}"


def send_read_receipt(copy: Any, user: Any) -> Any:
    """The MDN (RFC 8098) to a remote sender who asked for one; withheld when RFC 8098 §2.1 wants the reader
    asked first (the notification address is not the Return-Path, or several addresses). Messaging journals
    the returned `ReceiptOutcome` (apps/messaging/delivery/receipts.py)."""
    from apps.messaging.delivery.bounce import do_send_report
    from apps.messaging.delivery.receipts import receipt_key
    from apps.messaging.delivery.transports import ReceiptOutcome

    original = _original(copy)
    request = reports.mdn_request(original, envelope_sender=copy.message.return_path)
    if request is None:
        return ReceiptOutcome(sent=False, reason="no usable Disposition-Notification-To")
    if request.needs_confirmation:
        return ReceiptOutcome(
            sent=False, to=request.address, reason="Disposition-Notification-To differs from the Return-Path"
        )
    mdn = reports.build_mdn(original, final_recipient=copy.mailbox.address, reporting_ua=_reporting_ua())
    do_send_report(
        mdn.as_bytes(policy=policy.SMTP), recipient=request.address, idempotency_key=receipt_key(copy)
    )
    return ReceiptOutcome(sent=True, to=request.address)


def send_dsn(delivery: Any) -> None:
    """A DSN to the remote sender of a received message that could not be deposited."""
    from apps.messaging.delivery.bounce import do_send_report
    from apps.messaging.store import content, storage

    message = delivery.message
    raw = b"".join(
        storage.read_stream(message.pk, "raw", message.raw_blob, content.data_key_in_transit(message))
    )
    domain = settings.OPERATOR_DOMAINS[0]
    status = reports.RecipientStatus(
        final_recipient=delivery.recipient,
        status=_status(delivery.error_code),
        diagnostic=delivery.error_text.encode("ascii", "replace").decode()[:300],
    )
    dsn = reports.build_dsn(
        raw,
        [status],
        to=message.return_path,
        reporting_mta=getattr(settings, "GATEWAY_HOSTNAME", "") or f"mx.{domain}",
        postmaster=f"postmaster@{domain}",
    )
    do_send_report(
        dsn.as_bytes(policy=policy.SMTP), recipient=message.return_path, idempotency_key=f"dsn:{delivery.pk}"
    )


_STATUS = {
    "unknown_mailbox": "5.1.1",
    "mailbox_suspended": "5.2.1",
    "quota_full": "5.2.2",
    "not_trusted": "5.7.1",
    "invalid_address": "5.1.3",
}


def _status(code: str) -> str:
    return _STATUS.get(code, "5.7.1" if code.startswith("patient") else "5.0.0")
