"""The applicative API, version 1: thin JSON views (auth and rate in `api_endpoint`, one service call each).

Every resource is looked up inside the caller's own BAL: another BAL's message or copy is a 404, exactly
like one that does not exist.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from apps.crypto.envelope import DecryptionError
from apps.messaging.api import serializers
from apps.messaging.api.auth import ApiClient, ApiError, authenticate, check_rate
from apps.messaging.api.schema import openapi_document
from apps.messaging.api.services import IDEMPOTENCY_KEY_MAX, do_api_submit, do_mark_processed
from apps.messaging.delivery.submit import SubmissionRefused
from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.store import content
from apps.messaging.store.storage import MessageTooLarge
from apps.messaging.validation.selectors import get_submission
from apps.messaging.webmail import selectors as copy_selectors
from apps.messaging.webmail.message import attachment_chunks, get_attachment, list_attachments

logger = logging.getLogger(__name__)
PAGE_DEFAULT = 50
PAGE_MAX = 200


def problem(error: ApiError) -> JsonResponse:
    body = {"status": error.status, "code": error.code, "detail": error.detail, **error.extra}
    response = JsonResponse(body, status=error.status, content_type="application/problem+json")
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _no_store(response: HttpResponseBase) -> HttpResponseBase:
    # Health data: never kept by a proxy or client cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def api_endpoint(*methods: str) -> Callable:
    """CSRF-exempt (no cookie authenticates the API), method check, authentication, rate limit, errors."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response: HttpResponseBase
            try:
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        "Méthode non prise en charge.",
                        headers={"Allow": ", ".join(methods)},
                    )
                client = authenticate(request)
                budget = check_rate(client)
                response = view(request, client, *args, **kwargs)
                for name, value in budget.items():
                    response.headers[name] = value
            except ApiError as error:
                response = problem(error)
            return _no_store(response)

        return wrapped

    return decorator


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "Ressource introuvable dans cette boîte aux lettres.")


# --- Schema and documentation (public: they hold no data) --------------------------------------------------


def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        openapi_document(request.build_absolute_uri("/api/v1")), json_dumps_params={"ensure_ascii": False}
    )


# --- Submissions -----------------------------------------------------------------------------------------


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"L'en-tête Idempotency-Key doit compter de 1 à {IDEMPOTENCY_KEY_MAX} caractères ASCII "
            "imprimables.",
        )
    return key


def _parse_submission(request: HttpRequest) -> serializers.Submission:
    content_type = request.content_type or ""
    if content_type == "application/json":
        return serializers.parse_json_submission(request)
    if content_type == "multipart/form-data":
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        # Base64 makes the encoded message about 4/3 of the files: refuse at once what can never fit.
        if declared > settings.MESSAGE_MAX_BYTES * 2:
            raise ApiError(413, "payload_too_large", str(MessageTooLarge(settings.MESSAGE_MAX_BYTES)))
        # Every file goes to a temporary file on disk, whatever its size (never held in memory).
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
        try:
            return serializers.parse_multipart_submission(request)
        except RequestDataTooBig:
            raise ApiError(
                413, "payload_too_large", "Les champs du formulaire sont trop volumineux."
            ) from None
        except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError):
            raise ApiError(400, "invalid_multipart", "Le corps multipart/form-data est mal formé.") from None
    raise ApiError(415, "unsupported_media_type", "Envoyez application/json ou multipart/form-data.")


@api_endpoint("POST")
def messages_collection(request: HttpRequest, client: ApiClient) -> HttpResponse:
    key = _idempotency_key(request)
    submission = _parse_submission(request)
    try:
        message, created = do_api_submit(client, submission, idempotency_key=key)
    except SubmissionRefused as exc:
        raise ApiError(422, "submission_refused", exc.message, extra={"refusals": exc.refusals}) from None
    except MessageTooLarge as exc:
        raise ApiError(413, "message_too_large", str(exc)) from None
    finally:
        submission.close()
    response = JsonResponse(serializers.submission_json(message), status=201 if created else 200)
    response.headers["Location"] = reverse("api:message-detail", args=[message.pk])
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api_endpoint("GET")
def message_detail(request: HttpRequest, client: ApiClient, message_id: uuid.UUID) -> HttpResponse:
    message = get_submission(client.mailbox, message_id)
    if message is None:
        raise _not_found()
    return JsonResponse(serializers.submission_json(message))


# --- What the BAL received -------------------------------------------------------------------------------


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "")
    if not raw:
        return PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise ApiError(400, "invalid_limit", f"« limit » doit être un entier de 1 à {PAGE_MAX}.")
    return int(raw)


@api_endpoint("GET")
def inbox_list(request: HttpRequest, client: ApiClient) -> HttpResponse:
    """Newest first, one keyset page (`cursor` from the previous page's `next_cursor`)."""
    state = request.GET.get("state", "unprocessed")
    roles = {"unprocessed": FolderRole.INBOX, "processed": FolderRole.ARCHIVE}
    if state not in roles:
        raise ApiError(400, "invalid_state", "« state » vaut unprocessed (défaut) ou processed.")
    cursor = request.GET.get("cursor") or None
    if cursor and copy_selectors.parse_cursor(cursor) is None:
        raise ApiError(400, "invalid_cursor", "Curseur de pagination invalide.")
    folder = copy_selectors.get_system_folder(client.mailbox, roles[state])
    page = copy_selectors.list_folder_page(client.mailbox, folder, after=cursor, size=_limit(request))
    items = [serializers.inbox_item_json(row, processed=state == "processed") for row in page.rows]
    return JsonResponse({"items": items, "next_cursor": page.next_cursor})


def _received_copy(client: ApiClient, copy_id: int) -> MessageCopy:
    copy = (
        MessageCopy.objects.select_related("message", "folder", "mailbox")
        .filter(pk=copy_id, mailbox=client.mailbox, is_outgoing=False)
        .first()
    )
    if copy is None:
        raise _not_found()
    return copy


def _unreadable() -> ApiError:
    return ApiError(410, "unreadable", "Ce message ne peut plus être déchiffré par cette boîte aux lettres.")


@api_endpoint("GET")
def inbox_detail(request: HttpRequest, client: ApiClient, copy_id: int) -> HttpResponse:
    copy = _received_copy(client, copy_id)
    message = copy.message
    try:
        key = content.data_key_of_copy(copy)
    except DecryptionError:
        raise _unreadable() from None
    attachments = [
        serializers.attachment_json(
            copy, info, reverse("api:inbox-attachment", args=[copy.pk, info.position])
        )
        for info in (list_attachments(copy, key) if message.has_attachments else [])
    ]
    body = serializers.inbox_detail_json(
        copy,
        subject=content.open_text(key, message.pk, "subject", message.subject_enc),
        text=content.open_text(key, message.pk, "text", message.body_text_enc),
        html=content.open_text(key, message.pk, "html", message.body_html_enc),
        attachments=attachments,
    )
    return JsonResponse(body)


@api_endpoint("GET")
def inbox_attachment(
    request: HttpRequest, client: ApiClient, copy_id: int, position: int
) -> HttpResponseBase:
    """The decrypted file, streamed segment by segment (never wholly in memory)."""
    copy = _received_copy(client, copy_id)
    found = get_attachment(copy, position)
    if found is None:
        raise _not_found()
    response = StreamingHttpResponse(attachment_chunks(copy, found), content_type=found.content_type)
    response.headers["Content-Length"] = str(found.size)
    response.headers["Content-Disposition"] = found.content_disposition(inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@api_endpoint("POST")
def inbox_processed(request: HttpRequest, client: ApiClient, copy_id: int) -> HttpResponse:
    copy = _received_copy(client, copy_id)
    changed = do_mark_processed(client, copy)
    return JsonResponse({"id": copy.pk, "processed": True, "changed": changed})


def docs(request: HttpRequest) -> HttpResponse:
    """A readable page generated from the same OpenAPI document (no script: strict CSP)."""
    from django.shortcuts import render

    document = openapi_document(request.build_absolute_uri("/api/v1"))
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    context = {
        "document": document,
        "operations": operations,
        "schema_json": json.dumps(document, ensure_ascii=False, indent=2),
    }
    return render(request, "messaging/validation_api_docs.html", context)
