"""Folder commands: NAMESPACE, LIST (LIST-EXTENDED, SPECIAL-USE), LSUB, SUBSCRIBE, UNSUBSCRIBE, STATUS,
CREATE, DELETE, RENAME, SELECT, EXAMINE, CLOSE, UNSELECT, CHECK, EXPUNGE, GETQUOTA, GETQUOTAROOT.

Folders are created, renamed and deleted by the webmail's services (same rules: the special-use folders
cannot be renamed or deleted, a deleted folder's messages go to the Corbeille). Every folder is
subscribed: LSUB lists what LIST lists, SUBSCRIBE and UNSUBSCRIBE succeed without changing anything.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.imap import folders, mailstore, selecting, uidmap, utf7
from apps.imap.commands import Command
from apps.imap.responses import Raw, flag_list
from apps.imap.selected import Prefetch, SelectedFolder
from apps.imap.session import AUTHENTICATED, SELECTED, Done, Session, State, command

NONEXISTENT = "Ce dossier n'existe pas."
LIST_CAPS = ("NAMESPACE", "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "QUOTA")


def _user(user_id: int) -> User:
    return User.objects.get(pk=user_id)


def _folders(user_id: int) -> list[folders.ImapFolder]:
    return folders.folders_for(_user(user_id))


def _resolve(user_id: int, name: str) -> folders.ImapFolder | None:
    return folders.resolve(_user(user_id), name)


@command("NAMESPACE", states=AUTHENTICATED, capabilities=("NAMESPACE",))
async def namespace(session: Session, cmd: Command) -> Done:
    shared = utf7.encode(folders.SHARED + folders.DELIMITER)
    await session.send(f'* NAMESPACE (("" "/")) NIL (("{shared}" "/"))\r\n'.encode())
    return Done(text="Espaces de noms listés.")


@command("LIST", "LSUB", states=AUTHENTICATED, capabilities=LIST_CAPS)
async def list_folders(session: Session, cmd: Command) -> Done:
    args = cmd.args
    user_id = session.user_id
    patterns = args["patterns"]
    if patterns == [""]:
        await session.send(b'* LIST (\\Noselect) "/" ""\r\n')
        return Done(text="Séparateur de hiérarchie.")
    found = await session.db(_listing, user_id, args["reference"], patterns)
    special_only = "SPECIAL-USE" in args["selection"]
    status_items = next((r.split()[1:] for r in args["returns"] if r.startswith("STATUS")), None)
    names = [name for _folder, name in found]
    for folder, name in found:
        if special_only and (folder is None or not folder.attributes):
            continue
        attributes = [] if folder is not None else ["\\Noselect"]
        attributes.append("\\HasChildren" if folders.has_children(name, names) else "\\HasNoChildren")
        if folder is not None:
            attributes += folder.attributes
        if cmd.name == "LSUB":
            attributes = [a for a in attributes if a == "\\Noselect"]
        await session.untagged(Raw(cmd.name), flag_list(attributes), "/", utf7.encode(name))
        if status_items and folder is not None:
            await _send_status(session, folder, name, status_items)
    return Done(text="Dossiers listés.")


def _listing(user_id: int, reference: str, patterns: list[str]) -> list[tuple[Any, str]]:
    seen: dict[str, Any] = {}
    for pattern in patterns:
        for folder, name in folders.listing(_user(user_id), reference, pattern):
            seen.setdefault(name, folder)
    return [(folder, name) for name, folder in seen.items()]


@command("SUBSCRIBE", "UNSUBSCRIBE", states=AUTHENTICATED)
async def subscribe(session: Session, cmd: Command) -> Done:
    folder = await session.db(_resolve, session.user_id, cmd.args["mailbox"])
    if folder is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    return Done(text="Tous les dossiers sont abonnés.")


def _status_values(folder_id: int, user_id: int, organisational: bool) -> dict[str, int]:
    view = uidmap.current(folder_id)
    from apps.messaging.models import CopyRead, MessageCopy

    copies = MessageCopy.objects.filter(folder_id=folder_id, uid__isnull=False)
    if organisational:
        unseen = copies.count() - CopyRead.objects.filter(user_id=user_id, copy__folder_id=folder_id).count()
    else:
        unseen = copies.filter(is_read=False).count()
    from apps.messaging.models import Folder

    uidnext = Folder.objects.filter(pk=folder_id).values_list("uidnext", flat=True).first() or 1
    return {
        "MESSAGES": view.count,
        "RECENT": 0,
        "UIDNEXT": uidnext,
        "UIDVALIDITY": folder_id,
        "UNSEEN": unseen,
    }


async def _send_status(session: Session, folder: folders.ImapFolder, name: str, items: list[str]) -> None:
    values = await session.db(_status_values, folder.folder_id, session.user_id, folder.organisational)
    pairs = " ".join(f"{item} {values.get(item, 0)}" for item in items)
    await session.untagged(Raw("STATUS"), utf7.encode(name), Raw(f"({pairs})"))


def _select(user_id: int, name: str) -> tuple[folders.ImapFolder, uidmap.View, int, int] | None:
    """SELECT's database work without reading ahead (apps/imap/selecting.py)."""
    found = selecting.selection(user_id, name)
    return None if found is None else (found.folder, found.view, found.uidnext, found.modseq)


@command("STATUS", states=AUTHENTICATED)
async def status(session: Session, cmd: Command) -> Done:
    folder = await session.db(_resolve, session.user_id, cmd.args["mailbox"])
    if folder is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    await _send_status(session, folder, folder.name, cmd.args["items"])
    return Done(text="État du dossier.")


@command("SELECT", "EXAMINE", states=AUTHENTICATED)
async def select(session: Session, cmd: Command) -> Done:
    session.selected = None
    session.state = State.AUTHENTICATED
    user_id = session.user_id
    # What the push listener has announced so far: the newest copies read with SELECT answer a FETCH only
    # while nothing more is announced for the folder (selected.py, `Prefetch`).
    listener = getattr(session.server, "listener", None)
    mark = listener.mark() if listener is not None else None
    found = await session.db_read(selecting.selection, user_id, cmd.args["mailbox"], listener, mark)
    if found is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    folder, view, uidnext = found.folder, found.view, found.uidnext
    readonly = cmd.name == "EXAMINE" or not folder.writable
    selected = SelectedFolder(folder, readonly, view, found.modseq, found.modseq, flags_pending=False)
    if found.newest is not None:
        selected.prefetch = Prefetch.of(found.newest, view, selecting.PREFETCH)
    session.selected = selected
    session.state = State.SELECTED
    flags = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", *mailstore.KEYWORD_STATUS]
    permanent = [] if readonly else [*mailstore.PERMANENT_FLAGS]
    session.send_later(  # written with the tagged OK: one TLS record, one socket write for the whole answer
        b"* FLAGS " + flag_list(flags).encode() + b"\r\n"
        + b"* %d EXISTS\r\n* 0 RECENT\r\n" % view.count
        + f"* OK [PERMANENTFLAGS {flag_list(permanent)}] Drapeaux modifiables.\r\n".encode()
        + f"* OK [UIDVALIDITY {folder.folder_id}] UID valides.\r\n".encode()
        + f"* OK [UIDNEXT {uidnext}] Prochain UID.\r\n".encode()
    )  # fmt: skip
    code = "READ-ONLY" if readonly else "READ-WRITE"
    return Done(text="Dossier sélectionné.", code=code)


@command("CREATE", states=AUTHENTICATED)
async def create(session: Session, cmd: Command) -> Done:
    return await session.db(_create, session.user_id, cmd.args["mailbox"])


def _home_and_path(user: User, name: str) -> tuple[folders.ImapFolder, str] | Done:
    """The BAL an IMAP folder name lies in (its INBOX) and the folder's path inside it (the webmail's
    name: « Dossier/Sous-dossier »), or the refusal to answer."""
    parts = name.strip(folders.DELIMITER).split(folders.DELIMITER)
    if parts[0] == folders.SHARED:
        home = folders.resolve(user, folders.DELIMITER.join(parts[:2])) if len(parts) > 1 else None
        if home is None:
            return Done("NO", NONEXISTENT, "NONEXISTENT")
        if len(parts) < 3:
            return Done("NO", "Ce nom est celui d'une boîte aux lettres partagée.", "ALREADYEXISTS")
        return home, folders.DELIMITER.join(parts[2:])
    if parts[0].upper() == "INBOX":
        return Done("NO", "La boîte de réception ne reçoit pas de sous-dossiers.", "CANNOT")
    home = folders.resolve(user, "INBOX")
    if home is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    return home, folders.DELIMITER.join(parts)


def _refusal(exc: ValidationError) -> Done:
    text = " ".join(exc.messages)
    return Done("NO", text, "ALREADYEXISTS" if "existe déjà" in text else "CANNOT")


def _create(user_id: int, name: str) -> Done:
    from django.http import Http404

    from apps.mailboxes.policies import access_mailbox
    from apps.messaging.webmail.services import do_create_folder

    user = _user(user_id)
    found = _home_and_path(user, name)
    if isinstance(found, Done):
        return found
    home, path = found
    if not home.writable:
        return Done("NO", "Vous n'avez qu'un accès en lecture à cette boîte.", "NOPERM")
    try:
        mailbox = access_mailbox(user, home.mailbox_id, for_write=True)
        do_create_folder(mailbox, path, user=user)
    except ValidationError as exc:
        return _refusal(exc)
    except Http404:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    return Done(text="Dossier créé.")


@command("DELETE", "RENAME", states=AUTHENTICATED)
async def delete_or_rename(session: Session, cmd: Command) -> Done:
    user_id = session.user_id
    return await session.db(_delete_or_rename, user_id, cmd.name, cmd.args["mailbox"], cmd.args.get("new"))


def _delete_or_rename(user_id: int, name: str, mailbox: str, new: str | None) -> Done:
    from apps.messaging.models import Folder
    from apps.messaging.webmail.services import do_delete_folder, do_rename_folder

    user = _user(user_id)
    found = folders.resolve(user, mailbox)
    if found is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    if not found.writable:
        return Done("NO", "Vous n'avez qu'un accès en lecture à cette boîte.", "NOPERM")
    folder = Folder.objects.select_related("mailbox").get(pk=found.folder_id)
    try:
        if name == "DELETE":
            do_delete_folder(folder, user=user)
            return Done(text="Dossier supprimé (ses messages sont dans la corbeille).")
        target = _home_and_path(user, new or "")
        if isinstance(target, Done):
            return target
        home, path = target
        if home.mailbox_id != found.mailbox_id:
            return Done("NO", "Un dossier ne change pas de boîte aux lettres.", "CANNOT")
        do_rename_folder(folder, path, user=user)
    except ValidationError as exc:
        return _refusal(exc)
    uidmap.mark_stale(found.folder_id)
    return Done(text="Dossier renommé.")


@command("CLOSE", "UNSELECT", states=SELECTED, capabilities=("UNSELECT",))
async def close(session: Session, cmd: Command) -> Done:
    selected = session.selected
    if cmd.name == "CLOSE" and selected is not None and not selected.readonly:
        await session.db(mailstore.expunge, selected.folder.folder_id, session.user_id, None)
        uidmap.mark_stale(selected.folder.folder_id)
    session.selected = None
    session.state = State.AUTHENTICATED
    return Done(text="Dossier fermé.")


@command("CHECK", states=SELECTED)
async def check(session: Session, cmd: Command) -> Done:
    await session.selected.report_changes(session)
    return Done(text="Rien à faire : tout est déjà enregistré.")


@command("EXPUNGE", states=SELECTED, capabilities=("UIDPLUS",))
async def expunge(session: Session, cmd: Command) -> Done:
    selected = session.selected
    if selected.readonly:
        return Done("NO", "Dossier ouvert en lecture seule.", "READ-ONLY")
    wanted = selected.uids_of(cmd.args["set"], uid=True) if cmd.uid else None
    gone = await session.db(mailstore.expunge, selected.folder.folder_id, session.user_id, wanted)
    if gone:
        uidmap.mark_stale(selected.folder.folder_id)
    await selected.report_changes(session)
    return Done(text="Messages supprimés.")


@command("GETQUOTAROOT", "GETQUOTA", states=AUTHENTICATED, capabilities=("QUOTA",))
async def quota(session: Session, cmd: Command) -> Done:
    name = cmd.args.get("mailbox") or cmd.args.get("root", "")
    found = await session.db(_quota, session.user_id, name)
    if found is None:
        return Done("NO", NONEXISTENT, "NONEXISTENT")
    root, used_kib, limit_kib = found
    if cmd.name == "GETQUOTAROOT":
        await session.untagged(Raw("QUOTAROOT"), utf7.encode(name), root)
    await session.untagged(Raw("QUOTA"), root, Raw(f"(STORAGE {used_kib} {limit_kib})"))
    return Done(text="Quota de la boîte aux lettres.")


def _quota(user_id: int, name: str) -> tuple[str, int, int] | None:
    """The BAL's quota (STORAGE in KiB); the quota root is the BAL's address."""
    from apps.mailboxes.models import Mailbox
    from apps.mailboxes.quotas import get_quota_usage

    user = _user(user_id)
    by_root = {f.name: f for f in folders.folders_for(user)}
    found = folders.resolve(user, name)
    if found is None:
        address_matches = [f for f in by_root.values() if f.role == "inbox"]
        mailbox_ids = {f.mailbox_id for f in address_matches}
        mailbox = Mailbox.objects.filter(pk__in=mailbox_ids, address=name).first()
        if mailbox is None:
            return None
    else:
        mailbox = Mailbox.objects.get(pk=found.mailbox_id)
    usage = get_quota_usage(mailbox)
    return mailbox.address, usage.used_bytes // 1024, usage.quota_bytes // 1024
