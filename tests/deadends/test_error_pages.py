"""The app's own French error pages (issue 14, item 1); « Nouveau message » only where one may write."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.views.defaults import server_error

from apps.mailboxes.models import MemberRole
from apps.mailboxes.services_members import do_add_member

pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_a_french_404_in_the_app_look(alice_client):
    response = alice_client.get("/cette-page-n-existe-pas/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page introuvable" in html
    assert 'class="topbar"' in html  # the app's frame, with its navigation
    assert "Not Found" not in html


def test_a_500_renders_without_database_or_context_processor():
    request = RequestFactory().get("/")
    with CaptureQueriesContext(connection) as queries:
        response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Le service a rencontré une erreur" in html
    assert 'lang="fr"' in html
    assert len(queries) == 0


def test_a_refused_form_is_a_french_csrf_page(dr_alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dr_alice)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Le formulaire a expiré" in html
    assert "CSRF verification failed" not in html


def test_the_429_page_is_french_and_names_the_support_contact():
    request = RequestFactory().get("/")
    with override_settings(SUPPORT_CONTACT="support@operateur.example"):
        html = render_to_string("429.html", request=request)
    assert "Trop de tentatives" in html
    assert "support@operateur.example" in html


def test_an_applicative_bal_offers_no_composer_and_says_why(client, dr_alice, lab_bal):
    mailbox, _secret = lab_bal
    client.force_login(dr_alice)  # Alice is its responsible professional: she reads it
    page = client.get(f"/messagerie/{mailbox.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/ecrire/" not in html
    assert "Une BAL applicative envoie ses messages par son API" in html

    composer = client.get(f"/messagerie/{mailbox.pk}/ecrire/")
    assert composer.status_code == 403
    assert "Une BAL applicative envoie ses messages par son API" in composer.content.decode()


def test_a_read_only_member_sees_why_he_cannot_write(client, cardio_bal, charlie):
    do_add_member(cardio_bal, user=charlie, role=MemberRole.READ, acting_user=None)
    client.force_login(charlie)
    html = client.get(f"/messagerie/{cardio_bal.pk}/").content.decode()
    assert "lecture seule" in html
    assert "/ecrire/" not in html
    assert client.get(f"/messagerie/{cardio_bal.pk}/ecrire/").status_code == 403


def test_a_writer_is_offered_the_composer(bob_client, cardio_bal):
    html = bob_client.get(f"/messagerie/{cardio_bal.pk}/").content.decode()
    assert f"/messagerie/{cardio_bal.pk}/ecrire/" in html
