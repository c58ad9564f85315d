"""The traceability journal: append-only events, sealed afterwards into one HMAC chain.

Writers never touch a chain head (no contention): they insert a row in their own transaction. A single sealer
job later assigns `seal_seq` in id order and computes `seal = HMAC(key, previous seal || canonical event)`.
Actor and BAL are kept as ids plus a label snapshot, not foreign keys: a journal row must outlive the user or
the BAL it names (an irrevocably deleted BAL leaves its audit trail) and must never be rewritten by a cascade.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Outcome(models.TextChoices):
    SUCCESS = "success", "Réussite"
    FAILURE = "failure", "Échec"
    DENIED = "denied", "Refusé"


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)  # indexed with the id (audit_actor_recent)
    actor_label = models.CharField(max_length=254, blank=True, default="")
    mailbox_id = models.BigIntegerField(null=True, blank=True)  # indexed with the id (audit_mailbox_recent)
    mailbox_label = models.CharField(max_length=254, blank=True, default="")
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=128, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    # Old/new values of administrative changes, counts, reasons. Never message content.
    details = models.JSONField(default=dict, blank=True)
    seal_seq = models.BigIntegerField(null=True, blank=True, unique=True)
    seal = models.CharField(max_length=64, null=True, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "événement du journal"
        verbose_name_plural = "événements du journal"
        indexes = [
            models.Index(fields=["mailbox_id", "-id"], name="audit_mailbox_recent"),
            models.Index(fields=["actor_id", "-id"], name="audit_actor_recent"),
            models.Index(fields=["action"], name="audit_action"),  # equality only: no LIKE index
            # The sealer and the "unsealed too long" check only ever look at the few unsealed rows.
            models.Index(fields=["id"], name="audit_unsealed", condition=models.Q(seal_seq__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(
                name="audit_seal_complete",
                condition=(models.Q(seal_seq__isnull=True, seal__isnull=True, sealed_at__isnull=True))
                | (models.Q(seal_seq__isnull=False, seal__isnull=False, sealed_at__isnull=False)),
            )
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.actor_label} {self.outcome}"


class AuditAnchor(models.Model):
    """Left by a purge: the seal of the last purged event, so the remaining chain stays verifiable."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)
    through_seq = models.BigIntegerField(unique=True)
    seal = models.CharField(max_length=64)
    purged_count = models.BigIntegerField()
    purged_before = models.DateTimeField()
    actor_label = models.CharField(max_length=254)

    class Meta:
        verbose_name = "ancre de purge du journal"

    def __str__(self) -> str:
        return f"ancre #{self.id} (jusqu'à seal_seq {self.through_seq})"
