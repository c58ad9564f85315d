"""The webmail, reading side: folders, message lists (keyset pages), search, a message and its thread,
attachments. Every BAL id goes through `access_mailbox` and every copy through `access_copy` (404 for what
the user may not use); writes are in views_actions.py, all through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from apps.mailboxes.current import set_current_mailbox
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.mailboxes.policies import access_mailbox
from apps.messaging.compose.selectors import list_drafts, list_replying
from apps.messaging.models import Folder, FolderRole, MessageCopy, QueueStatus
from apps.messaging.policies import access_copy
from apps.messaging.webmail import message as message_selectors
from apps.messaging.webmail import selectors
from apps.messaging.webmail.sanitize import content_security_policy
from apps.messaging.webmail.services import do_mark_read
from apps.messaging.webmail.views_panes import is_reader_fragment, list_pane_context

SEARCH_MAX_CHARS = 200


def mailbox_for(request: HttpRequest, mailbox_id: int, *, for_write: bool = False) -> Mailbox:
    mailbox = access_mailbox(request.user, mailbox_id, for_write=for_write)
    _remember(request, mailbox)
    return mailbox


def _remember(request: HttpRequest, mailbox: Mailbox) -> None:
    """The BAL being read becomes the session's current BAL (the top bar's switcher shows it)."""
    if request.session.get("current_mailbox_id") != mailbox.pk:
        set_current_mailbox(request, mailbox)


def copy_for(request: HttpRequest, mailbox_id: int, copy_id: int, *, for_write: bool = False) -> MessageCopy:
    """The copy, when it belongs to the BAL of the URL and the user may act in that BAL; 404 otherwise."""
    copy = access_copy(request.user, copy_id, for_write=for_write)
    if copy.mailbox_id != mailbox_id:
        raise Http404
    return copy


def detail_prefix(mailbox: Mailbox) -> str:
    """The message URLs of a list share this prefix; one reverse per page instead of one per row."""
    return reverse("messaging:message-detail", args=[mailbox.pk, 0])[: -len("0/")]


def _page_context(
    request: HttpRequest, mailbox: Mailbox, folder: Folder | None, folders: list | None = None
) -> dict[str, object]:
    return {
        "mailbox": mailbox,
        "detail_prefix": detail_prefix(mailbox),
        "folders": folders if folders is not None else selectors.list_folders(mailbox),
        "current_folder": folder,
        "is_queue": mailbox.kind == MailboxKind.ORGANISATIONAL,
        "queue_statuses": QueueStatus.choices,
    }


def _render_folder(request: HttpRequest, mailbox: Mailbox, *, folder_id: int | None) -> HttpResponse:
    """A folder's page (or, for "Messages plus anciens" through htmx, only the next rows)."""
    fragment = bool(getattr(request, "htmx", False) and request.GET.get("after"))
    if fragment:
        folders = None
        folder = (
            selectors.get_folder(mailbox, folder_id)
            if folder_id
            else selectors.get_system_folder(mailbox, FolderRole.INBOX)
        )
    else:
        folders = selectors.list_folders(mailbox)
        folder = next(
            (
                e.folder
                for e in folders
                if (e.folder.pk == folder_id if folder_id else e.folder.role == "inbox")
            ),
            None,
        )
    if folder is None:
        raise Http404
    is_queue = mailbox.kind == MailboxKind.ORGANISATIONAL
    filters = {key: request.GET.get(key, "") for key in selectors.QUEUE_FILTERS} if is_queue else {}
    condition = selectors.queue_filter(filters, request.user) if is_queue else None
    page = selectors.list_folder_page(mailbox, folder, after=request.GET.get("after"), condition=condition)
    context = {
        "mailbox": mailbox,
        "current_folder": folder,
        "page": page,
        "filters": filters,
        "is_queue": is_queue,
    }
    if fragment:
        return render(request, "messaging/_message_rows.html", context)
    context.update(_page_context(request, mailbox, folder, folders))
    if folder.role == FolderRole.DRAFTS:
        # Drafts are not copies: the Brouillons folder lists this person's own drafts (personal, even in
        # a shared BAL), newest edit first.
        context["drafts"] = list_drafts(mailbox, author=request.user)
    return render(request, "messaging/mailbox.html", context)


@login_required
@require_GET
def inbox(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    return _render_folder(request, mailbox_for(request, mailbox_id), folder_id=None)


@login_required
@require_GET
def folder(request: HttpRequest, mailbox_id: int, folder_id: int) -> HttpResponse:
    return _render_folder(request, mailbox_for(request, mailbox_id), folder_id=folder_id)


@login_required
@require_GET
def search(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = mailbox_for(request, mailbox_id)
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    context = _page_context(request, mailbox, None)
    entries: list[selectors.FolderEntry] = context["folders"]  # type: ignore[assignment]
    raw = request.GET.get("dossier", "")
    within = next((e.folder for e in entries if raw.isdigit() and e.folder.pk == int(raw)), None)
    trash = next(e.folder.pk for e in entries if e.folder.role == FolderRole.TRASH)
    rows = selectors.search_copies(mailbox, query, folder=within, trash_id=trash) if query else None
    context.update({"query": query, "rows": rows, "within": within})
    return render(request, "messaging/search.html", context)


@login_required
@require_GET
def message_detail(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    copy = copy_for(request, mailbox_id, copy_id)
    _remember(request, copy.mailbox)  # access_copy has checked the BAL already
    if message_selectors.needs_read_mark(copy, request.user):
        do_mark_read(copy, user=request.user)
    allow_images = request.GET.get("images") == "1"
    view = message_selectors.get_message_view(copy, user=request.user, allow_remote_images=allow_images)
    context = _page_context(request, copy.mailbox, copy.folder)
    newer, older = selectors.get_neighbours(copy)
    prefix = detail_prefix(copy.mailbox)
    fragment, full_page = is_reader_fragment(request), request.GET.get("vue") == "page"
    context.update(
        {
            "view": view,
            "copy": copy,
            "allow_images": allow_images,
            "newer_url": f"{prefix}{newer}/" if newer else "",
            "older_url": f"{prefix}{older}/" if older else "",
            "fragment": fragment,
            "full_page": full_page,
        }
    )
    if not (fragment or full_page):  # a whole page shows the message's folder beside it
        context.update(list_pane_context(request, copy.mailbox, copy.folder))
    template = "messaging/_reader_fragment.html" if fragment else "messaging/message.html"
    response = render(request, template, context)
    if allow_images:
        response.headers["Content-Security-Policy"] = content_security_policy(remote_images=True)
    return response


@login_required
@require_GET
def message_replying(request: HttpRequest, mailbox_id: int, copy_id: int) -> HttpResponse:
    """The "X est en train de répondre" notices, refreshed by htmx while the message stays open."""
    copy = copy_for(request, mailbox_id, copy_id)
    return render(
        request, "messaging/_replying.html", {"replying": list_replying(copy, exclude_user=request.user)}
    )


@login_required
@require_GET
@xframe_options_sameorigin
def attachment_download(
    request: HttpRequest, mailbox_id: int, copy_id: int, position: int
) -> StreamingHttpResponse:
    """Streams the decrypted attachment; `?apercu=1` shows a PDF inline, sandboxed (no script, no form)."""
    copy = copy_for(request, mailbox_id, copy_id)
    found = message_selectors.get_attachment(copy, position)
    if found is None:
        raise Http404
    preview = request.GET.get("apercu") == "1" and found.is_pdf
    response = StreamingHttpResponse(
        message_selectors.attachment_chunks(copy, found),
        content_type="application/pdf" if preview else "application/octet-stream",
    )
    response.headers["Content-Length"] = str(found.size)
    response.headers["Content-Disposition"] = found.content_disposition(inline=preview)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Whatever the file holds, it runs in an opaque origin: no script, no form, no access to the webmail.
    response.headers["Content-Security-Policy"] = "sandbox; frame-ancestors 'self'"
    return response


@login_required
@require_GET
def attachment_xdm(request: HttpRequest, mailbox_id: int, copy_id: int, position: int) -> HttpResponse:
    """What an IHE_XDM package holds: the patient and the documents listed in its METADATA.XML."""
    copy = copy_for(request, mailbox_id, copy_id)
    found = message_selectors.get_attachment(copy, position)
    if found is None:
        raise Http404
    package = message_selectors.read_xdm(copy, found)
    context = _page_context(request, copy.mailbox, copy.folder)
    error = package if isinstance(package, str) else ""
    context.update({"copy": copy, "attachment": found, "package": None if error else package, "error": error})
    return render(request, "messaging/xdm.html", context)
