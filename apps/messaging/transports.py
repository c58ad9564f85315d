"""Remote transports and report handlers that the gateway plugs in (messaging never imports gateway).

`remote_transport(delivery)` sends one delivery to another operator and returns None on success or raises
`TemporaryFailure` / `PermanentFailure`; `read_receipt_sender(copy, user)` returns an MDN to a remote sender.
Without a registered transport, remote deliveries are retried then bounced with a clear reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TemporaryFailure(Exception):
    """Try again later (4xx, network): the message (French) explains it on the sender's timeline."""


class PermanentFailure(Exception):
    """Will never succeed (5xx): the sender gets a bounce with this French reason."""

    def __init__(self, message: str, *, code: str = "remote_refused", remote_detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.remote_detail = remote_detail


_remote: dict[str, Callable[[Any], None]] = {}
_mdn: dict[str, Callable[[Any, Any], None]] = {}


def register_remote_transport(send: Callable[[Any], None]) -> None:
    _remote["default"] = send


def register_read_receipt_sender(send: Callable[[Any, Any], None]) -> None:
    _mdn["default"] = send


def remote_transport() -> Callable[[Any], None] | None:
    return _remote.get("default")


def read_receipt_sender() -> Callable[[Any, Any], None] | None:
    return _mdn.get("default")


_reports: dict[str, Callable[[Any], bool]] = {}


def register_report_handler(handle: Callable[[Any], bool]) -> None:
    """`handle(parsed_email) -> bool`: True when a DSN/MDN was about one of our messages and was applied."""
    _reports["default"] = handle


def report_handler() -> Callable[[Any], bool] | None:
    return _reports.get("default")


_inbound: dict[str, Callable[[bytes], Any]] = {}
_remote_bounce: dict[str, Callable[[Any], None]] = {}


def register_inbound_opener(open_: Callable[[bytes], Any]) -> None:
    """`open_(raw) -> (readable_bytes, signature_state, signature_label)`: S/MIME layers removed."""
    _inbound["default"] = open_


def inbound_opener() -> Callable[[bytes], Any] | None:
    return _inbound.get("default")


def register_remote_bouncer(send: Callable[[Any], None]) -> None:
    """`send(delivery)`: a DSN to the remote sender of a received message that could not be deposited."""
    _remote_bounce["default"] = send


def remote_bouncer() -> Callable[[Any], None] | None:
    return _remote_bounce.get("default")
