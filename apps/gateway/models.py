"""The inbound spool: one row per message accepted over SMTP from another operator.

A row is committed (synchronous commit) only after the raw message is durably stored, encrypted, in the blob
store; only then does the gateway answer 250. The ingest task turns it into a stored message and deliveries
(`received` -> `ingested`), and the sweeper re-queues rows left in `received` (lost task, broker outage).
Envelope addresses and the peer's DN are clear metadata (ADR 0007); the content is only stored encrypted, in
the row (`ciphertext`, small messages) or in the blob store (`blob`).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SpoolState(models.TextChoices):
    RECEIVED = "received", "Reçu, en attente de dépôt"
    INGESTED = "ingested", "Déposé"
    FAILED = "failed", "Échec du dépôt"


class InboundMessage(models.Model):
    # A UUID chosen before the row exists: the blob's encryption is bound to it before the INSERT.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    envelope_sender = models.CharField("expéditeur (MAIL FROM)", max_length=254, blank=True)
    recipients = models.JSONField("destinataires (RCPT TO)", default=list)
    peer_dn = models.CharField("DN du certificat de l'opérateur", max_length=1000)
    peer_ip = models.GenericIPAddressField("adresse IP du pair", null=True, blank=True)
    helo = models.CharField(max_length=255, blank=True, default="")
    tls_version = models.CharField(max_length=20, blank=True, default="")
    size = models.PositiveIntegerField("taille (octets)")
    sha256 = models.CharField("SHA-256 du message brut", max_length=64)
    blob = models.CharField("message brut chiffré (clé du stockage)", max_length=80, blank=True, default="")
    # Small messages keep their ciphertext in the row itself (STORAGE EXTERNAL: no compression attempt on
    # ciphertext): the commit's WAL flush is then the only fsync before the 250. Large ones use `blob`.
    ciphertext = models.BinaryField("message brut chiffré (en ligne)", null=True, blank=True)
    key_wrap = models.BinaryField("clé du message, enveloppée pour le transit", null=True, blank=True)
    state = models.CharField(max_length=10, choices=SpoolState.choices, default=SpoolState.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(default=timezone.now)
    ingested_at = models.DateTimeField(null=True, blank=True)
    message_id = models.UUIDField("message stocké", null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        verbose_name = "message SMTP entrant"
        verbose_name_plural = "messages SMTP entrants"
        indexes = [
            models.Index(
                fields=["enqueued_at"], condition=Q(state="received"), name="inbound_received_enqueued"
            ),
        ]
        constraints = [
            models.CheckConstraint(name="inbound_state_valid", condition=Q(state__in=SpoolState.values)),
        ]

    def __str__(self) -> str:
        return f"SMTP {self.pk} ({self.state})"


class PeerCertificate(models.Model):
    """The S/MIME certificate last seen on a validly signed message from an address: what outgoing mail to
    that address is encrypted to (RFC 8551 §2.7.1: certificates are learnt from signed mail)."""

    address = models.CharField("adresse", max_length=254, unique=True)
    certificate_pem = models.TextField()
    fingerprint_sha256 = models.CharField(max_length=64)
    not_after = models.DateTimeField("valide jusqu'au")
    seen_at = models.DateTimeField("vu le", default=timezone.now)

    class Meta:
        verbose_name = "certificat S/MIME d'un correspondant"

    def __str__(self) -> str:
        return f"certificat S/MIME de {self.address}"


class InboundDedupKey(models.Model):
    """A message received from another operator, per recipient, for recognising a resend (issue 17 point
    3): an MTA that lost our 250 sends the same message again. `key` is the SHA-256 of its Message-ID, its
    envelope sender and the SHA-256 of its DATA as received; a recipient who has the key already gets the
    resend's 250 and no second copy. Kept GATEWAY_DEDUP_DAYS (7) whatever the spool's own retention."""

    key = models.CharField(max_length=64)
    recipient = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "empreinte de message reçu (anti-doublon)"
        constraints = [
            models.UniqueConstraint(fields=["key", "recipient"], name="inbound_dedup_key_recipient")
        ]

    def __str__(self) -> str:
        return f"{self.key[:12]}… → {self.recipient}"
