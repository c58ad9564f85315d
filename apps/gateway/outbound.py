"""Outbound SMTP to other MSSanté operators: STARTTLS with our client certificate, the remote verified.

Registered as messaging's remote transport (`GatewayConfig.ready`), so `deliver_message` calls
`send_delivery(delivery)` for a recipient outside our domains; the Delivery was already claimed with a
conditional UPDATE, so two workers never send the same one. Routing: the routing table
(`GATEWAY_ROUTES="domain=host:port,…"`, `*` for a smarthost) first, else the domain's MX records
(dnspython), lowest preference first. A route may name the address to connect to apart from the host name
the certificate must carry (`domain=mx.example.fr:25@192.0.2.10`): the TLS check stays on the name.
Outcome mapping: 2xx delivered; 4xx, timeouts and connection errors are `TemporaryFailure` (retried with
back-off for hours by the task), a TLS failure with its own reason (tls_failures.py: certificate not
trusted, name mismatch, expired, revoked…); 5xx is `PermanentFailure` with the remote's reply kept and a
French reason for the sender's bounce.
The message is read into memory for `smtplib` (at most MESSAGE_MAX_BYTES).
"""

from __future__ import annotations

import functools
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.gateway import outbound_tls
from apps.gateway.mss_headers import ensure_nil
from apps.gateway.tls_failures import ClosedAfterHandshake, TlsFailure, classify, registered_types
from apps.messaging.delivery.transports import PermanentFailure, TemporaryFailure
from apps.messaging.models import MessageKind
from apps.messaging.store import content, storage

logger = logging.getLogger(__name__)
# outbound_tls's reason codes in the words of tls_failures (the log and the failures page say the same).
_REFUSAL_KINDS = {"hostname": "name_mismatch"}


@dataclass(frozen=True)
class Route:
    host: str  # the name the remote's certificate must carry
    port: int
    address: str = ""  # where to connect when not `host` itself (an IP address, another name)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" + (f" ({self.address})" if self.address else "")


def parse_route(entry: str) -> tuple[str, Route]:
    """`domain=host:port[@address]` (IPv6 addresses in brackets) -> (domain, Route)."""
    domain, _, target = entry.partition("=")
    target, _, address = target.strip().partition("@")
    host, _, port = target.rpartition(":")
    if not domain.strip() or not host or not port.isdigit():
        raise ValueError(
            f"GATEWAY_ROUTES: entry {entry!r} must read 'domain=host:port' or 'domain=host:port@address'"
        )
    return domain.strip().lower(), Route(host, int(port), address.strip().strip("[]"))


def _routing_table() -> dict[str, Route]:
    return dict(parse_route(entry) for entry in getattr(settings, "GATEWAY_ROUTES", []) or [])


def routes_for(domain: str) -> list[Route]:
    table = _routing_table()
    if domain in table:
        return [table[domain]]
    if "*" in table:
        return [table["*"]]
    import dns.exception
    import dns.resolver

    try:
        answers = dns.resolver.resolve(domain, "MX", lifetime=10)
    except dns.resolver.NXDOMAIN:
        raise PermanentFailure(
            f"Le domaine {domain} n'existe pas dans le DNS.", code="no_domain", remote_detail="NXDOMAIN"
        ) from None
    except (dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        logger.warning("outbound: MX lookup of %s failed: %s", domain, exc)
        raise TemporaryFailure(
            f"Le serveur de messagerie de {domain} est introuvable pour le moment."
        ) from exc
    records = sorted(answers, key=lambda r: r.preference)  # type: ignore[attr-defined]
    port = int(getattr(settings, "GATEWAY_OUTBOUND_PORT", 25))
    return [Route(str(r.exchange).rstrip("."), port) for r in records]  # type: ignore[attr-defined]


def client_context() -> ssl.SSLContext:
    cas = getattr(settings, "GATEWAY_OUTBOUND_CA_FILES", None) or settings.GATEWAY_CA_FILES
    return _client_context(
        tuple(str(ca) for ca in cas), settings.GATEWAY_CERT_FILE, settings.GATEWAY_KEY_FILE
    )


@functools.lru_cache(maxsize=4)
def _client_context(cas: tuple[str, ...], cert_file: str, key_file: str) -> ssl.SSLContext:
    """Verify the remote against the trust-space CAs only (not the system store) and present our
    certificate: mutual TLS, TLS 1.2 or newer, host name checked against the MX name (cached per files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cas:
        for ca in cas:
            context.load_verify_locations(cafile=str(ca))
    else:
        context.load_default_certs()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


def _raw_bytes(delivery: Any) -> bytes:
    message = delivery.message
    data_key = content.data_key_in_transit(message)
    raw = b"".join(storage.read_stream(message.pk, "raw", message.raw_blob, data_key))
    # X-MSS-NIL on every message leaving the platform (Ref#2 ECO.2.4.3), outside any S/MIME layer.
    raw = ensure_nil(raw, settings.MSS_NIL)
    if message.kind == MessageKind.REPORT:
        return raw
    from apps.gateway.wiring import protect_outgoing

    return protect_outgoing(raw, delivery.recipient)


def _french(code: int, text: str) -> str:
    """The sender's bounce says why in French (enhanced status code mapped by gateway.reports), and keeps
    the remote server's own words after it, since they are often the only precise explanation."""
    from apps.gateway.reports import describe_status, parse_status

    status = parse_status(text) or f"{str(code)[0]}.0.0"
    return f"{describe_status(status)} (réponse du serveur distant : {code} {text.strip()[:300]})"


def _reply_text(error: smtplib.SMTPResponseException) -> str:
    raw = error.smtp_error
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class _RoutedSMTP(smtplib.SMTP):
    """smtplib connecting to `address` while STARTTLS verifies the certificate against the host name."""

    def __init__(self, route: Route, **kwargs: Any) -> None:
        self._address = route.address
        super().__init__(route.host, route.port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address or host, port), timeout, self.source_address)


def _send_once(route: Route, sender: str, recipient: str, raw: bytes) -> None:
    timeout = float(getattr(settings, "GATEWAY_OUTBOUND_TIMEOUT", 60))
    hostname = getattr(settings, "GATEWAY_HOSTNAME", "") or socket.getfqdn()
    with _RoutedSMTP(route, local_hostname=hostname, timeout=timeout) as session:
        # Without it the end of DATA waits for the peer's delayed ACK (Nagle): ~40 ms per delivery.
        if session.sock is not None:
            session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session.ehlo()
        if not session.has_extn("starttls"):
            raise TemporaryFailure(
                f"{route.host} ne propose pas STARTTLS : envoi refusé (chiffrement obligatoire)."
            )
        # The certificate policy and revocation (apps/gateway/outbound_tls.py): raises CertificateRefused
        # or CertificateRevoked before MAIL FROM, so a refused server never receives the message.
        outbound_tls.starttls(session, route.host, client_context())
        try:
            session.ehlo()
        except smtplib.SMTPServerDisconnected as exc:
            raise ClosedAfterHandshake(str(exc)) from exc
        session.sendmail(sender, [recipient], raw)


def send_delivery(delivery: Any) -> None:
    """Deliver one remote recipient; raises TemporaryFailure or PermanentFailure, returns on success."""
    domain = delivery.recipient.rpartition("@")[2].lower()
    raw = _raw_bytes(delivery)
    message = delivery.message
    # Reports (DSN/MDN) go out with a null envelope sender so they can never bounce in a loop.
    sender = "" if message.kind == MessageKind.REPORT else message.sender_address
    last: BaseException | None = None
    tls: tuple[Route, TlsFailure] | None = None
    retry_next: tuple[type[BaseException], ...] = (OSError, smtplib.SMTPException, *registered_types())
    for route in routes_for(domain):
        try:
            _send_once(route, sender, delivery.recipient, raw)
            logger.info("outbound: delivery %s accepted by %s:%d", delivery.pk, route.host, route.port)
            return
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            _raise_for(
                int(code), reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            )
        except smtplib.SMTPResponseException as exc:
            _raise_for(exc.smtp_code, _reply_text(exc))
        except outbound_tls.CertificateRefused as exc:
            # Refused by our certificate policy or revocation (outbound_tls): named, never "unreachable";
            # not tried on another MX of the same operator (the same certificate is expected there).
            kind = _REFUSAL_KINDS.get(exc.reason_code, exc.reason_code)
            logger.warning(
                "outbound: TLS failure (%s) with %s for delivery %s: %s", kind, route, delivery.pk, exc
            )
            raise
        except retry_next as exc:
            last = exc  # try the next MX
            failure = classify(exc)
            if failure is not None:
                tls = tls or (route, failure)
                logger.warning(
                    "outbound: TLS failure (%s) with %s for delivery %s: %s",
                    failure.kind,
                    route,
                    delivery.pk,
                    failure.detail,
                )
            else:
                logger.warning("outbound: %s failed for delivery %s: %s", route, delivery.pk, exc)
    if tls is not None:  # a certificate problem says more than "unreachable", even if another MX was down
        raise TemporaryFailure(tls[1].french(domain, tls[0].host))
    logger.warning("outbound: delivery %s: no route to %s answered (%s)", delivery.pk, domain, last)
    raise TemporaryFailure(f"Le serveur de messagerie de {domain} est injoignable pour le moment.")


def _raise_for(code: int, text: str) -> None:
    detail = f"{code} {text}"[:500]
    if 500 <= code < 600:
        raise PermanentFailure(_french(code, text), code=f"smtp_{code}", remote_detail=detail)
    raise TemporaryFailure(f"Refus temporaire du serveur du destinataire ({detail}).")
