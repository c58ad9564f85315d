"""Users of the platform: one person, one login, whatever BALs they act in.

Login is by e-mail; the national id (8+RPPS, 0+ADELI for professionals, RPPS+ for staff) ties the person to
the annuaire. `session_epoch` feeds the session hash so that "log out everywhere" invalidates every session.
"""

from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac


class UserKind(models.TextChoices):
    PROFESSIONAL = "professional", "Professionnel de santé"
    STAFF = "staff", "Personnel (secrétariat, cadre)"
    PATIENT = "patient", "Patient"
    OPERATOR_ADMIN = "operator_admin", "Administrateur opérateur"


class ReadReceiptPolicy(models.TextChoices):
    """Whether reading a message that asks for a read receipt (RFC 8098 MDN) returns it to the sender."""

    ALWAYS = "always", "Toujours envoyer l'accusé de lecture demandé"
    NEVER = "never", "Ne jamais envoyer d'accusé de lecture"


# Kinds that reach health data and must therefore enrol a second factor before anything else.
MFA_REQUIRED_KINDS = frozenset({UserKind.PROFESSIONAL, UserKind.STAFF, UserKind.OPERATOR_ADMIN})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("Une adresse e-mail est obligatoire.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("kind", UserKind.OPERATOR_ADMIN)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    username = None  # type: ignore[assignment]
    email = models.EmailField("adresse e-mail de connexion", unique=True)
    kind = models.CharField("type de compte", max_length=20, choices=UserKind.choices)
    national_id = models.CharField(
        "identifiant national",
        max_length=20,
        blank=True,
        default="",
        help_text="8+RPPS ou 0+ADELI pour un professionnel ; RPPS+ pour un personnel.",
    )
    # A personal address outside the trust space (inactivity warnings, patient notices): no health data sent.
    outside_email = models.EmailField(
        "adresse e-mail personnelle (hors espace de confiance)", blank=True, default=""
    )
    last_authenticated_at = models.DateTimeField("dernière authentification", null=True, blank=True)
    mfa_enrolled_at = models.DateTimeField("second facteur enrôlé le", null=True, blank=True)
    recovery_codes_saved_at = models.DateTimeField("codes de secours enregistrés le", null=True, blank=True)
    session_epoch = models.PositiveIntegerField(default=0)
    # The BAL last acted in (an id, not a foreign key: accounts sits below mailboxes): the next login lands
    # on its inbox. Re-checked by the policy at every use; a BAL one may no longer use is simply skipped.
    last_mailbox_id = models.BigIntegerField("dernière BAL utilisée", null=True, blank=True)
    # Read by messaging's do_record_read: "never" keeps the sender's timeline at "delivered".
    read_receipt_policy = models.CharField(
        "accusés de lecture",
        max_length=10,
        choices=ReadReceiptPolicy.choices,
        default=ReadReceiptPolicy.ALWAYS,
    )
    # The signature added to new messages, set on messaging's preferences page. Three states: NULL = the one
    # built from the Annuaire Santé (kept up to date with it), "" = no signature, else the person's text.
    mail_signature = models.TextField("signature des messages", null=True, blank=True, max_length=1000)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[misc,assignment]

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            models.CheckConstraint(
                name="user_kind_valid", condition=Q(kind__in=[choice.value for choice in UserKind])
            ),
            models.UniqueConstraint(
                fields=["national_id"], condition=~Q(national_id=""), name="user_national_id_unique"
            ),
            models.CheckConstraint(
                name="professional_national_id_format",
                condition=~Q(kind=UserKind.PROFESSIONAL)
                | Q(national_id="")
                | Q(national_id__regex=r"^(8[0-9]{11}|0[0-9AB]{9})$"),
            ),
        ]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} <{self.email}>" if full else self.email

    @property
    def requires_mfa(self) -> bool:
        return self.kind in MFA_REQUIRED_KINDS or self.is_staff or self.is_superuser

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Including the epoch means bumping it invalidates every session of this user at its next request.
        key_salt = "apps.accounts.User.get_session_auth_hash"
        value = f"{self.password}:{self.session_epoch}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


class AppPassword(models.Model):
    """A password for one mail client or practice software (SMTP submission), created in the webmail.

    Shown once; only its SHA-256 is kept (it is 32 random characters, so a fast hash is enough). Revoking it
    cuts that client without touching the person's own password or second factor, which clients never see.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_passwords")
    label = models.CharField("nom de l'application", max_length=100)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    last_used_at = models.DateTimeField("dernière utilisation", null=True, blank=True)
    # Where and by what it was last used (IMAP: the client address and the client's ID), shown to its owner.
    last_used_ip = models.GenericIPAddressField("dernière adresse", null=True, blank=True)
    last_client = models.CharField("dernier logiciel", max_length=100, blank=True, default="")
    revoked_at = models.DateTimeField("révoqué le", null=True, blank=True)

    class Meta:
        verbose_name = "mot de passe d'application"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.user_id})"
