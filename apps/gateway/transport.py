"""The gateway as messaging's `Transport` (apps/messaging/delivery/transports.py), named by the setting
`MESSAGING_TRANSPORT`: outbound SMTP to other operators, S/MIME opening of inbound mail, DSN/MDN handling
and the reports the platform sends to remote senders (apps/gateway/wiring.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apps.gateway import outbound, wiring
from apps.messaging.delivery.transports import PermanentFailure, ReceiptOutcome, SendResult, TemporaryFailure


class GatewayTransport:
    def send(self, delivery: Any) -> None:
        outbound.send_delivery(delivery)

    def send_batch(self, deliveries: Sequence[Any]) -> list[SendResult]:
        # One SMTP session per delivery today (outbound.send_delivery); a pool keeping one session per
        # destination will replace this loop without changing the interface or its callers.
        results = []
        for delivery in deliveries:
            try:
                outbound.send_delivery(delivery)
            except (TemporaryFailure, PermanentFailure) as exc:
                results.append(SendResult(delivery.pk, exc))
            else:
                results.append(SendResult(delivery.pk))
        return results

    def open_inbound(self, raw: bytes) -> tuple[bytes, str, str]:
        return wiring.open_inbound(raw)

    def handle_report(self, parsed: Any) -> bool:
        return wiring.handle_report(parsed)

    def send_read_receipt(self, copy: Any, user: Any) -> ReceiptOutcome:
        return wiring.send_read_receipt(copy, user)

    def bounce_remote(self, delivery: Any) -> None:
        wiring.send_dsn(delivery)
