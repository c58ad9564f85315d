"""The liste blanche: domains of the espace de confiance, their operators' certificate DNs, and refreshes.

Rows are never deleted when a domain or a DN leaves the list: they are deactivated, so that the journal and
old messages keep pointing at what was trusted then, and a domain coming back keeps its first_seen.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TrustedDomain(models.Model):
    # Lowercase ASCII (punycode) form: the key every lookup uses; name_unicode is for people and search.
    name = models.CharField("domaine", max_length=253, unique=True)
    name_unicode = models.CharField("domaine (forme Unicode)", max_length=253, db_index=True)
    description = models.CharField("description", max_length=500, blank=True, default="")
    responsable_contact = models.CharField("contact responsable", max_length=500, blank=True, default="")
    support_contact = models.CharField("contact support", max_length=500, blank=True, default="")
    date_maj = models.DateTimeField("mise à jour ANS", null=True, blank=True)
    is_active = models.BooleanField("présent dans la liste", default=True)
    first_seen = models.DateTimeField("vu la première fois", default=timezone.now)
    last_seen = models.DateTimeField("vu la dernière fois", default=timezone.now)
    deactivated_at = models.DateTimeField("retiré le", null=True, blank=True)

    class Meta:
        verbose_name = "domaine de la liste blanche"
        verbose_name_plural = "domaines de la liste blanche"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="trusted_domain_name_lowercase", condition=models.Q(name__regex=r"^[^A-Z]+$")
            )
        ]
        indexes = [models.Index(fields=["is_active", "name"], name="trust_domain_active")]

    def __str__(self) -> str:
        return self.name_unicode or self.name


class OperatorCertificateDN(models.Model):
    domain = models.ForeignKey(TrustedDomain, on_delete=models.PROTECT, related_name="certificate_dns")
    dn = models.TextField("DN publié")
    # Canonical form from apps.trust.dn.normalise_dn: what comparisons use, never shown as such.
    dn_normalised = models.TextField("DN normalisé")
    date_maj = models.DateTimeField("mise à jour ANS", null=True, blank=True)
    is_active = models.BooleanField("présent dans la liste", default=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "DN de certificat opérateur"
        verbose_name_plural = "DN de certificats opérateurs"
        ordering = ["domain_id", "dn"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "dn_normalised"], name="trust_dn_unique_per_domain"),
        ]

    def __str__(self) -> str:
        return self.dn


class RefreshStatus(models.TextChoices):
    APPLIED = "applied", "Appliquée"
    REJECTED = "rejected", "Refusée (liste précédente conservée)"
    FAILED = "failed", "En échec (liste précédente conservée)"


class ListeBlancheRefresh(models.Model):
    """One import attempt, successful or not: the history the admin page shows."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=1000)
    checksum_source = models.CharField(max_length=1000, blank=True, default="")
    checksum_verified = models.BooleanField(default=False)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    generated_at = models.DateTimeField("date de génération du fichier", null=True, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    domain_count = models.PositiveIntegerField(default=0)
    dn_count = models.PositiveIntegerField(default=0)
    added_count = models.PositiveIntegerField(default=0)
    removed_count = models.PositiveIntegerField(default=0)
    dn_changed_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=RefreshStatus.choices)
    # Machine-readable cause of a rejection/failure (download, checksum, malformed, drop_ratio, older).
    reason_code = models.CharField(max_length=20, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    notes = models.JSONField(default=list, blank=True)
    forced = models.BooleanField(default=False)
    # {"added": [names], "removed": [names], "dn_changes": {name: {"added": [dn], "removed": [dn]}}}
    diff = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = "rafraîchissement de la liste blanche"
        verbose_name_plural = "rafraîchissements de la liste blanche"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="trust_refresh_status_valid",
                condition=models.Q(status__in=[c.value for c in RefreshStatus]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.status}"

    def summary_lines(self) -> list[str]:
        """A precise summary of this attempt for the command line and the demo seed. In English like every
        CLI output (decision 0002); the reason stays in French, as administrators read it on the page."""
        verdict = {
            RefreshStatus.APPLIED: "Liste blanche applied",
            RefreshStatus.REJECTED: "Liste blanche REJECTED, previous list kept",
            RefreshStatus.FAILED: "Liste blanche import FAILED, previous list kept",
        }[RefreshStatus(self.status)]
        lines = [f"{verdict} (source: {self.source})."]
        if self.sha256:
            check = "verified" if self.checksum_verified else "not verified (no checksum file given)"
            lines.append(f"SHA-256 {self.sha256}: checksum {check}.")
        if self.domain_count:
            generated = f", generated {self.generated_at:%Y-%m-%d %H:%M:%S} UTC" if self.generated_at else ""
            lines.append(
                f"File: {self.entry_count} entries, {self.domain_count} domains, "
                f"{self.dn_count} distinct certificate DNs{generated}."
            )
            lines.append(
                f"Changes: {self.added_count} domain(s) added, {self.removed_count} removed, "
                f"{self.dn_changed_count} domain(s) with changed certificate DNs."
            )
        lines.extend(f"Note: {note}" for note in self.notes)
        if self.reason:
            lines.append(f"Reason: {self.reason}")
        return lines


# --- Certificates: revocation lists, the certificates seen, TLS failures (issue 18, ADR 0018) -------------
class CertificateRevocationList(models.Model):
    """The newest valid CRL of one issuing CA (one row per issuer, replaced by a newer one).

    The DER is kept whole: it is what the signature covers, and each process parses it once into the set of
    revoked serials it checks against (apps.trust.revocation).
    """

    # SHA-256 of the DER of the issuer's Name: what certificates and CRLs are matched on.
    issuer_key = models.CharField(max_length=64, unique=True)
    issuer_dn = models.TextField("émetteur")
    number = models.DecimalField("numéro", max_digits=60, decimal_places=0, null=True, blank=True)
    this_update = models.DateTimeField("émise le")
    next_update = models.DateTimeField("prochaine mise à jour", null=True, blank=True)
    revoked_count = models.PositiveIntegerField("certificats révoqués", default=0)
    der = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    source = models.CharField("source", max_length=1000)
    fetched_at = models.DateTimeField("chargée le", default=timezone.now)

    class Meta:
        verbose_name = "liste de révocation (LCR)"
        verbose_name_plural = "listes de révocation (LCR)"
        ordering = ["issuer_dn"]

    def __str__(self) -> str:
        return f"{self.issuer_dn} ({self.this_update:%Y-%m-%d %H:%M})"


class RevocationStatus(models.TextChoices):
    GOOD = "good", "Non révoqué"
    REVOKED = "revoked", "Révoqué"
    STALE = "stale", "LCR périmée"
    UNKNOWN = "unknown", "Aucune LCR"


class SeenCertificate(models.Model):
    """A peer certificate met on a TLS path (inbound, outbound, API), for the inventory page."""

    fingerprint = models.CharField("empreinte SHA-256", max_length=64, unique=True)
    subject_dn = models.TextField("DN")
    issuer_dn = models.TextField("émetteur")
    serial = models.CharField("numéro de série", max_length=80)
    not_before = models.DateTimeField("valide à partir du")
    not_after = models.DateTimeField("expire le", db_index=True)
    der = models.BinaryField()  # the certificate itself: its revocation status is computed when shown
    crl_urls = models.JSONField(default=list, blank=True)
    paths = models.JSONField("chemins", default=list, blank=True)  # inbound | outbound | api
    remote = models.CharField("dernier interlocuteur", max_length=253, blank=True, default="")
    revocation_status = models.CharField(
        "révocation", max_length=10, choices=RevocationStatus.choices, default=RevocationStatus.UNKNOWN
    )
    first_seen = models.DateTimeField("vu la première fois", default=timezone.now)
    last_seen = models.DateTimeField("vu la dernière fois", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "certificat de correspondant"
        verbose_name_plural = "certificats de correspondants"
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.subject_dn


class TlsFailure(models.Model):
    """A TLS exchange with another operator refused or failed, for the per-operator failures page."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    direction = models.CharField(max_length=10)  # inbound | outbound | api
    remote = models.CharField("correspondant", max_length=253, db_index=True)
    peer_dn = models.TextField(blank=True, default="")
    serial = models.CharField(max_length=80, blank=True, default="")
    reason_code = models.CharField(max_length=40)
    reason = models.TextField()

    class Meta:
        verbose_name = "échec TLS"
        verbose_name_plural = "échecs TLS"
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["remote", "-occurred_at"], name="trust_tlsfail_remote")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.remote} {self.reason_code}"
