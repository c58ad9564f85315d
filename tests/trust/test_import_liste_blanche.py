"""services.do_import_liste_blanche: the real sample, checksums, guards that keep the previous list, diffs."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from django.core import mail
from django.db.models import Count

from apps.audit.models import AuditEvent
from apps.trust.models import ListeBlancheRefresh, OperatorCertificateDN, RefreshStatus, TrustedDomain
from apps.trust.parser import NOTE_ROOT_NOT_CLOSED
from apps.trust.services import do_import_liste_blanche
from tests.trust.conftest import DN_TEMPLATE, SAMPLE_CHECKSUM, SAMPLE_XML, numbered_domains

pytestmark = pytest.mark.django_db


def _active_names() -> set[str]:
    return set(TrustedDomain.objects.filter(is_active=True).values_list("name", flat=True))


def test_it_imports_every_domain_and_every_dn_of_the_real_sample():
    refresh = do_import_liste_blanche(str(SAMPLE_XML), checksum=str(SAMPLE_CHECKSUM))

    assert refresh.status == RefreshStatus.APPLIED, refresh.reason
    assert refresh.checksum_verified
    assert (refresh.entry_count, refresh.domain_count, refresh.dn_count) == (619, 516, 614)
    assert TrustedDomain.objects.filter(is_active=True).count() == 516
    # 619 entries = 614 distinct (domain, DN) pairs + 5 entries ANS lists twice verbatim.
    assert OperatorCertificateDN.objects.filter(is_active=True).count() == 614
    aphp = TrustedDomain.objects.get(name="aphp.mssante.fr")
    assert sorted(aphp.certificate_dns.values_list("dn", flat=True)) == [
        "CN=smtp-1.sante.santnet.com,OU=341459958900028,O=DEDALUS HEALTHCARE FRANCE,ST=Gironde (33),C=FR",
        "CN=smtp-2.sante.santnet.com,OU=341459958900028,O=DEDALUS HEALTHCARE FRANCE,ST=Gironde (33),C=FR",
    ]
    assert TrustedDomain.objects.get(name="15-20.mssante.fr").certificate_dns.count() == 5
    # 80 domains have several entries; 5 of them list the same DN twice, so 75 have several distinct DNs.
    per_domain = Counter(
        TrustedDomain.objects.annotate(n=Count("certificate_dns")).values_list("n", flat=True)
    )
    assert per_domain == {1: 441, 2: 61, 3: 6, 4: 7, 5: 1}
    # 'UC-CMP.mssante.fr' is published in capitals: stored lowercase
    assert TrustedDomain.objects.filter(name="uc-cmp.mssante.fr").exists()
    assert refresh.generated_at.isoformat() == "2025-03-13T14:54:10+00:00"
    assert NOTE_ROOT_NOT_CLOSED in refresh.notes
    event = AuditEvent.objects.get(action="trust.liste_blanche_imported")
    assert (
        event.details["domains"] == 516
        and event.details["added"] == 516
        and event.details["checksum_verified"]
    )


def test_it_is_idempotent_on_reimport():
    first = do_import_liste_blanche(str(SAMPLE_XML))
    dns_before = list(OperatorCertificateDN.objects.order_by("pk").values_list("pk", "dn_normalised"))
    second = do_import_liste_blanche(str(SAMPLE_XML))

    assert first.status == second.status == RefreshStatus.APPLIED
    assert (second.added_count, second.removed_count, second.dn_changed_count) == (0, 0, 0)
    assert TrustedDomain.objects.count() == 516
    assert list(OperatorCertificateDN.objects.order_by("pk").values_list("pk", "dn_normalised")) == dns_before


def test_it_refuses_a_checksum_mismatch_and_keeps_the_list(write_list, tmp_path: Path):
    do_import_liste_blanche(str(SAMPLE_XML), checksum=str(SAMPLE_CHECKSUM))
    xml_path, _ = write_list(numbered_domains(3))
    wrong = tmp_path / "wrong-checksum"
    wrong.write_text("0" * 64)

    refresh = do_import_liste_blanche(xml_path, checksum=str(wrong))

    assert refresh.status == RefreshStatus.FAILED
    assert refresh.reason_code == "checksum"
    assert "ne correspond pas" in refresh.reason and "0" * 64 in refresh.reason
    assert not refresh.checksum_verified
    assert len(_active_names()) == 516


def test_it_refuses_a_checksum_file_without_a_hash(write_list, tmp_path: Path):
    xml_path, _ = write_list(numbered_domains(3))
    junk = tmp_path / "checksum"
    junk.write_text("<html>not found</html>")
    refresh = do_import_liste_blanche(xml_path, checksum=str(junk))
    assert refresh.status == RefreshStatus.FAILED and "SHA-256" in refresh.reason
    assert TrustedDomain.objects.count() == 0


def test_it_refuses_a_truncated_file_keeps_the_previous_list_and_alerts(
    tmp_path: Path, admin_olga, dr_alice, django_capture_on_commit_callbacks
):
    do_import_liste_blanche(str(SAMPLE_XML))
    data = SAMPLE_XML.read_bytes()
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(data[: len(data) // 2])
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        refresh = do_import_liste_blanche(str(truncated), checksum=None)

    assert refresh.status == RefreshStatus.FAILED
    assert refresh.reason_code == "malformed"
    assert "tronqué" in refresh.reason
    assert len(_active_names()) == 516
    event = AuditEvent.objects.get(action="trust.refresh_rejected")
    assert event.outcome == "failure" and event.details["reason_code"] == "malformed"
    assert refresh.sha256 == hashlib.sha256(data[: len(data) // 2]).hexdigest()
    # only operator admins are mailed, and the mail says the previous list is kept and why
    assert [message.to for message in mail.outbox] == [[admin_olga.email]]
    assert "liste précédente conservée" in mail.outbox[0].subject
    assert "tronqué" in mail.outbox[0].body and "/confiance/liste-blanche/" in mail.outbox[0].body


def test_it_refuses_a_file_cut_exactly_after_a_domain(write_list, tmp_path: Path):
    full = Path(write_list(numbered_domains(5))[0]).read_bytes()
    cut = full[: full.index(b"</Domaine>") + len(b"</Domaine>")]
    path = tmp_path / "cut.xml"
    path.write_bytes(cut)
    refresh = do_import_liste_blanche(str(path))
    assert refresh.status == RefreshStatus.FAILED and refresh.reason_code == "malformed"
    assert TrustedDomain.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body>Maintenance</body></html>", "Élément racine inattendu"),
        (
            b'<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema"><ListeDomaines/></ListeBlancheMSSante>',
            "aucun domaine",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><ListeBlancheMSSante '
            b'xmlns="https://listeblanche.mssante.fr/schema"><ListeDomaines/></ListeBlancheMSSante>',
            "DTD",
        ),
        (b"", "tronqué ou mal formé"),
    ],
)
def test_it_refuses_broken_or_hostile_files(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    refresh = do_import_liste_blanche(str(path))
    assert refresh.status == RefreshStatus.FAILED
    assert message in refresh.reason


def test_it_refuses_an_invalid_domain_name_or_an_empty_dn(write_list):
    bad_name, _ = write_list({"exemple..fr": [DN_TEMPLATE.format(cn="a")]})
    empty_dn, _ = write_list({"ok.mssante.fr": ["  "]})
    assert "Nom de domaine invalide" in do_import_liste_blanche(bad_name).reason
    assert "DN vide" in do_import_liste_blanche(empty_dn).reason
    assert TrustedDomain.objects.count() == 0


def test_it_refuses_a_drop_of_more_than_20_percent_then_force_applies_it(write_list, admin_olga):
    first, _ = write_list(numbered_domains(10))
    smaller, _ = write_list(numbered_domains(7))
    assert do_import_liste_blanche(first).status == RefreshStatus.APPLIED
    mail.outbox.clear()

    refused = do_import_liste_blanche(smaller, acting_user=admin_olga)

    assert refused.status == RefreshStatus.REJECTED and refused.reason_code == "drop_ratio"
    assert "3 domaines sur 10" in refused.reason
    assert refused.removed_count == 3
    assert len(_active_names()) == 10
    assert AuditEvent.objects.filter(action="trust.refresh_rejected", outcome="denied").count() == 1

    forced = do_import_liste_blanche(smaller, force=True, acting_user=admin_olga)
    assert forced.status == RefreshStatus.APPLIED and forced.forced
    assert _active_names() == {f"etab{i}.mssante.fr" for i in range(7)}
    gone = TrustedDomain.objects.get(name="etab9.mssante.fr")
    assert not gone.is_active and gone.deactivated_at is not None  # kept for history, never deleted


def test_it_accepts_a_drop_of_exactly_20_percent(write_list):
    do_import_liste_blanche(write_list(numbered_domains(10))[0])
    refresh = do_import_liste_blanche(write_list(numbered_domains(8))[0])
    assert refresh.status == RefreshStatus.APPLIED
    assert len(_active_names()) == 8


def test_it_refuses_a_file_older_than_the_current_one(write_list):
    do_import_liste_blanche(write_list(numbered_domains(4), generated="2025-03-13T14:54:10Z")[0])
    older = do_import_liste_blanche(write_list(numbered_domains(5), generated="2025-03-12T08:00:00Z")[0])
    assert older.status == RefreshStatus.REJECTED and older.reason_code == "older"
    assert len(_active_names()) == 4


def test_it_computes_what_appeared_disappeared_and_changed(write_list):
    before = {
        "a.mssante.fr": [DN_TEMPLATE.format(cn="mss1.exemple.fr")],
        "b.mssante.fr": [DN_TEMPLATE.format(cn="mss1.exemple.fr"), DN_TEMPLATE.format(cn="mss2.exemple.fr")],
        **numbered_domains(8, prefix="stable"),
        "gone.mssante.fr": [DN_TEMPLATE.format(cn="mss1.exemple.fr")],
    }
    after = dict(before)
    del after["gone.mssante.fr"]
    after["new.mssante.fr"] = [DN_TEMPLATE.format(cn="mss9.exemple.fr")]
    after["b.mssante.fr"] = [
        DN_TEMPLATE.format(cn="mss1.exemple.fr"),
        DN_TEMPLATE.format(cn="mss3.exemple.fr"),
    ]
    # same DN written differently: not a change
    after["a.mssante.fr"] = [
        " cn = MSS1.exemple.fr ; ou=318310021300028;o=GIP  EXEMPLE;S=Haute-Garonne (31);c=fr"
    ]
    do_import_liste_blanche(write_list(before)[0])

    refresh = do_import_liste_blanche(write_list(after, generated="2025-03-14T00:00:00Z")[0])

    assert refresh.status == RefreshStatus.APPLIED
    assert refresh.diff["added"] == ["new.mssante.fr"]
    assert refresh.diff["removed"] == ["gone.mssante.fr"]
    assert refresh.diff["dn_changes"] == {
        "b.mssante.fr": {
            "added": [DN_TEMPLATE.format(cn="mss3.exemple.fr")],
            "removed": [DN_TEMPLATE.format(cn="mss2.exemple.fr")],
        }
    }
    assert (refresh.added_count, refresh.removed_count, refresh.dn_changed_count) == (1, 1, 1)
    b_dns = OperatorCertificateDN.objects.filter(domain__name="b.mssante.fr")
    assert sorted(b_dns.filter(is_active=True).values_list("dn", flat=True)) == sorted(after["b.mssante.fr"])
    assert b_dns.filter(is_active=False).count() == 1


def test_it_reactivates_a_domain_that_comes_back_and_keeps_its_first_seen(write_list):
    do_import_liste_blanche(write_list(numbered_domains(10))[0])
    first_seen = TrustedDomain.objects.get(name="etab9.mssante.fr").first_seen
    do_import_liste_blanche(write_list(numbered_domains(9))[0])
    refresh = do_import_liste_blanche(write_list(numbered_domains(10))[0])
    back = TrustedDomain.objects.get(name="etab9.mssante.fr")
    assert back.is_active and back.deactivated_at is None and back.first_seen == first_seen
    assert refresh.diff["added"] == ["etab9.mssante.fr"]


def test_it_stores_unicode_domains_in_both_spellings(write_list):
    refresh = do_import_liste_blanche(
        write_list({"Hôpital-Exemple.MSSante.fr": [DN_TEMPLATE.format(cn="x")]})[0]
    )
    assert refresh.status == RefreshStatus.APPLIED
    domain = TrustedDomain.objects.get()
    assert domain.name == "xn--hpital-exemple-0ob.mssante.fr"
    assert domain.name_unicode == "hôpital-exemple.mssante.fr"


def test_it_records_every_attempt():
    do_import_liste_blanche(str(SAMPLE_XML))
    do_import_liste_blanche("/nonexistent/liste.xml")
    statuses = list(ListeBlancheRefresh.objects.order_by("pk").values_list("status", "reason_code"))
    assert statuses == [(RefreshStatus.APPLIED, ""), (RefreshStatus.FAILED, "download")]
