"""A foreign operator's SMTP server for outbound tests: real aiosmtpd, STARTTLS, client certificate required.

It records what it accepts (envelope, bytes, the client certificate's subject) and answers per recipient:
`refuse-perm@…` gets 550, `refuse-temp@…` 451, everything else 250.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from apps.gateway.pki import Issued
from tests.plugins.throwaway import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    peer_subject: str


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refuse-perm@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.startswith("refuse-temp@"):
            return "451 4.3.0 Temporary local problem, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        transport = getattr(server, "transport", None)
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        subject = ", ".join(f"{k}={v}" for rdn in (peer or {}).get("subject", ()) for k, v in rdn)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, subject))
        return "250 2.0.0 Ok: queued"


class _TLSController(Controller):
    def __init__(self, handler: _Handler, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(handler, hostname="127.0.0.1", port=free_port())

    def factory(self) -> SMTP:
        return SMTP(self.handler, tls_context=self._context, require_starttls=True, hostname="mx.remote.test")


class RemoteOperator:
    def __init__(self, identity: Issued, ca_path: Any) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(identity.cert_path), str(identity.key_path))
        context.load_verify_locations(cafile=str(ca_path))
        context.verify_mode = ssl.CERT_REQUIRED
        self.handler = _Handler()
        self.controller = _TLSController(self.handler, context)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> RemoteOperator:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port
