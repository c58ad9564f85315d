"""Sessions: idle expiry after SESSION_IDLE_MINUTES, and "Se déconnecter de tous les appareils"."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from tests.factories import UserFactory, enrol_totp


def _session_row(client: Client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_it_sets_the_idle_timeout_from_settings():
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_it_refuses_a_session_idle_for_longer_than_the_timeout(alice_client):
    row = _session_row(alice_client)
    idle = timedelta(minutes=settings.SESSION_IDLE_MINUTES, seconds=1)
    # The expiry date is "last request + idle minutes": a session last used that long ago is already over.
    Session.objects.filter(pk=row.pk).update(expire_date=row.expire_date - idle)
    response = alice_client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_it_extends_an_active_session(alice_client):
    row = _session_row(alice_client)
    almost = timezone.now() + timedelta(minutes=1)  # one minute left
    Session.objects.filter(pk=row.pk).update(expire_date=almost)
    assert alice_client.get(reverse("home")).status_code == 200
    renewed = _session_row(alice_client).expire_date
    assert renewed > timezone.now() + timedelta(minutes=settings.SESSION_IDLE_MINUTES - 1)


def test_it_logs_out_every_device(db):
    user = UserFactory()
    enrol_totp(user)
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    assert phone.get(reverse("home")).status_code == 200
    response = laptop.post(reverse("accounts:logout-everywhere"), follow=True)
    assert "Vous avez été déconnecté de tous vos appareils." in response.content.decode()
    for client in (laptop, phone):
        assert client.get(reverse("home"))["Location"].startswith(reverse("account_login"))
    assert AuditEvent.objects.filter(action="auth.logout_everywhere", actor_id=user.pk).exists()
    # A new login works again afterwards.
    user.refresh_from_db()  # the epoch moved on
    fresh = Client()
    fresh.force_login(user)
    assert fresh.get(reverse("home")).status_code == 200


def test_it_refuses_logout_everywhere_by_get(alice_client):
    assert alice_client.get(reverse("accounts:logout-everywhere")).status_code == 405
