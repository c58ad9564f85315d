"""The patient's document space: save a received attachment, add a file, delete one, read one.

Each document gets a fresh data key wrapped with the patient BAL's key (apps.patients.documents). The blob
is written (fsync'd) before the row naming it commits, and removed again if that transaction fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import IntegrityError, transaction

from apps.audit.services import record_event
from apps.crypto.keys import new_data_key
from apps.messaging.models import MessageCopy
from apps.messaging.store import blobs
from apps.patients import documents
from apps.patients.models import DocumentCategory, DocumentSource, PatientDocument, PatientProfile
from apps.patients.selectors import sender_name

MAX_DOCUMENT_BYTES = documents.DEFAULT_MAX_DOCUMENT_BYTES
ALLOWED_UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/heic", "image/webp")


class DocumentRefused(Exception):
    """Why a document was not saved, in French for the patient."""


def _check_space(profile: PatientProfile) -> int:
    if profile.mailbox_id is None:
        raise DocumentRefused("Votre espace de documents n'est pas encore ouvert.")
    return profile.mailbox_id


def _store(
    profile: PatientProfile,
    *,
    filename: str,
    content_type: str,
    chunks: Iterable[bytes],
    category: str,
    source: str,
    acting_user: Any,
    **origin: Any,
) -> PatientDocument:
    mailbox_id = _check_space(profile)
    if category not in DocumentCategory.values:
        category = DocumentCategory.OTHER
    pk, data_key = uuid.uuid4(), new_data_key()
    try:
        sealed = documents.write_file(pk, chunks, data_key, limit=MAX_DOCUMENT_BYTES)
    except documents.DocumentTooLarge as exc:
        raise DocumentRefused(str(exc)) from None
    try:
        with transaction.atomic():
            document = PatientDocument.objects.create(
                id=pk,
                profile=profile,
                category=category,
                source=source,
                filename_enc=documents.seal_filename(data_key, pk, filename or "document"),
                content_type=content_type or "application/octet-stream",
                size=sealed.size,
                sha256=sealed.sha256,
                blob=sealed.blob,
                data_key_wrap=documents.wrap_key(data_key, document_id=pk, mailbox_id=mailbox_id),
                **origin,
            )
            record_event(
                "patient.document_saved",
                actor=acting_user,
                mailbox=profile.mailbox,
                target=document,
                details={"source": source, "category": category, "size": sealed.size},
            )
    except BaseException:
        blobs.delete_blob(sealed.blob)
        raise
    return document


def do_save_attachment(
    profile: PatientProfile, copy: MessageCopy, position: int, *, category: str, acting_user: Any
) -> PatientDocument:
    """« Enregistrer dans mes documents »: a copy of a received attachment, re-encrypted for the space."""
    from apps.messaging.webmail.message import attachment_chunks, get_attachment

    if copy.mailbox_id != profile.mailbox_id:
        raise DocumentRefused("Ce message n'est pas dans votre messagerie.")
    existing = PatientDocument.objects.filter(
        profile=profile, source_message_id=copy.message_id, source_attachment_position=position
    ).first()
    if existing is not None:
        return existing
    attachment = get_attachment(copy, position)
    if attachment is None:
        raise DocumentRefused("Cette pièce jointe est introuvable ou illisible.")
    try:
        return _store(
            profile,
            filename=attachment.filename,
            content_type=attachment.content_type,
            chunks=attachment_chunks(copy, attachment),
            category=category,
            source=DocumentSource.MESSAGE,
            acting_user=acting_user,
            source_message_id=copy.message_id,
            source_attachment_position=position,
            sender_name=sender_name(copy.message)[:200],
        )
    except IntegrityError:  # saved twice at the same moment: the first one stands
        return PatientDocument.objects.get(
            profile=profile, source_message_id=copy.message_id, source_attachment_position=position
        )


def do_add_document(
    profile: PatientProfile,
    *,
    filename: str,
    content_type: str,
    chunks: Iterable[bytes],
    category: str,
    acting_user: Any,
) -> PatientDocument:
    if content_type not in ALLOWED_UPLOAD_TYPES:
        raise DocumentRefused(
            "Seuls les fichiers PDF et les photos (JPEG, PNG, HEIC, WebP) peuvent être ajoutés."
        )
    return _store(
        profile,
        filename=filename,
        content_type=content_type,
        chunks=chunks,
        category=category,
        source=DocumentSource.UPLOAD,
        acting_user=acting_user,
    )


def do_delete_document(document: PatientDocument, *, acting_user: Any) -> None:
    blob = document.blob
    with transaction.atomic():
        record_event(
            "patient.document_deleted",
            actor=acting_user,
            mailbox=document.profile.mailbox,
            target=document,
            details={"category": document.category},
        )
        document.delete()
        transaction.on_commit(lambda: blobs.release_blob(blob))


def open_document(document: PatientDocument) -> tuple[str, Iterator[bytes]]:
    """(file name, decrypted chunks) of a document; raises DecryptionError once the space's key is gone."""
    mailbox_id = _check_space(document.profile)
    data_key = documents.unwrap_key(document, mailbox_id)
    return documents.open_filename(data_key, document.pk, document.filename_enc), documents.read_file(
        document, data_key
    )


def document_names(items: Iterable[PatientDocument]) -> dict[Any, str]:
    """The decrypted file names of a page of documents (one BAL key, one unwrap per document)."""
    from apps.crypto.envelope import DecryptionError

    names = {}
    for document in items:
        try:
            data_key = documents.unwrap_key(document, _check_space(document.profile))
            names[document.pk] = documents.open_filename(data_key, document.pk, document.filename_enc)
        except DecryptionError:
            names[document.pk] = "(document illisible)"
    return names
