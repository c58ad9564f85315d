"""The transport beyond this platform: one typed interface, its implementation named by a setting.

messaging never imports the gateway (docs/design.md §1): `settings.MESSAGING_TRANSPORT` names the class
(`apps.gateway.transport.GatewayTransport` in every configuration of this project), loaded once per process
and re-read when a test changes the setting. Without one, `LocalOnlyTransport` keeps mail inside the
platform: remote deliveries are retried then bounced with a clear reason, inbound mail is parsed as received,
reports and receipts to remote senders are not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

NO_TRANSPORT = "Aucun acheminement vers cet opérateur n'est disponible pour le moment ; nouvel essai prévu."


class TemporaryFailure(Exception):
    """Try again later (4xx, network): the message (French) explains it on the sender's timeline."""


class PermanentFailure(Exception):
    """Will never succeed (5xx): the sender gets a bounce with this French reason."""

    def __init__(self, message: str, *, code: str = "remote_refused", remote_detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.remote_detail = remote_detail


@dataclass(frozen=True)
class SendResult:
    """The outcome of one delivery of a batch: `failure` is None once the remote accepted it."""

    delivery_id: int
    failure: TemporaryFailure | PermanentFailure | None = None


@dataclass(frozen=True)
class ReceiptOutcome:
    """What the transport did with a read receipt: `sent` to `to`, or withheld for `reason` (English, for
    the log and the journal; apps/messaging/delivery/receipts.py journals it)."""

    sent: bool
    to: str = ""
    reason: str = ""


@runtime_checkable
class Transport(Protocol):
    def send(self, delivery: Any) -> None:
        """Send one delivery to another operator; raise `TemporaryFailure` or `PermanentFailure`."""

    def send_batch(self, deliveries: Sequence[Any]) -> list[SendResult]:
        """Send deliveries bound to ONE destination (same remote domain) over as few connections as the
        remote allows; one result per delivery, in order (the outbound connection pool implements it)."""

    def open_inbound(self, raw: bytes) -> tuple[bytes, str, str]:
        """(readable bytes, signature state, French label): S/MIME layers removed before parsing."""

    def handle_report(self, parsed: Any) -> bool:
        """Apply a DSN/MDN about one of our messages; False when it is not about ours."""

    def send_read_receipt(self, copy: Any, user: Any) -> ReceiptOutcome:
        """The MDN to the remote sender of a received copy that asked for one (RFC 8098), or why not."""

    def bounce_remote(self, delivery: Any) -> None:
        """A DSN to the remote sender of a received message that could not be deposited (RFC 3464)."""


class LocalOnlyTransport:
    """No route beyond the platform (a deployment without the gateway app)."""

    def send(self, delivery: Any) -> None:
        raise TemporaryFailure(NO_TRANSPORT)

    def send_batch(self, deliveries: Sequence[Any]) -> list[SendResult]:
        return [SendResult(d.pk, TemporaryFailure(NO_TRANSPORT)) for d in deliveries]

    def open_inbound(self, raw: bytes) -> tuple[bytes, str, str]:
        return raw, "", ""

    def handle_report(self, parsed: Any) -> bool:
        return False

    def send_read_receipt(self, copy: Any, user: Any) -> ReceiptOutcome:
        return ReceiptOutcome(sent=False, reason="no transport beyond the platform")

    def bounce_remote(self, delivery: Any) -> None:
        return None


@lru_cache(maxsize=1)
def get_transport() -> Transport:
    path = getattr(settings, "MESSAGING_TRANSPORT", "")
    transport = import_string(path)() if path else LocalOnlyTransport()
    if not isinstance(transport, Transport):
        raise TypeError(f"MESSAGING_TRANSPORT={path!r} does not implement messaging's Transport interface")
    return transport


def _reload(*, setting: str, **_: Any) -> None:
    if setting == "MESSAGING_TRANSPORT":
        get_transport.cache_clear()


setting_changed.connect(_reload, dispatch_uid="messaging.transports.reload")
