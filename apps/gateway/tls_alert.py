"""A refused TLS handshake must reach the client as a TLS alert (issue 17 point 5).

When the server refuses the client's certificate (a CA outside GATEWAY_CA_FILES), OpenSSL writes the alert
("unknown CA") into the connection's outgoing buffer, but asyncio 3.11's `SSLProtocol` then closes the
transport without sending that buffer: the peer saw a bare end of connection ("unexpected eof"), which an
MTA logs as a network error and retries forever, instead of the alert naming the cause. Before asyncio
handles the failed handshake, the pending bytes are flushed to the transport (a write on an empty buffer is
sent at once, before the close). Installed once per process by the gateway.
"""

from __future__ import annotations

import contextlib
from asyncio import sslproto
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    original = sslproto.SSLProtocol._on_handshake_complete

    def flush_alert_then_complete(self: Any, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):  # a transport already gone has nobody to alert
                self._process_outgoing()
        original(self, handshake_exc)

    sslproto.SSLProtocol._on_handshake_complete = flush_alert_then_complete  # type: ignore[method-assign]
    _installed = True
