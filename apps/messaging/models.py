"""Messages stored once, one copy per BAL holding them, and the deliveries between them.

What is encrypted and what is clear is decided in docs/decisions/0007-encryption-at-rest.md and
0008-messaging.md: `*_enc` fields are envelopes sealed with the message's data key; the data key is wrapped
once per copy (`MessageCopy.data_key_wrap`) and, while deliveries are pending, once for transit under the
master key (`Message.transit_key_wrap`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Origin(models.TextChoices):
    WEBMAIL = "webmail", "Messagerie web"
    API = "api", "API applicative"
    SMTP = "smtp", "SMTP entrant"
    SUBMISSION = "submission", "Client de messagerie"
    SYSTEM = "system", "Plateforme"


class MessageKind(models.TextChoices):
    NORMAL = "normal", "Message"
    BOUNCE = "bounce", "Avis de non-remise"
    REPORT = "report", "Accusé (DSN/MDN)"


class Message(models.Model):
    """The content, stored once. Content fields are ciphertext; routing and sorting metadata are clear."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=MessageKind.choices, default=MessageKind.NORMAL)
    origin = models.CharField(max_length=12, choices=Origin.choices)
    message_id = models.CharField("Message-ID", max_length=998)
    in_reply_to = models.CharField(max_length=998, blank=True, default="")
    references = models.TextField(blank=True, default="")
    sender_address = models.CharField(max_length=254)
    # SMTP envelope sender (Return-Path) of received mail: where DSNs go, which may differ from From.
    return_path = models.CharField(max_length=254, blank=True, default="")
    # S/MIME verification of received mail (apps.gateway.smime), shown in the webmail.
    signature_state = models.CharField(max_length=20, blank=True, default="")
    signature_signer = models.CharField(max_length=300, blank=True, default="")
    sender_name = models.CharField(max_length=200, blank=True, default="")
    # The local BAL it was sent from and the person who sent it (Sender: when on behalf of a shared BAL).
    from_mailbox = models.ForeignKey(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_addresses = models.JSONField(default=list)
    cc_addresses = models.JSONField(default=list)
    sent_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    size = models.PositiveIntegerField("taille encodée (octets)", default=0)
    sha256 = models.CharField("SHA-256 du message tel qu'envoyé ou reçu", max_length=64)
    subject_enc = models.BinaryField()
    snippet_enc = models.BinaryField()
    body_text_enc = models.BinaryField()
    body_html_enc = models.BinaryField(null=True, blank=True)
    headers_enc = models.BinaryField(null=True, blank=True)
    raw_blob = models.CharField("MIME brut chiffré (clé du stockage)", max_length=80, blank=True, default="")
    has_attachments = models.BooleanField(default=False)
    wants_read_receipt = models.BooleanField(default=False)
    # MSSanté markers kept in clear because rules depend on them (ADR 0007).
    is_fin = models.BooleanField("clôture [FIN]", default=False)
    patient_ins = models.CharField("patient concerné (INS)", max_length=15, blank=True, default="")
    mss_headers = models.JSONField("en-têtes X-MSS-* non sensibles", default=dict, blank=True)
    transit_key_wrap = models.BinaryField(null=True, blank=True)
    # Set by entry points that may run twice (SMTP spool ingestion, API with an idempotency key).
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        verbose_name = "message"
        # Equality lookups only (no LIKE): plain indexes, partial where most rows are empty.
        indexes = [
            models.Index(fields=["message_id"], name="message_msgid"),
            models.Index(fields=["patient_ins"], name="message_patient_ins", condition=~Q(patient_ins="")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                name="message_idempotency_key",
                condition=Q(idempotency_key__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"message {self.pk}"


class StoredBlob(models.Model):
    """A small encrypted blob kept in the database (apps.messaging.store.blobs); larger ones are files."""

    name = models.CharField(max_length=80, primary_key=True)
    data = models.BinaryField()

    class Meta:
        verbose_name = "bloc chiffré"

    def __str__(self) -> str:
        return self.name


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField()
    filename_enc = models.BinaryField()
    content_type = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    # Received mail: the attachment's own encrypted stream. Submitted mail: empty, and the attachment is
    # the base64 body at [raw_start, raw_end) of the message's raw MIME (stored once; ADR 0014).
    blob = models.CharField(max_length=80, blank=True, default="")
    raw_start = models.BigIntegerField(null=True, blank=True)
    raw_end = models.BigIntegerField(null=True, blank=True)
    content_id = models.CharField(max_length=200, blank=True, default="")
    is_inline = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="attachment_position_unique")
        ]

    def __str__(self) -> str:
        return f"pièce jointe {self.position} du message {self.message_id}"

    def raw_range(self, raw_blob: str) -> tuple[str, int, int] | None:
        if self.raw_start is None or self.raw_end is None:
            return None
        return raw_blob, self.raw_start, self.raw_end


class FolderRole(models.TextChoices):
    INBOX = "inbox", "Réception"
    SENT = "sent", "Envoyés"
    DRAFTS = "drafts", "Brouillons"
    TRASH = "trash", "Corbeille"
    ARCHIVE = "archive", "Archives"
    CUSTOM = "custom", "Dossier"


SYSTEM_FOLDERS = [FolderRole.INBOX, FolderRole.SENT, FolderRole.DRAFTS, FolderRole.ARCHIVE, FolderRole.TRASH]


class Folder(models.Model):
    mailbox = models.ForeignKey("mailboxes.Mailbox", on_delete=models.CASCADE, related_name="folders")
    role = models.CharField(max_length=10, choices=FolderRole.choices)
    name = models.CharField("nom", max_length=100)
    position = models.PositiveSmallIntegerField(default=100)
    # IMAP (apps/imap, ADR 0023): the next UID of this folder; UIDVALIDITY is the folder's id (never reused).
    uidnext = models.BigIntegerField(default=1)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="folder_name_unique"),
            models.UniqueConstraint(
                fields=["mailbox", "role"], condition=~Q(role="custom"), name="folder_system_role_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QueueStatus(models.TextChoices):
    NEW = "new", "Nouveau"
    IN_PROGRESS = "in_progress", "En cours"
    DONE = "done", "Traité"


class MessageCopy(models.Model):
    """A message as one BAL holds it: folder, flags, thread, work-queue state, its wrap of the data key."""

    # No single-column indexes on these two: the keyset indexes lead with the BAL and `copy_message`
    # covers the message (every index costs each of the two copies written per message).
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="copies", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="copies", db_index=False)
    # RESTRICT, not PROTECT: a folder with copies cannot be deleted alone, but a whole BAL (folders and
    # copies together) can.
    folder = models.ForeignKey(Folder, on_delete=models.RESTRICT, related_name="copies")
    delivery = models.OneToOneField(
        "messaging.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="copy"
    )
    data_key_wrap = models.BinaryField()
    is_outgoing = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)
    is_read = models.BooleanField(default=False)
    is_flagged = models.BooleanField(default=False)
    is_answered = models.BooleanField(default=False)
    thread_root = models.BigIntegerField("fil (id de la première copie)", null=True, blank=True)
    previous_folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Blind search index: HMAC tokens of the subject, body and attachment names (ADR 0008).
    search_tokens = SearchVectorField(null=True, blank=True)
    # Organisational BAL as a work queue.
    queue_status = models.CharField(max_length=12, choices=QueueStatus.choices, default=QueueStatus.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    # IMAP UID in `folder` (apps.messaging.store.uids): strictly increasing per folder, new on every move.
    uid = models.BigIntegerField(null=True, blank=True)
    # IMAP \Deleted (marked for EXPUNGE by a mail client; the webmail has no such state).
    imap_deleted = models.BooleanField(default=False)
    # Flag change stamp (apps.messaging.store.uids.MODSEQ_SQL): set by a PostgreSQL trigger from one global
    # sequence when a flag, the work-queue state or a person's read mark changes; IMAP sessions report the
    # copies stamped since their last report as FETCH FLAGS. Never set by a deposit (stays empty).
    modseq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "copie de message"
        indexes = [
            models.Index(fields=["mailbox", "folder", "-received_at", "-id"], name="copy_folder_keyset"),
            models.Index(fields=["mailbox", "-received_at", "-id"], name="copy_mailbox_keyset"),
            models.Index(fields=["message"], name="copy_message"),
            models.Index(fields=["folder", "uid"], name="copy_folder_uid"),
            models.Index(
                fields=["folder", "modseq"], name="copy_folder_modseq", condition=Q(modseq__isnull=False)
            ),
            # Mostly-empty columns: partial indexes, so the usual copy (no thread parent, never trashed,
            # unassigned, unanswered) adds no entry to them.
            *(
                models.Index(fields=[name], name=f"copy_{name}", condition=Q(**{f"{name}__isnull": False}))
                for name in ("thread_root", "previous_folder", "assignee", "answered_by")
            ),
        ]

    def __str__(self) -> str:
        return f"copie {self.pk} (BAL {self.mailbox_id})"


class CopyRead(models.Model):
    """Who read a copy of an organisational BAL, and when (read state per person)."""

    copy = models.ForeignKey(MessageCopy, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["copy", "user"], name="copy_read_unique")]

    def __str__(self) -> str:
        return f"lu par {self.user_id} le {self.read_at:%d/%m/%Y %H:%M}"


class DenseToken(models.Model):
    """A blind-index token found in nearly every copy of a large folder (apps/messaging/store/dense_tokens.py,
    ADR 0023): IMAP SEARCH answers it from the few copies that lack it (`TokenGap`), not the million that
    have it. `ready` once the copies numbered before it was chosen have their gaps too."""

    # No index of its own: the unique (folder, token) constraint leads with it.
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+", db_index=False)
    token = models.CharField(max_length=16)  # the hex token, as in `MessageCopy.search_tokens`
    ready = models.BooleanField(default=False)
    share = models.FloatField()  # of the copies sampled when it was chosen
    chosen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "token"], name="dense_token_unique")]

    def __str__(self) -> str:
        return f"jeton dense {self.pk} (dossier {self.folder_id})"


class TokenGap(models.Model):
    """A copy of the dense token's folder (by UID) that lacks the token. Written by PostgreSQL triggers at
    every deposit or move into the folder; a copy gone since leaves its row until the next pass."""

    pk = models.CompositePrimaryKey("dense", "uid")
    dense = models.ForeignKey(DenseToken, on_delete=models.CASCADE, related_name="+", db_index=False)
    uid = models.BigIntegerField()

    def __str__(self) -> str:
        return f"UID {self.uid} sans le jeton {self.dense_id}"


class InternalNote(models.Model):
    """A note of the team of an organisational BAL on a message: never sent, encrypted like the content."""

    copy = models.ForeignKey(MessageCopy, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body_enc = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"note {self.pk}"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "En file d'attente"
    SENDING = "sending", "En cours de remise"
    DELIVERED = "delivered", "Remis"
    FAILED = "failed", "Échec"
    HELD = "held", "En attente de validation"


class Delivery(models.Model):
    """One recipient of one message and the state machine taking it there (claimed by conditional UPDATE)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.CharField(max_length=254)
    recipient_mailbox = models.ForeignKey(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_local = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_text = models.CharField("motif", max_length=500, blank=True, default="")
    remote_detail = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        verbose_name = "remise"
        indexes = [
            models.Index(fields=["state", "state_changed_at"], name="delivery_state_age"),
            # The batch depositor's claim: due local deliveries, oldest first, among millions delivered.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="delivery_local_queue",
                condition=Q(state="queued", is_local=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(name="delivery_state_valid", condition=Q(state__in=DeliveryState.values)),
        ]

    def __str__(self) -> str:
        return f"remise à {self.recipient} ({self.state})"


class Draft(models.Model):
    """A message being written: own data key wrapped for the BAL, saved as the user types."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mailbox = models.ForeignKey("mailboxes.Mailbox", on_delete=models.CASCADE, related_name="drafts")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    data_key_wrap = models.BinaryField()
    content_enc = models.BinaryField()
    reply_to_copy = models.ForeignKey(
        MessageCopy, null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"brouillon {self.pk}"


class DraftAttachment(models.Model):
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="attachments")
    filename_enc = models.BinaryField()
    content_type = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"pièce jointe de brouillon {self.pk}"
