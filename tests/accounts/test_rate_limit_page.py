"""allauth's per-IP login limit answers with our French page, not its built-in English one."""

from allauth.core.internal.ratelimit import handler429
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory


def test_it_renders_the_french_429_page(db):
    request = RequestFactory().get("/comptes/login/")
    request.user = AnonymousUser()
    response = handler429(request)
    assert response.status_code == 429
    assert "Trop de tentatives" in response.content.decode()
    assert "Too Many Requests" not in response.content.decode()
