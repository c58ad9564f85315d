"""The webmail's panes: what the list pane needs beside an open message, and whether a request asks for the
reading pane alone (htmx) or for a whole page (first load, reload, a shared link, back)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from apps.mailboxes.models import Mailbox, MailboxKind
from apps.messaging.models import Folder
from apps.messaging.webmail import selectors

READER_TARGET = "wm-reader"


def is_reader_fragment(request: HttpRequest) -> bool:
    """True for htmx's request of the reading pane; a history restore (back after a reload) wants the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and htmx.target == READER_TARGET and not htmx.history_restore_request)


def list_pane_context(request: HttpRequest, mailbox: Mailbox, folder: Folder) -> dict[str, object]:
    """The first page of a folder's rows, with the work-queue filters of the request for a shared BAL."""
    is_queue = mailbox.kind == MailboxKind.ORGANISATIONAL
    filters = {key: request.GET.get(key, "") for key in selectors.QUEUE_FILTERS} if is_queue else {}
    condition = selectors.queue_filter(filters, request.user) if is_queue else None
    page = selectors.list_folder_page(mailbox, folder, after=None, condition=condition)
    return {
        "mailbox": mailbox,
        "current_folder": folder,
        "page": page,
        "filters": filters,
        "is_queue": is_queue,
        # The message URLs of a list share this prefix: one reverse per page instead of one per row.
        "detail_prefix": reverse("messaging:message-detail", args=[mailbox.pk, 0])[: -len("0/")],
    }
