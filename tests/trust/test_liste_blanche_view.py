"""The liste blanche page: operator admins only, current state, diff, rejected refreshes, search, refresh."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.trust.models import ListeBlancheRefresh
from apps.trust.services import do_import_liste_blanche
from tests.trust.conftest import DN_TEMPLATE, SAMPLE_XML, numbered_domains

pytestmark = pytest.mark.django_db
URL = reverse("confiance:liste-blanche")
REFRESH_URL = reverse("confiance:liste-blanche-refresh")


def test_it_is_hidden_from_everyone_but_operator_admins(alice_client, bob_client, client):
    assert alice_client.get(URL).status_code == 404
    assert bob_client.get(URL).status_code == 404
    assert alice_client.post(REFRESH_URL).status_code == 404
    assert client.get(URL).status_code == 302  # anonymous: to the login page


def test_it_shows_counts_last_refresh_and_domains_with_their_dns(admin_client_olga):
    do_import_liste_blanche(str(SAMPLE_XML))
    response = admin_client_olga.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<th scope="row">Domaines actifs</th><td>516</td>' in html
    assert '<th scope="row">DN de certificats opérateurs actifs</th><td>614</td>' in html
    assert "Appliquée" in html and str(SAMPLE_XML) in html
    assert "516 domaines apparus" in html
    assert "Mettre à jour maintenant" in html
    assert "50 domaines" not in html and "516 domaines." in html  # paginated: count of all, 50 shown
    assert "Page 1 sur 11" in html


def test_it_searches_domains_by_name_or_dn(admin_client_olga):
    do_import_liste_blanche(str(SAMPLE_XML))
    html = admin_client_olga.get(URL, {"q": "aphp.mssante"}, HTTP_HX_REQUEST="true").content.decode()
    assert "aphp.mssante.fr" in html
    assert "CN=smtp-1.sante.santnet.com" in html and "CN=smtp-2.sante.santnet.com" in html
    assert "adsea29.mssante.fr" not in html
    by_dn = admin_client_olga.get(
        URL, {"q": "smtp-2.sante.santnet.com"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "aphp.mssante.fr" in by_dn and "nddtestasmae.mssante.fr" not in by_dn


def test_it_answers_the_search_fragment_to_htmx_without_n_plus_one(admin_client_olga):
    do_import_liste_blanche(str(SAMPLE_XML))

    def queries_for(query: str) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = admin_client_olga.get(URL, {"q": query}, HTTP_HX_REQUEST="true")
        trust = [q for q in captured.captured_queries if "trust_" in q["sql"]]
        return len(trust), response.content.decode()

    many, html = queries_for("mssante")  # a full page of 50 domains, 80 of them with several DNs
    one, _ = queries_for("aphp.mssante.fr")
    assert many == one == 3  # count, page, DNs prefetched
    assert "<h1>" not in html and html.count("<tr>") == 51


def test_it_shows_what_appeared_disappeared_and_changed(admin_client_olga, write_list):
    before = {**numbered_domains(9), "b.mssante.fr": [DN_TEMPLATE.format(cn="mss1.exemple.fr")]}
    after = {
        **numbered_domains(8),
        "b.mssante.fr": [DN_TEMPLATE.format(cn="mss2.exemple.fr")],
        "nouveau.mssante.fr": [DN_TEMPLATE.format(cn="x")],
    }
    do_import_liste_blanche(write_list(before)[0])
    do_import_liste_blanche(write_list(after, generated="2025-03-14T00:00:00Z")[0])
    html = admin_client_olga.get(URL).content.decode()
    assert "1 domaine apparu, 1 disparu, 1 domaine aux certificats modifiés" in html
    assert "nouveau.mssante.fr" in html and "etab8.mssante.fr" in html
    assert DN_TEMPLATE.format(cn="mss2.exemple.fr") in html


def test_it_warns_about_a_rejected_refresh_with_its_reason(admin_client_olga, write_list):
    do_import_liste_blanche(write_list(numbered_domains(10))[0])
    do_import_liste_blanche(write_list(numbered_domains(2))[0])
    html = admin_client_olga.get(URL).content.decode()
    assert 'class="msg msg-warning"' in html
    assert "non appliquée" in html and "8 domaines sur 10" in html
    assert "Refusée (liste précédente conservée)" in html


def test_it_enqueues_a_refresh_on_commit_and_audits_it(
    admin_client_olga, admin_olga, http_server, settings, django_capture_on_commit_callbacks
):
    from mssante_web.celery import app as celery_app

    http_server.files["/lb.xml"] = SAMPLE_XML.read_bytes()
    settings.LISTE_BLANCHE_URL = http_server.url("/lb.xml")
    settings.LISTE_BLANCHE_CHECKSUM_URL = ""
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = admin_client_olga.post(REFRESH_URL)
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302 and response.url == URL
    assert len(callbacks) >= 1
    assert AuditEvent.objects.filter(action="trust.refresh_requested", actor_id=admin_olga.pk).exists()
    imported = AuditEvent.objects.get(action="trust.liste_blanche_imported")
    assert imported.actor_id == admin_olga.pk and imported.details["domains"] == 516
    assert http_server.requests == ["/lb.xml"]


def test_it_enqueues_nothing_before_commit(admin_client_olga, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client_olga.post(REFRESH_URL)
    assert len(callbacks) == 1
    assert admin_client_olga.get(REFRESH_URL).status_code == 405


def test_it_warns_when_the_list_was_not_refreshed_for_days(admin_client_olga, write_list):
    refresh = do_import_liste_blanche(write_list(numbered_domains(3))[0])
    assert "n'a pas été mise à jour depuis" not in admin_client_olga.get(URL).content.decode()
    ListeBlancheRefresh.objects.filter(pk=refresh.pk).update(
        started_at=timezone.now() - dt.timedelta(days=4), finished_at=timezone.now() - dt.timedelta(days=4)
    )
    assert "n'a pas été mise à jour depuis 4 jours" in admin_client_olga.get(URL).content.decode()
