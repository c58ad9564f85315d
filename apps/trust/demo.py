"""Demo data: `make run` trusts the domains of the real liste blanche sample (seed_demo calls seed)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from django.conf import settings

from apps.trust.models import RefreshStatus
from apps.trust.services import do_import_liste_blanche

SAMPLE_DIR = Path(settings.BASE_DIR) / "demo" / "data" / "liste-blanche"


def seed(stdout: TextIO) -> None:
    """Import the sample with its checksum; re-running applies nothing new (idempotent)."""
    refresh = do_import_liste_blanche(
        str(SAMPLE_DIR / "listeblanchemssante.xml"), checksum=str(SAMPLE_DIR / "checksum")
    )
    for line in refresh.summary_lines():
        stdout.write(line + "\n")
    if refresh.status != RefreshStatus.APPLIED:
        # A newer list (e.g. fetched from ANS) is already in force: keep it, the demo still works.
        stdout.write("Demo liste blanche not applied: the list in force is kept.\n")
