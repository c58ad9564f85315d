"""The MFA gate: an un-enrolled professional reaches nothing but enrolment, whatever the URL.

The walk below generates one concrete path for *every* pattern of the URL conf, so URLs added later by
other apps are covered without touching this file.
"""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404

from apps.accounts.middleware import ENROLMENT_URL_NAMES
from apps.accounts.models import UserKind
from apps.accounts.selectors import STRONG_AUTH_PSC, STRONG_AUTH_SESSION_KEY
from tests.factories import UserFactory, enrol_totp

_ENROLMENT_PATHS = ("/compte/second-facteur/", "/comptes/login/")


def _sample(tokens: sre_parse.SubPattern) -> str:
    """A short string matched by a parsed regular expression (enough for URL patterns)."""
    out = []
    for op, arg in tokens:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op in (sre_constants.ANY, sre_constants.NOT_LITERAL):
            out.append("x")
        elif op is sre_constants.IN:
            out.append(_sample_in(arg))
        elif op is sre_constants.BRANCH:
            out.append(_sample(arg[1][0]))
        elif op is sre_constants.SUBPATTERN:
            out.append(_sample(arg[-1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, _high, item = arg
            out.append(_sample(item) * max(low, 1))
    return "".join(out)


def _sample_in(items: list) -> str:
    for op, arg in items:
        if op is sre_constants.LITERAL:
            return chr(arg)
        if op is sre_constants.RANGE:
            return chr(arg[0])
        if op is sre_constants.CATEGORY:
            return "1" if arg is sre_constants.CATEGORY_DIGIT else "x"
    return "x"


def _pattern_regex(pattern: object) -> str:
    # RoutePattern and RegexPattern both expose a compiled regex; a route's <converter:name> parts are
    # compiled into their converter's regex, so custom converters of other apps are covered too.
    return pattern.regex.pattern.lstrip("^").removesuffix(r"\Z").rstrip("$")  # type: ignore[attr-defined]


def _walk(patterns: list, prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        here = prefix + _pattern_regex(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, here)
        elif isinstance(entry, URLPattern):
            yield "/" + _sample(sre_parse.parse(here))


def all_paths() -> list[str]:
    return sorted(set(_walk(get_resolver().url_patterns)))


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def _gate_ok(response, view_name: str | None) -> bool:
    if view_name in ENROLMENT_URL_NAMES:
        return True
    if response.status_code in (403, 404, 405):
        return True
    return response.status_code == 302 and response["Location"].startswith(_ENROLMENT_PATHS)


@pytest.fixture
def unenrolled_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(kind=UserKind.PROFESSIONAL))
    return client


@pytest.mark.parametrize("path", all_paths())
def test_it_holds_an_unenrolled_professional_at_enrolment_on_every_url(unenrolled_client, path):
    view_name = _view_name(path)
    responses = [unenrolled_client.get(path), unenrolled_client.get(path, HTTP_ACCEPT="application/json")]
    if view_name != "account_logout":
        responses.append(unenrolled_client.post(path, {"x": "1"}))
    for response in responses:
        assert _gate_ok(response, view_name), (
            path,
            view_name,
            response.status_code,
            response.get("Location"),
        )
    # Still signed in: a redirect to the login page would otherwise pass for the wrong reason.
    assert unenrolled_client.get(reverse("accounts:mfa-required")).status_code == 200


def test_it_walks_the_whole_url_conf():
    paths = all_paths()
    names = {_view_name(path) for path in paths}
    assert {"home", "admin:index", "audit:event-list", "mfa_index", "accounts:recovery-codes"} <= names
    assert len(paths) > 50


def test_it_redirects_to_the_first_enrolment_step_without_a_factor(unenrolled_client):
    response = unenrolled_client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:mfa-required")


def test_it_answers_403_to_htmx_requests(unenrolled_client):
    response = unenrolled_client.get(reverse("home"), HTTP_HX_REQUEST="true")
    assert response.status_code == 403


def test_it_sends_a_user_with_a_factor_but_unsaved_codes_to_the_recovery_codes(db):
    user = UserFactory(kind=UserKind.STAFF, national_id="")
    enrol_totp(user)
    type(user).objects.filter(pk=user.pk).update(recovery_codes_saved_at=None)
    client = Client()
    client.force_login(user)
    for url in (reverse("home"), reverse("mfa_view_recovery_codes"), reverse("mfa_index")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("accounts:recovery-codes"), url


@pytest.mark.parametrize("kind", [UserKind.STAFF, UserKind.OPERATOR_ADMIN])
def test_it_holds_staff_and_admins_too(db, kind):
    client = Client()
    client.force_login(UserFactory(kind=kind, national_id=""))
    assert client.get(reverse("home"))["Location"] == reverse("accounts:mfa-required")


def test_it_holds_a_superuser_whatever_its_kind(db):
    client = Client()
    client.force_login(UserFactory(kind=UserKind.PATIENT, national_id="", is_superuser=True, is_staff=True))
    assert client.get(reverse("admin:index"))["Location"] == reverse("accounts:mfa-required")


def test_it_lets_a_patient_through_without_a_second_factor(db):
    """The professionals' enrolment gate never holds a patient: a patient's home is the portal, which asks
    for its own second factor (issue 14)."""
    client = Client()
    client.force_login(UserFactory(kind=UserKind.PATIENT, national_id=""))
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    assert all(url.startswith("/patient/") for url, _status in response.redirect_chain)


def test_it_lets_an_enrolled_professional_through(alice_client):
    assert alice_client.get(reverse("home")).status_code == 200


def test_it_honours_a_pro_sante_connect_session(unenrolled_client):
    session = unenrolled_client.session
    session[STRONG_AUTH_SESSION_KEY] = STRONG_AUTH_PSC
    session.save()
    assert unenrolled_client.get(reverse("home")).status_code == 200


def test_it_ignores_any_other_strong_auth_value(unenrolled_client):
    session = unenrolled_client.session
    session[STRONG_AUTH_SESSION_KEY] = "password"
    session.save()
    assert unenrolled_client.get(reverse("home")).status_code == 302
