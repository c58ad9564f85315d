"""The list's polling (webmail.js, every 30 s): `304 Not Modified` while nothing changed in the BAL.

The client sends the ETag it last got in If-None-Match; the answer is 304 with no body, after two queries
at most (the BAL with its folders' state, then the membership check of the access policy), or 200 with the
folder's first page of rows and the new unread counts (headers), which the script swaps in. Nothing is
read or marked here: polling never changes the state it watches.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.mailboxes.policies import access_mailbox
from apps.messaging.webmail import selectors
from apps.messaging.webmail.selectors_poll import mailbox_with_state, parse_state, state_etag
from apps.messaging.webmail.views_panes import list_pane_context


@login_required
@require_GET
def folder_poll(request: HttpRequest, mailbox_id: int, folder_id: int) -> HttpResponse:
    found = mailbox_with_state(mailbox_id)
    if found is None:
        raise Http404
    mailbox = access_mailbox(request.user, found)  # the state is only told to who may read the BAL
    states = parse_state(found.poll_state)  # type: ignore[attr-defined]
    if not any(state.folder_id == folder_id for state in states):
        raise Http404
    filters = "&".join(f"{key}={request.GET.get(key, '')}" for key in selectors.QUEUE_FILTERS)
    newest = found.poll_newest  # type: ignore[attr-defined]
    etag = state_etag(states, newest=newest, folder_id=folder_id, filters=filters)
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        folder = selectors.get_folder(mailbox, folder_id)
        if folder is None:
            raise Http404
        context = list_pane_context(request, mailbox, folder)
        response = render(request, "messaging/_message_rows.html", context)
    response.headers["ETag"] = etag
    response.headers["X-Unread-Counts"] = ",".join(f"{s.folder_id}={s.unread_label}" for s in states)
    return response
