"""Login rate limiting: after N failures even the right password is refused, in French, and journalled."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from apps.audit.models import AuditEvent, Outcome
from tests.accounts.support import password_step
from tests.factories import UserFactory

LOCKED = "Trop de tentatives de connexion ont échoué pour ce compte"


def _per_key_limit() -> int:
    # e.g. "5/5m/key,20/5m/ip" -> 5
    rule = next(r for r in settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",") if r.endswith("/key"))
    return int(rule.split("/")[0])


@pytest.fixture
def locked_user(db):
    user = UserFactory()
    client = Client()
    for _ in range(_per_key_limit()):
        response = password_step(client, user.email, "mauvais-mot-de-passe")
        assert LOCKED not in response.content.decode()
    return user


def test_it_refuses_the_right_password_once_locked(locked_user):
    client = Client()
    response = password_step(client, locked_user.email)
    assert response.status_code == 200
    body = response.content.decode()
    assert LOCKED in body and "même avec le bon mot de passe" in body
    assert "_auth_user_id" not in client.session


def test_it_journals_the_lockout(locked_user):
    password_step(Client(), locked_user.email)
    event = AuditEvent.objects.get(action="auth.lockout")
    assert event.target_id == str(locked_user.pk) and event.outcome == Outcome.DENIED
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == _per_key_limit()


def test_it_does_not_lock_other_accounts(locked_user):
    other = UserFactory()
    response = password_step(Client(), other.email)
    assert response.status_code == 302


def test_it_does_not_count_successful_logins(db):
    user = UserFactory(kind="patient", national_id="")
    for _ in range(_per_key_limit() + 1):
        client = Client()
        assert password_step(client, user.email).status_code == 302


def _per_ip_limit() -> int:
    rule = next(r for r in settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",") if r.endswith("/ip"))
    return int(rule.split("/")[0])


def test_it_locks_an_address_that_tries_many_accounts(db):
    # Spread the failures over several accounts, each below its own limit: the per-IP limit still applies.
    per_key, per_ip = _per_key_limit(), _per_ip_limit()
    failures = 0
    while failures < per_ip:
        user = UserFactory()
        for _ in range(min(per_key - 1, per_ip - failures)):
            password_step(Client(), user.email, "mauvais-mot-de-passe")
            failures += 1
    fresh = UserFactory()
    response = password_step(Client(), fresh.email)
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
