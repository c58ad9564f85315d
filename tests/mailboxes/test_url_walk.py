"""Every URL of the mailboxes app that names a BAL answers 404 to an outsider, whatever the method and the
BAL's kind; anonymous users are sent to the login page. The URLs are generated from the URL conf, so a
view added later is covered without touching this file."""

from __future__ import annotations

import pytest
from django.urls import URLResolver, get_resolver, reverse

from apps.mailboxes.invitations import do_invite
from apps.mailboxes.models import MailboxMembership, ValidationDelegate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _mailbox_patterns() -> list[tuple[str, list[str]]]:
    """(url name, its parameters) of every pattern of the `mailboxes` namespace."""
    resolver = next(
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "mailboxes"
    )
    return [(entry.name, list(entry.pattern.regex.groupindex)) for entry in resolver.url_patterns]


BAL_PATTERNS = [(name, params) for name, params in _mailbox_patterns() if "mailbox_id" in params]
OTHER_PATTERNS = [(name, params) for name, params in _mailbox_patterns() if "mailbox_id" not in params]


def test_it_finds_the_bal_urls():
    names = {name for name, _params in BAL_PATTERNS}
    assert {"mailbox-detail", "mailbox-open", "admin-detail", "member-remove", "credential-revoke"} <= names
    assert len(BAL_PATTERNS) >= 15


@pytest.fixture
def all_bals(alice_bal, cardio_bal, pharmacy_bal, lab_bal):
    lab, _secret = lab_bal
    membership = MailboxMembership.objects.get(mailbox=cardio_bal)
    credential = lab.credentials.get()
    # A validation delegate of the lab's BAL (a professional outside everything else).
    delegate = ValidationDelegate.objects.create(
        mailbox=lab, user=UserFactory(email="delegue@demo.mssante.fr", kind="professional")
    )
    invitation = do_invite(
        cardio_bal, email="invitee@example.org", first_name="I", last_name="N", role="send", acting_user=None
    )
    return [alice_bal, cardio_bal, pharmacy_bal, lab], membership, credential, delegate, invitation


def _urls(name: str, params: list[str], all_bals) -> list[str]:
    mailboxes, membership, credential, delegate, invitation = all_bals
    urls = []
    for mailbox in mailboxes:
        kwargs = {
            "mailbox_id": mailbox.pk,
            "membership_id": membership.pk,
            "credential_id": credential.pk,
            "delegate_id": delegate.pk,
            "invitation_id": invitation.pk,
        }
        urls.append(reverse(f"mailboxes:{name}", kwargs={key: kwargs[key] for key in params}))
    return urls


@pytest.mark.parametrize(("name", "params"), BAL_PATTERNS, ids=[name for name, _p in BAL_PATTERNS])
def test_it_answers_404_to_an_outsider_on_every_bal_url(charlie_client, all_bals, name, params):
    for url in _urls(name, params, all_bals):
        assert charlie_client.get(url).status_code == 404, url
        assert (
            charlie_client.post(url, {"role": "manage", "user": "charlie.petit@demo.mssante.fr"}).status_code
            == 404
        ), url
    assert MailboxMembership.objects.filter(user__email="charlie.petit@demo.mssante.fr").count() == 0


@pytest.mark.parametrize(("name", "params"), BAL_PATTERNS, ids=[name for name, _p in BAL_PATTERNS])
def test_it_answers_404_for_a_bal_that_does_not_exist(charlie_client, name, params):
    url = reverse(f"mailboxes:{name}", kwargs=dict.fromkeys(params, 999999))
    assert charlie_client.get(url).status_code == 404


@pytest.mark.parametrize(("name", "params"), BAL_PATTERNS, ids=[name for name, _p in BAL_PATTERNS])
def test_it_sends_anonymous_users_to_the_login_page(client, all_bals, name, params):
    for url in _urls(name, params, all_bals):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


@pytest.mark.parametrize(
    ("name", "params"),
    [p for p in OTHER_PATTERNS if p[0] != "mailbox-list"],
    ids=[n for n, _p in OTHER_PATTERNS if n != "mailbox-list"],
)
def test_it_hides_the_administration_from_an_outsider(charlie_client, name, params):
    url = reverse(f"mailboxes:{name}", kwargs=dict.fromkeys(params, "organisationnelle"))
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.post(url).status_code == 404


def test_it_lets_a_structure_admin_reach_only_their_structures_bals(
    sam_client, cardio_bal, pharmacy_bal, all_bals
):
    assert sam_client.get(reverse("mailboxes:admin-detail", args=[cardio_bal.pk])).status_code == 200
    for name, params in BAL_PATTERNS:
        if name.startswith(("admin-", "member-", "credential-")):
            for url in _urls(name, params, ([pharmacy_bal], *all_bals[1:])):
                assert sam_client.get(url).status_code == 404, url
