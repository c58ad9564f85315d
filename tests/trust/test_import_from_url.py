"""Importing from a URL (a loopback HTTP server stands for ANS; tests never reach the internet)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from apps.trust.models import RefreshStatus, TrustedDomain
from apps.trust.services import do_import_liste_blanche
from tests.trust.conftest import SAMPLE_CHECKSUM, SAMPLE_XML, numbered_domains, render_list

pytestmark = pytest.mark.django_db


def test_it_imports_the_sample_from_a_url_with_its_checksum_url(http_server):
    http_server.files["/listeblanchemssante.xml"] = SAMPLE_XML.read_bytes()
    http_server.files["/checksum"] = SAMPLE_CHECKSUM.read_bytes()

    refresh = do_import_liste_blanche(
        http_server.url("/listeblanchemssante.xml"), checksum=http_server.url("/checksum")
    )

    assert refresh.status == RefreshStatus.APPLIED, refresh.reason
    assert refresh.checksum_verified and refresh.domain_count == 516 and refresh.dn_count == 614
    assert TrustedDomain.objects.filter(is_active=True).count() == 516
    assert http_server.requests == ["/listeblanchemssante.xml", "/checksum"]


def test_it_refuses_a_download_whose_checksum_differs(http_server):
    data = render_list(numbered_domains(3))
    http_server.files["/liste.xml"] = data
    http_server.files["/checksum"] = hashlib.sha256(data + b"x").hexdigest().encode()
    refresh = do_import_liste_blanche(http_server.url("/liste.xml"), checksum=http_server.url("/checksum"))
    assert refresh.status == RefreshStatus.FAILED and refresh.reason_code == "checksum"
    assert TrustedDomain.objects.count() == 0


def test_it_reports_a_missing_file_as_a_download_failure(http_server):
    refresh = do_import_liste_blanche(http_server.url("/absent.xml"))
    assert refresh.status == RefreshStatus.FAILED and refresh.reason_code == "download"
    assert "Téléchargement impossible" in refresh.reason and "404" in refresh.reason


@override_settings(LISTE_BLANCHE_MAX_BYTES=1000)
def test_it_stops_a_download_larger_than_the_cap(http_server):
    http_server.files["/big.xml"] = render_list(numbered_domains(50))
    refresh = do_import_liste_blanche(http_server.url("/big.xml"))
    assert refresh.status == RefreshStatus.FAILED and "taille maximale" in refresh.reason


@pytest.mark.parametrize("url", ["http://listeblanche.example.org/liste.xml", "ftp://127.0.0.1/liste.xml"])
def test_it_refuses_plain_http_outside_loopback(url):
    refresh = do_import_liste_blanche(url)
    assert refresh.status == RefreshStatus.FAILED
    assert "HTTPS" in refresh.reason or "introuvable" in refresh.reason


def test_it_follows_a_redirect_it_would_accept_itself(http_server):
    http_server.files["/real.xml"] = render_list(numbered_domains(3))
    http_server.redirects["/liste.xml"] = http_server.url("/real.xml")
    refresh = do_import_liste_blanche(http_server.url("/liste.xml"))
    assert refresh.status == RefreshStatus.APPLIED
    assert http_server.requests == ["/liste.xml", "/real.xml"]


def test_it_refuses_a_redirect_to_plain_http_elsewhere(http_server):
    http_server.redirects["/liste.xml"] = "http://listeblanche.example.org/liste.xml"
    refresh = do_import_liste_blanche(http_server.url("/liste.xml"))
    assert refresh.status == RefreshStatus.FAILED and refresh.reason_code == "download"
    assert "ne se télécharge qu'en HTTPS" in refresh.reason
    assert TrustedDomain.objects.count() == 0
