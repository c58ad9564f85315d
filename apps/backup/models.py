"""What the platform remembers of its backups: one row per backup, verification or restore run.

The backup itself lives outside the database (a directory with the encrypted dump, the blob files and a
signed manifest); these rows let the operator's home page and `/healthz` show the last drill's verdict.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RunKind(models.TextChoices):
    BACKUP = "backup", "Sauvegarde"
    VERIFY = "verify", "Vérification par restauration"
    RESTORE = "restore", "Restauration"


class RunStatus(models.TextChoices):
    RUNNING = "running", "En cours"
    OK = "ok", "Réussie"
    FAILED = "failed", "En échec"
    # The checks that need no secret passed, but nothing was restored (no backup secret key on this host).
    INCOMPLETE = "incomplete", "Incomplète"


class BackupRun(models.Model):
    kind = models.CharField(max_length=10, choices=RunKind.choices)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    directory = models.CharField(max_length=1000)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    verdict = models.CharField("verdict en une ligne", max_length=1000, blank=True, default="")
    report = models.TextField(blank=True, default="")
    size_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "opération de sauvegarde"
        indexes = [models.Index(fields=["kind", "-started_at"], name="backuprun_kind_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.directory} ({self.status})"
