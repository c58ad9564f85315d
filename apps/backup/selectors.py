"""Reads for the operator's home page and `/healthz`: the last backup and the last drill."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from .models import BackupRun, RunKind


def get_last_run(kind: str) -> BackupRun | None:
    return BackupRun.objects.filter(kind=kind).exclude(status="running").order_by("-started_at").first()


def backup_status() -> dict[str, Any]:
    """Enabled or not, the last backup and the last verification (None when never run)."""
    return {
        "enabled": bool(getattr(settings, "BACKUP_DIR", "")),
        "backup": get_last_run(RunKind.BACKUP),
        "verify": get_last_run(RunKind.VERIFY),
    }


def health_summary() -> dict[str, Any]:
    """What `/healthz` shows: states and dates only (no paths, no verdict text)."""
    status = backup_status()
    summary: dict[str, Any] = {"enabled": status["enabled"]}
    for key in ("backup", "verify"):
        run = status[key]
        summary[f"last_{key}"] = (
            None
            if run is None
            else {"status": run.status, "at": run.finished_at.isoformat() if run.finished_at else None}
        )
    return summary
