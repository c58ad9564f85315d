"""manage.py import_liste_blanche: summary, exit status, --checksum, --force, default source."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.trust.models import TrustedDomain
from tests.trust.conftest import SAMPLE_CHECKSUM, SAMPLE_XML, numbered_domains

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("import_liste_blanche", *args, stdout=out)
    return out.getvalue()


def test_it_prints_a_precise_summary():
    output = _run(str(SAMPLE_XML), "--checksum", str(SAMPLE_CHECKSUM))
    assert "Liste blanche applied" in output
    assert "checksum verified" in output
    assert "619 entries, 516 domains, 614 distinct certificate DNs" in output
    assert "516 domain(s) added, 0 removed, 0 domain(s) with changed certificate DNs" in output


def test_it_exits_non_zero_when_the_previous_list_is_kept(write_list, tmp_path):
    _run(write_list(numbered_domains(10))[0])
    smaller = write_list(numbered_domains(5))[0]
    with pytest.raises(
        CommandError, match=r"previous list kept \(drop_ratio\): Le nouveau fichier retirerait 5 domaines"
    ):
        _run(smaller)
    assert TrustedDomain.objects.filter(is_active=True).count() == 10

    output = _run(smaller, "--force")
    assert "Import forcé" in output and "5 removed" in output
    assert TrustedDomain.objects.filter(is_active=True).count() == 5


def test_it_explains_a_checksum_mismatch(write_list, tmp_path):
    wrong = tmp_path / "checksum"
    wrong.write_text("a" * 64)
    with pytest.raises(CommandError, match="La somme de contrôle SHA-256 ne correspond pas"):
        _run(str(SAMPLE_XML), "--checksum", str(wrong))


def test_it_defaults_to_the_configured_url(http_server):
    http_server.files["/lb.xml"] = SAMPLE_XML.read_bytes()
    http_server.files["/lb.sum"] = SAMPLE_CHECKSUM.read_bytes()
    with override_settings(
        LISTE_BLANCHE_URL=http_server.url("/lb.xml"), LISTE_BLANCHE_CHECKSUM_URL=http_server.url("/lb.sum")
    ):
        output = _run()
    assert "checksum verified" in output
    assert TrustedDomain.objects.filter(is_active=True).count() == 516
