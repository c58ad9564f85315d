"""IDLE (RFC 2177): the client waits for news; the session reports changes of the selected folder as they
are announced (apps.imap.push) until the client sends DONE."""

from __future__ import annotations

import asyncio

from apps.imap import responses
from apps.imap.commands import Command
from apps.imap.session import AUTHENTICATED, Done, Session, command


@command("IDLE", states=AUTHENTICATED, capabilities=("IDLE",))
async def idle(session: Session, cmd: Command) -> Done:
    await session.send(responses.continuation("En attente de nouveaux messages."))
    session.idling = True
    try:
        line = await asyncio.wait_for(_done_line(session), session.server.config.idle_timeout)
    except TimeoutError:
        await session.bye("Session inactive depuis trop longtemps : déconnexion.")
        session.closing = True
        return Done("", "")
    finally:
        session.idling = False
    if line.strip().upper() != b"DONE":
        return Done("BAD", "DONE attendu pour terminer IDLE.")
    return Done(text="IDLE terminé.")


async def _done_line(session: Session) -> bytes:
    """The client's DONE, reporting the selected folder's changes whenever they are announced."""
    read = asyncio.ensure_future(session.reader.readuntil(b"\r\n"))
    wake: asyncio.Future | None = None
    try:
        while True:
            wake = asyncio.ensure_future(session.changed.wait())
            finished, _ = await asyncio.wait({read, wake}, return_when=asyncio.FIRST_COMPLETED)
            if read in finished:
                return read.result()
            session.changed.clear()
            if session.selected is not None:
                await session.selected.report_changes(session, announced=True)
    finally:
        read.cancel()
        if wake is not None:  # a session ended in IDLE (BYE) must not leave its waiter behind
            wake.cancel()
