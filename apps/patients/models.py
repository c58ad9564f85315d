"""MSS-C patients hosted here: their profile (INS, address, state) and their document space.

The rules that depend on these rows (who may write to whom, [FIN], states) are in `policies.py`; the thread
state ("closed by the professional") is derived from the stored messages, not kept here (ADR 0011).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

INS_REGEX = r"^[12378][0-9]{4}([0-9]{2}|2A|2B)[0-9]{8}$"
MAJORITY_YEARS = 18


class ProfileState(models.TextChoices):
    # Open: the address exists and receives (MES created, not yet activated by the patient).
    OPEN = "open", "Ouvert"
    # Activated: the patient has activated their space and may also reply and write to a pharmacy.
    ACTIVATED = "activated", "Activé"
    # Closed: nothing is delivered any more; professionals get an automatic return.
    CLOSED = "closed", "Fermé"


class PatientProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patient_profile"
    )
    ins = models.CharField("matricule INS", max_length=15, unique=True)
    address = models.CharField("adresse MSSanté patient", max_length=254, unique=True)
    # The patient BAL (kind "patient") that holds the copies of the messages; None only while opening.
    mailbox = models.OneToOneField(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.PROTECT, related_name="patient_profile"
    )
    birth_date = models.DateField("date de naissance", null=True, blank=True)
    state = models.CharField("état", max_length=10, choices=ProfileState.choices, default=ProfileState.OPEN)
    opened_at = models.DateTimeField("ouvert le", default=timezone.now)
    activated_at = models.DateTimeField("activé le", null=True, blank=True)
    closed_at = models.DateTimeField("fermé le", null=True, blank=True)
    # The notice "vous avez un nouveau message" goes to user.outside_email (no health data) when True.
    notify_by_email = models.BooleanField("avertir par e-mail des nouveaux messages", default=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "profil patient (MSS-C)"
        constraints = [
            models.CheckConstraint(name="patient_state_valid", condition=Q(state__in=ProfileState.values)),
            models.CheckConstraint(name="patient_ins_format", condition=Q(ins__regex=INS_REGEX)),
            models.CheckConstraint(
                name="patient_activated_dated",
                condition=~Q(state=ProfileState.ACTIVATED) | Q(activated_at__isnull=False),
            ),
            models.CheckConstraint(
                name="patient_closed_dated",
                condition=~Q(state=ProfileState.CLOSED) | Q(closed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def can_receive(self) -> bool:
        return self.state in (ProfileState.OPEN, ProfileState.ACTIVATED)

    @property
    def can_send(self) -> bool:
        return self.state == ProfileState.ACTIVATED

    def is_minor(self, today: dt.date | None = None) -> bool:
        if self.birth_date is None:
            return False
        today = today or timezone.localdate()
        born = self.birth_date
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return age < MAJORITY_YEARS


class DocumentCategory(models.TextChoices):
    PRESCRIPTION = "prescription", "Ordonnance"
    REPORT = "report", "Compte rendu"
    RESULTS = "results", "Résultats d'examens"
    IMAGING = "imaging", "Imagerie"
    OTHER = "other", "Autre document"


class DocumentSource(models.TextChoices):
    MESSAGE = "message", "Reçu par messagerie"
    UPLOAD = "upload", "Ajouté par vous"


class PatientDocument(models.Model):
    """A file of the patient's document space, encrypted at rest with its own data key (ADR 0011).

    The data key is wrapped with the patient BAL's key: closing and deleting that BAL destroys its key, and
    every document with it. The file name is sealed too (it often names the examination).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    profile = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="documents")
    category = models.CharField(
        "type de document", max_length=20, choices=DocumentCategory.choices, default=DocumentCategory.OTHER
    )
    source = models.CharField(max_length=10, choices=DocumentSource.choices)
    filename_enc = models.BinaryField()
    content_type = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.CharField(max_length=80)
    data_key_wrap = models.BinaryField()
    # Where it came from, for the list ("Dr Alice Martin, 3 mars"): a name, never an address.
    source_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_attachment_position = models.PositiveSmallIntegerField(null=True, blank=True)
    sender_name = models.CharField("reçu de", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "document du patient"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="patient_document_category_valid", condition=Q(category__in=DocumentCategory.values)
            ),
            models.CheckConstraint(
                name="patient_document_source_valid", condition=Q(source__in=DocumentSource.values)
            ),
            # Saving the same attachment twice gives one document.
            models.UniqueConstraint(
                fields=["profile", "source_message", "source_attachment_position"],
                condition=Q(source_message__isnull=False),
                name="patient_document_once_per_attachment",
            ),
        ]

    def __str__(self) -> str:
        return f"document {self.pk}"
