"""Inviting a person without an account into an organisational BAL (issue 14, item 7)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.mailboxes.invitations import hash_token
from apps.mailboxes.models import Invitation, MailboxMembership

pytestmark = pytest.mark.django_db
PASSWORD = "Un-mot-de-passe-solide-2026"


def _invite(client, mailbox, email="claire.noel@example.org"):  # noqa: ANN001, ANN202
    return client.post(
        reverse("mailboxes:invitations", args=[mailbox.pk]),
        {"first_name": "Claire", "last_name": "Noël", "email": email, "role": "send"},
    )


def _link(mail) -> str:  # noqa: ANN001
    found = re.search(r"https?://\S+/bal/invitation/(\S+)/", mail.body)
    assert found is not None, mail.body
    return found.group(1)


def test_an_admin_invites_and_the_person_joins_the_bal(
    admin_client_olga, cardio_bal, dr_alice, mailoutbox, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(admin_client_olga, cardio_bal).status_code == 302
    invitation = Invitation.objects.get()
    [mail] = mailoutbox
    assert mail.to == ["claire.noel@example.org"] and cardio_bal.address in mail.body
    assert "72 heures" in mail.body and "aucune donnée de santé" in mail.body
    token = _link(mail)
    assert invitation.token_hash == hash_token(token) and token not in invitation.token_hash
    assert invitation.expires_at - timezone.now() > timedelta(hours=71)

    page = client.get(reverse("mailboxes:invitation-accept", args=[token]))
    assert page.status_code == 200 and "Bienvenue Claire" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("mailboxes:invitation-accept", args=[token]),
            {"password1": PASSWORD, "password2": PASSWORD},
        )
    assert done["Location"] == reverse("landing")
    claire = User.objects.get(email="claire.noel@example.org")
    assert claire.check_password(PASSWORD) and claire.last_mailbox_id == cardio_bal.pk
    assert MailboxMembership.objects.filter(mailbox=cardio_bal, user=claire, role="send").exists()
    # Signed in, then held at the second factor before anything else.
    assert client.get(reverse("landing"))["Location"] == reverse("accounts:mfa-required")
    # Single use.
    assert Client().get(reverse("mailboxes:invitation-accept", args=[token])).status_code == 404
    # The responsible professional (Alice) is told of the new member, without health data.
    told = [m for m in mailoutbox if m.to == [dr_alice.email]]
    assert len(told) == 1 and "Claire Noël" in told[0].body
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"account.invitation_sent", "account.invitation_accepted", "mailbox.member_added"} <= actions


def test_revoke_and_resend_kill_the_previous_link(
    admin_client_olga, cardio_bal, mailoutbox, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(admin_client_olga, cardio_bal)
    first = _link(mailoutbox[0])
    invitation = Invitation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_olga.post(reverse("mailboxes:invitation-resend", args=[cardio_bal.pk, invitation.pk]))
    second = _link(mailoutbox[1])
    assert first != second
    assert client.get(reverse("mailboxes:invitation-accept", args=[first])).status_code == 404
    assert client.get(reverse("mailboxes:invitation-accept", args=[second])).status_code == 200
    admin_client_olga.post(reverse("mailboxes:invitation-revoke", args=[cardio_bal.pk, invitation.pk]))
    assert client.get(reverse("mailboxes:invitation-accept", args=[second])).status_code == 404
    assert (
        AuditEvent.objects.filter(
            action__in=["account.invitation_resent", "account.invitation_revoked"]
        ).count()
        == 2
    )


def test_an_expired_link_opens_nothing(
    admin_client_olga, cardio_bal, mailoutbox, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(admin_client_olga, cardio_bal)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("mailboxes:invitation-accept", args=[_link(mailoutbox[0])]))
    assert response.status_code == 404 and "plus valable" in response.content.decode()


def test_an_existing_account_is_added_not_invited(admin_client_olga, cardio_bal, charlie):
    response = _invite(admin_client_olga, cardio_bal, email=charlie.email)
    assert response.status_code == 200 and "Un compte utilise déjà cette adresse" in response.content.decode()
    assert not Invitation.objects.exists()


def test_only_who_manages_the_bal_may_invite(bob_client, cardio_bal):
    assert _invite(bob_client, cardio_bal).status_code == 404


def test_required_fields_are_marked(admin_client_olga, cardio_bal):
    html = admin_client_olga.get(reverse("mailboxes:invitations", args=[cardio_bal.pk])).content.decode()
    assert html.count('class="required-mark"') == 4
