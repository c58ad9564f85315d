"""Attachments uploaded into a draft are encrypted while they arrive: never held in memory, never written
in clear to a temporary file (Django's default handlers would do one or the other).

`EncryptingUploadHandler` replaces the request's upload handlers before the body is parsed. Each chunk of a
file goes through `StreamEncryptor` into a durable blob under the draft's data key; a file that would make
the message exceed MESSAGE_MAX_BYTES is dropped (SkipFile: the rest of the form is still read) with a French
message. Views that install it must be `csrf_exempt` outside and `csrf_protect` inside, since the CSRF
check reads the body (Django's documented pattern for per-view upload handlers).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopFutureHandlers
from django.http import HttpRequest

from apps.crypto.stream import StreamEncryptor, TooLarge
from apps.messaging.compose.services import ATTACHMENT_PART, DraftKeying, UploadedPart, attachment_budget
from apps.messaging.store import blobs, storage
from apps.messaging.store.content import stream_aad

FIELD = "attachments"
MAX_FILENAME = 200
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".replace(".", ",")


def clean_filename(name: str) -> str:
    cleaned = _CONTROL.sub("", name or "").strip() or "piece-jointe"
    if len(cleaned) <= MAX_FILENAME:
        return cleaned
    stem, dot, extension = cleaned.rpartition(".")
    return (stem[: MAX_FILENAME - len(extension) - 1] + dot + extension) if dot else cleaned[:MAX_FILENAME]


def clean_content_type(value: str | None) -> str:
    value = (value or "").split(";")[0].strip().lower()
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


class EncryptingUploadHandler(FileUploadHandler):
    def __init__(self, request: HttpRequest, *, keying: DraftKeying, budget: int) -> None:
        super().__init__(request)
        self.keying = keying
        self.remaining = budget
        self.parts: list[UploadedPart] = []
        self.errors: list[str] = []
        self._stack: contextlib.ExitStack | None = None
        self._encryptor: StreamEncryptor | None = None
        self._blob = ""
        self._size = 0
        self._saved = False

    def new_file(self, field_name: str, file_name: str, content_type: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        if field_name != FIELD:
            raise SkipFile
        self._blob, self._size = blobs.new_name(), 0
        self._stack = contextlib.ExitStack()
        handle = self._stack.enter_context(blobs.writer(self._blob))
        self._encryptor = StreamEncryptor(
            handle,
            self.keying.data_key,
            aad=stream_aad(self.keying.draft_id, ATTACHMENT_PART),
            max_plaintext_bytes=self.remaining,
        )
        raise StopFutureHandlers

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._encryptor is None:
            return None
        try:
            self._encryptor.write(raw_data)
        except TooLarge:
            self._abort()
            name = clean_filename(self.file_name or "")
            self.errors.append(
                f"« {name} » n'a pas été joint : les pièces jointes ne peuvent "
                f"dépasser {_megabytes(attachment_budget(None))} Mo au total "
                f"(il restait {_megabytes(self.remaining)} Mo)."
            )
            raise SkipFile from None
        self._size += len(raw_data)
        return None

    def file_complete(self, file_size: int) -> None:
        if self._encryptor is None or self._stack is None:
            return None
        result = self._encryptor.close()
        self._stack.close()  # fsync and rename into place
        stored = storage.StoredStream(self._blob, self._size, result.sha256)
        self.parts.append(
            UploadedPart(clean_filename(self.file_name or ""), clean_content_type(self.content_type), stored)
        )
        self.remaining = max(self.remaining - self._size, 0)
        self._encryptor, self._stack = None, None
        return None

    def upload_interrupted(self) -> None:
        self._abort()

    def _abort(self) -> None:
        """Drop the file being written (the writer removes its partial blob)."""
        if self._stack is not None:
            with contextlib.suppress(_Aborted):
                self._stack.__exit__(_Aborted, _Aborted(), None)
        self._encryptor, self._stack = None, None

    def saved(self) -> None:
        """The draft's rows now name the blobs written so far: they are no longer this handler's to remove."""
        self._saved = True

    def discard_unsaved(self) -> None:
        """At the end of the request: a file cut short, or blobs no row names (the save failed), go."""
        self._abort()
        if not self._saved:
            storage.discard(part.stored for part in self.parts)


class _Aborted(Exception):
    """Raised into the blob writer so that it removes the partial file."""


def install(request: HttpRequest, keying: DraftKeying, budget: int) -> EncryptingUploadHandler:
    """Must run before anything reads request.POST or request.FILES."""
    handler = EncryptingUploadHandler(request, keying=keying, budget=budget)
    request.upload_handlers = [handler]
    return handler
