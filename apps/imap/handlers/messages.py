"""Message commands: FETCH, SEARCH, STORE, COPY, MOVE (UIDPLUS answers), APPEND (Drafts; Sent deduplicated).

A FETCH that hands out content (BODY[], BINARY[], a body part; not ENVELOPE, FLAGS or BODYSTRUCTURE) is
journaled as a consultation: one event per command with the folder, the UIDs and the outcome (Ref#2
CONF.17/18). APPEND never sends anything.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.services import record_event
from apps.imap import envelopes, fetching, mailstore, searching, uidmap
from apps.imap.commands import Command
from apps.imap.handlers.mailbox import NONEXISTENT, _resolve, _user
from apps.imap.responses import Raw, fetch_line, fetch_response
from apps.imap.session import AUTHENTICATED, SELECTED, Done, Session, command


def _compact(uids: list[int]) -> str:
    """`1:3,7` for UIDPLUS codes and the journal."""
    out: list[str] = []
    start = prev = None
    for uid in uids:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


SEND_BATCH = 256 * 1024


@command("FETCH", states=SELECTED, capabilities=("BINARY",))
async def fetch(session: Session, cmd: Command) -> Done:
    selected = session.selected
    uids = selected.uids_of(cmd.args["set"], uid=cmd.uid)
    atts = cmd.args["atts"]
    reads = any(att.reads_content for att in atts)
    marks = reads and not selected.readonly and any(att.reads_content and not att.peek for att in atts)
    lean = not marks and all(att.kind in mailstore.LEAN_ITEMS for att in atts)
    prefetch = selected.prefetch if lean else None
    rows = None
    if prefetch is not None:  # the message list right after SELECT: what SELECT read, no database trip
        listener = getattr(session.server, "listener", None)
        rows = prefetch.rows_for(uids, selected.folder.folder_id, listener)
    if rows is not None:  # each response encoded once while SELECT's rows stand
        bodies = prefetch.bodies(rows, atts, cmd.uid)  # type: ignore[union-attr]
        view = selected.view
        lines = [fetch_line(n, body) for uid, body in bodies if (n := view.number_of(uid)) is not None]
        session.send_later(b"".join(lines))
        return Done(text="Messages transmis.")
    if marks:
        selected.prefetch = None  # this FETCH marks messages \Seen
    call = session.db_read if lean else session.db
    results = await call(_fetch, selected.folder, session.user_id, uids, atts, cmd.uid, marks)
    # Responses written in batches, not one TLS record and socket write per message.
    batch: list[bytes] = []
    size = 0
    view = selected.view
    for uid, items in results:
        number = view.number_of(uid)
        if number is not None:
            batch.append(fetch_response(number, items))
            size += len(batch[-1])
            if size >= SEND_BATCH:
                await session.send(b"".join(batch))
                batch, size = [], 0
    if batch:
        session.send_later(b"".join(batch))  # with the tagged OK
    return Done(text="Messages transmis.")


def _fetch(
    folder: Any, user_id: int, uids: list[int], atts: Any, uid: bool, marks: bool
) -> list[tuple[int, Any]]:
    if not marks and all(att.kind in mailstore.LEAN_ITEMS for att in atts):
        # The message list (flags, envelope, sizes): one plain query, nothing to mark or journal; the
        # envelopes decrypted once per process (apps/imap/envelopes.py).
        rows = mailstore.lean_rows(folder.folder_id, folder.role, uids, user_id, folder.organisational)
        known = None
        if any(att.kind == "ENVELOPE" for att in atts):
            known = envelopes.encoded_for([row.copy for row in rows], fetching.envelope_of)
        return [
            (
                int(row.copy.uid or 0),
                fetching.fetch_items(row.copy, row.flags, atts, uid=uid, envelopes=known),
            )
            for row in rows
        ]
    rows = mailstore.rows(folder.folder_id, uids, user_id, folder.organisational)
    out = []
    for row in rows:
        if marks and "\\Seen" not in row.flags:
            mailstore.store(row, user_id, folder.organisational, "add", ("\\Seen",))
        out.append((int(row.copy.uid or 0), fetching.fetch_items(row.copy, row.flags, atts, uid=uid)))
    if any(att.reads_content for att in atts):
        with transaction.atomic():
            record_event(
                "imap.message_consulted",
                actor=_user(user_id),
                target_type="messaging.folder",
                target_id=folder.folder_id,
                mailbox=rows[0].copy.mailbox if rows else None,
                details={
                    "channel": "imap",
                    "folder": folder.name,
                    "uids": _compact([int(r.copy.uid or 0) for r in rows]),
                    "count": len(rows),
                    "answer": "OK",
                },  # fmt: skip
            )
    return out


@command("SEARCH", states=SELECTED, capabilities=("ESEARCH",))
async def search(session: Session, cmd: Command) -> Done:
    selected = session.selected
    folder = selected.folder
    context = searching.Context(
        folder.folder_id,
        folder.mailbox_id,
        session.user_id,
        folder.organisational,
        selected.view,
    )
    returns = cmd.args.get("returns")
    if returns is not None and not set(returns) <= {"MIN", "MAX", "ALL", "COUNT"}:
        return Done("BAD", "Options de RETURN possibles : MIN, MAX, ALL, COUNT.")
    if cmd.uid and returns is None and searching.joins_in_database():  # the text as the database joined it
        joined = await session.db_read(searching.search_joined, context, cmd.args["program"])
        session.send_later(b"* SEARCH " + joined + b"\r\n" if joined else b"* SEARCH\r\n")
        return Done(text=SEARCHED)
    found = await session.db_read(searching.search, context, cmd.args["program"])
    values = found if cmd.uid else _numbers(selected.view, found)
    if returns is not None:
        session.send_later(_esearch(cmd.tag, cmd.uid, returns, values))
        return Done(text=SEARCHED)
    session.send_later(b"* SEARCH" + b"".join(b" %d" % v for v in values) + b"\r\n")
    return Done(text=SEARCHED)


SEARCHED = "Recherche terminée (mots entiers ou débuts de mots)."


def _esearch(tag: str, uid: bool, returns: list[str], values: list[int]) -> bytes:
    """RFC 4731: `* ESEARCH (TAG "t") [UID] MIN n MAX n COUNT n ALL set`, what `returns` asks (empty: ALL);
    MIN, MAX and ALL left out when nothing matched. A word in every message of a million-message folder
    answers `ALL 1:1000000` instead of 7 MB."""
    wanted = set(returns) or {"ALL"}
    parts = [b'* ESEARCH (TAG "%s")' % tag.encode("ascii")]
    if uid:
        parts.append(b"UID")
    if values and "MIN" in wanted:
        parts.append(b"MIN %d" % values[0])
    if values and "MAX" in wanted:
        parts.append(b"MAX %d" % values[-1])
    if "COUNT" in wanted:
        parts.append(b"COUNT %d" % len(values))
    if values and "ALL" in wanted:
        parts.append(b"ALL " + _compact(values).encode("ascii"))
    return b" ".join(parts) + b"\r\n"


def _numbers(view: uidmap.View, uids: list[int]) -> list[int]:
    """Message numbers of ascending UIDs, by one walk along the view (not one bisection per UID)."""
    out: list[int] = []
    index, count, known = 0, view.count, view.uids
    for uid in uids:
        while index < count and known[index] < uid:
            index += 1
        if index < count and known[index] == uid:
            out.append(index + 1)
    return out


@command("STORE", states=SELECTED)
async def store(session: Session, cmd: Command) -> Done:
    selected = session.selected
    if selected.readonly:
        return Done("NO", "Dossier ouvert en lecture seule.", "READ-ONLY")
    uids = selected.uids_of(cmd.args["set"], uid=cmd.uid)
    args = cmd.args
    results = await session.db(
        _store,
        selected.folder,
        session.user_id,
        uids,
        args["mode"],
        args["flags"],
    )
    if not args["silent"]:
        for uid, flags in results:
            number = selected.view.number_of(uid)
            items: list[tuple[str, Any]] = [("FLAGS", Raw("(" + " ".join(flags) + ")"))]
            if cmd.uid:
                items.insert(0, ("UID", uid))
            if number is not None:
                await session.send(fetch_response(number, items))
    return Done(text="Drapeaux enregistrés.")


def _store(
    folder: Any, user_id: int, uids: list[int], mode: str, flags: tuple[str, ...]
) -> list[tuple[int, list[str]]]:
    out = []
    for row in mailstore.rows(folder.folder_id, uids, user_id, folder.organisational):
        mailstore.store(row, user_id, folder.organisational, mode, flags)
        out.append((int(row.copy.uid or 0), row.flags))
    return out


@command("COPY", "MOVE", states=SELECTED, capabilities=("MOVE", "UIDPLUS"))
async def copy_or_move(session: Session, cmd: Command) -> Done:
    selected = session.selected
    target = await session.db(_resolve, session.user_id, cmd.args["mailbox"])
    if target is None:
        return Done("NO", NONEXISTENT, "TRYCREATE")
    if target.mailbox_id != selected.folder.mailbox_id:
        return Done(
            "NO", "Un message ne passe pas d'une boîte aux lettres à une autre : transférez-le.", "CANNOT"
        )
    if not target.writable or (cmd.name == "MOVE" and selected.readonly):
        return Done("NO", "Vous n'avez qu'un accès en lecture à cette boîte.", "NOPERM")
    uids = selected.uids_of(cmd.args["set"], uid=cmd.uid)
    move = cmd.name == "MOVE"
    pairs = await session.db(
        mailstore.move_or_copy, selected.folder.folder_id, uids, target.folder_id, session.user_id, move
    ) if uids else []  # fmt: skip
    code = ""
    if pairs:
        code = (
            f"COPYUID {target.folder_id} {_compact([a for a, _ in pairs])} {_compact([b for _, b in pairs])}"
        )
    if move:
        uidmap.mark_stale(selected.folder.folder_id)
        if code:
            await session.send(f"* OK [{code}] Déplacés.\r\n".encode())
            code = ""
        await selected.report_changes(session)
    return Done(text="Messages déplacés." if move else "Messages copiés.", code=code)


@command("APPEND", states=AUTHENTICATED)
async def append(session: Session, cmd: Command) -> Done:
    from apps.imap.appending import append_message

    outcome = await session.db(
        append_message,
        session.user_id,
        cmd.args["mailbox"],
        cmd.args["message"],
        cmd.args["flags"],
    )
    if session.selected is not None:
        await session.selected.report_changes(session)
    return outcome
