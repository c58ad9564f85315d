"""BALs hosted by this operator: nominative, organisational (incl. the "cabinet" variant) and applicative.

The rules of each kind are CheckConstraints so that no code path (service, shell, raw SQL) can store a BAL
that breaks them; the services add clear French messages on top. Two rules a CheckConstraint cannot express
are PostgreSQL triggers (migration 0002): the address (and kind) of a BAL never change, and memberships
belong to organisational BALs only, credentials to applicative BALs only.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone


class MailboxKind(models.TextChoices):
    NOMINATIVE = "nominative", "Nominative"
    ORGANISATIONAL = "organisational", "Organisationnelle"
    APPLICATIVE = "applicative", "Applicative"
    # MSS-C: the inbox of a patient hosted here (<INS>@PATIENT_DOMAIN); its rules live in apps.patients.
    PATIENT = "patient", "Patient (MSS-C)"


class MailboxStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspendue"


class MemberRole(models.TextChoices):
    READ = "read", "Lecture"
    SEND = "send", "Lecture et envoi"
    MANAGE = "manage", "Gestion"


# Staff without RPPS/ADELI may hold an RPPS+ id (format unpublished, docs/mssante.md §4): a national id that
# does not start with 8 (RPPS) or 0 (ADELI) is taken as RPPS+, and only those may lack an annuaire entry.
ANNUAIRE_ID_REGEX = r"^[08]"

_NOMINATIVE = Q(kind=MailboxKind.NOMINATIVE)
_ORGANISATIONAL = Q(kind=MailboxKind.ORGANISATIONAL)
_APPLICATIVE = Q(kind=MailboxKind.APPLICATIVE)
_PATIENT = Q(kind=MailboxKind.PATIENT)


class Mailbox(models.Model):
    address = models.CharField("adresse", max_length=254, unique=True)
    local_part = models.CharField("partie locale", max_length=64)
    domain = models.CharField("domaine", max_length=190)
    kind = models.CharField("type de BAL", max_length=20, choices=MailboxKind.choices)
    is_cabinet = models.BooleanField("BAL de cabinet", default=False)
    status = models.CharField(
        "état", max_length=10, choices=MailboxStatus.choices, default=MailboxStatus.ACTIVE
    )
    display_name = models.CharField("nom affiché", max_length=200, blank=True, default="")
    service = models.CharField("service de rattachement", max_length=200, blank=True, default="")
    is_officine = models.BooleanField("pharmacie d'officine", default=False)
    # Some hospitals forbid syncing mail to laptops: off, the BAL does not exist over IMAP (issue 16).
    imap_allowed = models.BooleanField("accès IMAP (logiciels de messagerie)", default=True)
    liste_rouge = models.BooleanField("liste rouge (non publiée)", default=False)
    # Nominative: the person and the national id they hold (snapshot: the FHIR publication key).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_mailboxes",
    )
    national_id = models.CharField("identifiant national du titulaire", max_length=20, blank=True, default="")
    professional = models.ForeignKey(
        "annuaire.Professional", null=True, blank=True, on_delete=models.PROTECT, related_name="mailboxes"
    )
    structure = models.ForeignKey(
        "annuaire.Structure", null=True, blank=True, on_delete=models.PROTECT, related_name="mailboxes"
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="responsible_for_mailboxes",
    )
    practitioners = models.ManyToManyField(
        "annuaire.Professional", through="CabinetPractitioner", related_name="cabinet_mailboxes", blank=True
    )
    head_agreement_by = models.CharField("accord donné par", max_length=200, blank=True, default="")
    head_agreement_at = models.DateTimeField("accord donné le", null=True, blank=True)
    head_agreement_reference = models.CharField(
        "référence de l'accord", max_length=200, blank=True, default=""
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("créée le", default=timezone.now)
    suspended_at = models.DateTimeField("suspendue le", null=True, blank=True)
    suspension_reason = models.CharField("motif de suspension", max_length=300, blank=True, default="")
    # Last authentication/use in this BAL; the inactivity cycle (issue 6) reads it.
    last_activity_at = models.DateTimeField("dernière activité", null=True, blank=True)
    # Quota: None means the platform default (settings.MAILBOX_DEFAULT_QUOTA_BYTES); usage is kept by the
    # messaging services (apps.mailboxes.quotas.do_add_usage) so no query sums a million sizes.
    quota_bytes = models.BigIntegerField("quota (octets)", null=True, blank=True)
    used_bytes = models.BigIntegerField("espace utilisé (octets)", default=0)
    # Highest usage warning already sent (0, 80 or 95 %): one warning per upward crossing (quotas.py).
    quota_warning_level = models.PositiveSmallIntegerField("dernière alerte de quota (%)", default=0)

    class Meta:
        verbose_name = "BAL"
        verbose_name_plural = "BAL"
        ordering = ["address"]
        indexes = [models.Index(fields=["kind", "status"], name="mailbox_kind_status")]
        constraints = [
            models.CheckConstraint(name="mailbox_kind_valid", condition=Q(kind__in=MailboxKind.values)),
            models.CheckConstraint(name="mailbox_status_valid", condition=Q(status__in=MailboxStatus.values)),
            models.CheckConstraint(
                name="mailbox_address_parts",
                condition=Q(address=Concat(F("local_part"), Value("@"), F("domain"))),
            ),
            models.CheckConstraint(
                name="mailbox_address_lowercase", condition=Q(address__regex=r"^[^A-Z]+$")
            ),
            models.CheckConstraint(
                name="mailbox_nominative_rules",
                condition=~_NOMINATIVE
                | (
                    Q(owner__isnull=False, responsible__isnull=True, structure__isnull=True)
                    & ~Q(national_id="")
                    & (Q(professional__isnull=False) | ~Q(national_id__regex=ANNUAIRE_ID_REGEX))
                    & Q(is_cabinet=False, is_officine=False)
                ),
            ),
            models.CheckConstraint(
                name="mailbox_organisational_rules",
                condition=~_ORGANISATIONAL
                | (
                    Q(responsible__isnull=False, owner__isnull=True, professional__isnull=True)
                    & Q(head_agreement_at__isnull=False)
                    & ~Q(head_agreement_by="")
                    & (Q(structure__isnull=False) | Q(is_cabinet=True))
                ),
            ),
            models.CheckConstraint(
                name="mailbox_applicative_rules",
                condition=~_APPLICATIVE
                | Q(
                    structure__isnull=False,
                    responsible__isnull=False,
                    owner__isnull=True,
                    professional__isnull=True,
                    is_cabinet=False,
                    is_officine=False,
                ),
            ),
            models.CheckConstraint(
                name="mailbox_patient_rules",
                condition=~_PATIENT
                | Q(
                    owner__isnull=False,
                    responsible__isnull=True,
                    structure__isnull=True,
                    professional__isnull=True,
                    is_cabinet=False,
                    is_officine=False,
                ),
            ),
            models.CheckConstraint(
                name="mailbox_suspension_dated",
                condition=Q(status=MailboxStatus.ACTIVE) | Q(suspended_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def annuaire_kind(self) -> str:
        """The TRE_R257 type the directory uses: PER, ORG, APP or CAB."""
        if self.kind == MailboxKind.NOMINATIVE:
            return "PER"
        if self.kind == MailboxKind.APPLICATIVE:
            return "APP"
        if self.kind == MailboxKind.PATIENT:
            return "PAT"
        return "CAB" if self.is_cabinet else "ORG"

    @property
    def kind_label(self) -> str:
        return "Cabinet" if self.is_cabinet else self.get_kind_display()

    @property
    def is_active(self) -> bool:
        return self.status == MailboxStatus.ACTIVE

    @property
    def quota_usage(self) -> Any:
        """Used and allowed bytes, for templates (`mailboxes/_quota.html`); reads only this row."""
        from apps.mailboxes.usage import get_quota_usage

        return get_quota_usage(self)


class CabinetPractitioner(models.Model):
    """A professional (RPPS/ADELI) of the liberal practice a cabinet BAL belongs to."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="cabinet_links")
    professional = models.ForeignKey("annuaire.Professional", on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "praticien du cabinet"
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "professional"], name="cabinet_practitioner_unique")
        ]

    def __str__(self) -> str:
        return f"{self.professional_id} @ {self.mailbox_id}"


class MailboxMembership(models.Model):
    """A person acting in an organisational BAL with their own login; `role` bounds what they may do."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField("rôle", max_length=10, choices=MemberRole.choices, default=MemberRole.SEND)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField("ajouté le", default=timezone.now)

    class Meta:
        verbose_name = "membre de BAL"
        verbose_name_plural = "membres de BAL"
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "user"], name="mailbox_membership_unique"),
            models.CheckConstraint(
                name="mailbox_membership_role_valid", condition=Q(role__in=MemberRole.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.mailbox_id} ({self.role})"

    @property
    def can_send(self) -> bool:
        return self.role in (MemberRole.SEND, MemberRole.MANAGE)

    @property
    def can_manage(self) -> bool:
        return self.role == MemberRole.MANAGE


class StructureAdmin(models.Model):
    """A person who administers the BALs of one structure (named by the operator)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="administered")
    structure = models.ForeignKey("annuaire.Structure", on_delete=models.CASCADE, related_name="admins")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "administrateur de structure"
        constraints = [models.UniqueConstraint(fields=["user", "structure"], name="structure_admin_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} administre {self.structure_id}"


class ApplicationCredential(models.Model):
    """Software credentials of an applicative BAL: `<prefix>.<secret>`; only the secret's SHA-256 is kept."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField("nom", max_length=100)
    prefix = models.CharField("préfixe", max_length=20, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("créé le", default=timezone.now)
    revoked_at = models.DateTimeField("révoqué le", null=True, blank=True)
    last_used_at = models.DateTimeField("dernière utilisation", null=True, blank=True)

    class Meta:
        verbose_name = "identifiant applicatif"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MailboxKey(models.Model):
    """A BAL's key, wrapped by the master key (docs/decisions/0007-encryption-at-rest.md).

    Deleting this row is crypto-shredding: every data-key wrap and search token of the BAL's copies becomes
    unreadable at once, while co-recipients keep their own wraps of the same stored messages.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="keys")
    version = models.PositiveIntegerField(default=1)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "clé de BAL"
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "version"], name="mailbox_key_version_unique"),
        ]

    def __str__(self) -> str:
        return f"clé v{self.version} de la BAL {self.mailbox_id}"


# --- Operations (issue 6): inactivity lifecycle notices, monthly indicators ---------------------------------


class NoticeChannel(models.TextChoices):
    USERS = "users", "Utilisateurs (adresse personnelle hors espace de confiance)"
    ADMINS = "admins", "Administrateurs (aucun utilisateur joignable)"
    NONE = "none", "Personne de joignable"


class NoticeClosure(models.TextChoices):
    OPPOSED = "opposed", "Opposition"
    ACTIVITY = "activity", "Nouvelle activité"


class LifecycleNotice(models.Model):
    """The warning sent before an inactive BAL is deleted (docs/decisions/0012-mailbox-lifecycle.md).

    A BAL is never deleted unless an open notice of its current inactivity period has `sent_on` set and
    enough time has passed since. Notices go with the BAL when it is deleted: the journal keeps the trail.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="lifecycle_notices")
    inactive_since = models.DateTimeField("inactive depuis")
    issued_on = models.DateField("émis le")
    channel = models.CharField("canal", max_length=10, choices=NoticeChannel.choices)
    recipient_count = models.PositiveIntegerField("destinataires", default=0)
    sent_on = models.DateField("envoyé le", null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    deletion_due_on = models.DateField("suppression prévue le", null=True, blank=True)
    opposed_at = models.DateTimeField("opposition le", null=True, blank=True)
    opposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=10, choices=NoticeClosure.choices, blank=True, default="")

    class Meta:
        verbose_name = "avis de suppression pour inactivité"
        verbose_name_plural = "avis de suppression pour inactivité"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox"], condition=Q(closed_at__isnull=True), name="lifecycle_notice_one_open"
            ),
            models.CheckConstraint(
                name="lifecycle_notice_sent_has_due_date",
                condition=Q(sent_on__isnull=True) | Q(deletion_due_on__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"avis #{self.pk} pour la BAL {self.mailbox_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class MonthlyIndicator(models.Model):
    """A month's platform-wide indicators, frozen on the 1st of the next month (later deletions of BALs
    must not rewrite a past month)."""

    month = models.DateField("mois (premier jour)", unique=True)
    computed_at = models.DateTimeField(default=timezone.now)
    bals_nominative = models.PositiveIntegerField(default=0)
    bals_organisational = models.PositiveIntegerField(default=0)
    bals_cabinet = models.PositiveIntegerField(default=0)
    bals_applicative = models.PositiveIntegerField(default=0)
    bals_patient = models.PositiveIntegerField(default=0)
    messages_sent = models.PositiveIntegerField(default=0)
    messages_received = models.PositiveIntegerField(default=0)
    connections = models.PositiveIntegerField(default=0)
    users_connected = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "indicateurs mensuels"
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"indicateurs {self.month:%Y-%m}"


class MonthlyMailboxIndicator(models.Model):
    """One BAL's line of a month's indicators. Ids and address are copied, not foreign keys: the line
    outlives the BAL (an irrevocably deleted BAL stays counted in the months it existed)."""

    snapshot = models.ForeignKey(MonthlyIndicator, on_delete=models.CASCADE, related_name="lines")
    mailbox_id = models.BigIntegerField()
    address = models.CharField(max_length=254)
    kind = models.CharField(max_length=3)  # PER, ORG, CAB, APP (TRE_R257) or PAT
    connections = models.PositiveIntegerField(default=0)
    users_connected = models.PositiveIntegerField(default=0)
    messages_sent = models.PositiveIntegerField(default=0)
    messages_received = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "indicateurs mensuels d'une BAL"
        ordering = ["address"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "mailbox_id"], name="monthly_mailbox_line_unique")
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.snapshot_id})"


class ValidationDelegate(models.Model):
    """A professional the BAL's responsible trusts to review what an applicative BAL's software submitted
    (validate or reject before sending), besides the responsible professional."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="validation_delegates")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "délégué à la validation"
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "user"], name="validation_delegate_unique"),
        ]

    def __str__(self) -> str:
        return f"délégué {self.user_id} de la BAL {self.mailbox_id}"


class Invitation(models.Model):
    """An invitation for a person without an account to join an organisational BAL (issue 14).

    The link's token is never stored: only its SHA-256, so a copy of the database opens no account. One use,
    72 hours; revocable; a resend replaces the token (the old link stops working).
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField("adresse e-mail de la personne invitée")
    first_name = models.CharField("prénom", max_length=150)
    last_name = models.CharField("nom", max_length=150)
    role = models.CharField("rôle", max_length=10, choices=MemberRole.choices, default=MemberRole.SEND)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    sent_count = models.PositiveSmallIntegerField(default=1)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "invitation"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_bal",
            )
        ]

    def __str__(self) -> str:
        return f"invitation de {self.email} à la BAL {self.mailbox_id}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def is_usable(self) -> bool:
        return self.is_pending and self.expires_at > timezone.now()
