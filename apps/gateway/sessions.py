"""The gateway's open SMTP sessions, for a clean stop (issue 17 point 5).

On SIGTERM the gateway closes its listeners (no new connection), lets each session that is inside DATA
finish within a grace period (the message is committed and answered 250, the usual way), then answers 421
to every session still open and closes it: a peer in the middle of its DATA gets 421 and sends again later,
a peer between two messages learns at once that it must reconnect (RFC 5321 §3.8), rather than waiting for
a timeout. Hence a stop answers every peer within 2 s and the process exits within 5 s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from apps.gateway.replies import Reply

logger = logging.getLogger(__name__)
SHUTTING_DOWN = Reply(421, "4.3.2", "Service en cours d'arret : reessayez dans un instant.")
DATA_GRACE_SECONDS = 1.5


class Sessions:
    """The protocol instances of open connections, and which of them are inside DATA."""

    def __init__(self) -> None:
        self.open: set[Any] = set()
        self.in_data: set[Any] = set()

    def opened(self, protocol: Any) -> None:
        self.open.add(protocol)

    def closed(self, protocol: Any) -> None:
        self.open.discard(protocol)
        self.in_data.discard(protocol)

    async def drain(self, grace: float = DATA_GRACE_SECONDS) -> int:
        """Wait for the sessions in DATA (at most `grace` seconds), then 421 and close the rest; returns how
        many were closed that way."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.in_data and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        closed = 0
        for protocol in list(self.open):
            transport = getattr(protocol, "transport", None)
            if transport is None or transport.is_closing():
                continue
            try:
                transport.write(f"{SHUTTING_DOWN}\r\n".encode("ascii"))
            except Exception:  # noqa: BLE001 — a connection already broken: nothing to tell it
                logger.debug("gateway: could not send 421 before stopping", exc_info=True)
            transport.close()
            closed += 1
        if closed:
            logger.info("gateway: stopping, %d open session(s) answered 421", closed)
        return closed
