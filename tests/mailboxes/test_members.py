"""Members of organisational BALs, software credentials of applicative BALs."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.mailboxes.models import MemberRole
from apps.mailboxes.services_members import (
    check_credential,
    do_add_member,
    do_change_member_role,
    do_create_credential,
    do_remove_member,
    do_revoke_credential,
)

pytestmark = pytest.mark.django_db


def test_it_adds_changes_and_removes_a_member_with_old_and_new_roles(cardio_bal, charlie, admin_olga):
    membership = do_add_member(cardio_bal, user=charlie, role=MemberRole.READ, acting_user=admin_olga)
    do_change_member_role(membership, role=MemberRole.MANAGE, acting_user=admin_olga)
    do_remove_member(membership, acting_user=admin_olga)
    events = AuditEvent.objects.filter(mailbox_id=cardio_bal.pk, details__member=charlie.email).order_by("id")
    assert [(e.action, e.details["changes"]["role"]) for e in events] == [
        ("mailbox.member_added", {"old": None, "new": "read"}),
        ("mailbox.member_role_changed", {"old": "read", "new": "manage"}),
        ("mailbox.member_removed", {"old": "manage", "new": None}),
    ]
    assert all(e.actor_id == admin_olga.pk for e in events)


def test_it_refuses_a_second_membership(cardio_bal, sec_bob):
    with pytest.raises(ValidationError, match="déjà membre"):
        do_add_member(cardio_bal, user=sec_bob, role=MemberRole.READ, acting_user=None)


def test_it_refuses_members_in_a_nominative_bal(alice_bal, sec_bob):
    with pytest.raises(ValidationError, match="Seule une BAL organisationnelle a des membres"):
        do_add_member(alice_bal, user=sec_bob, role=MemberRole.SEND, acting_user=None)


def test_it_refuses_a_patient_member_and_an_unknown_role(cardio_bal, patient_paul, charlie):
    with pytest.raises(ValidationError, match="ne peut pas être membre"):
        do_add_member(cardio_bal, user=patient_paul, role=MemberRole.READ, acting_user=None)
    with pytest.raises(ValidationError, match="Rôle inconnu"):
        do_add_member(cardio_bal, user=charlie, role="owner", acting_user=None)


def test_it_gives_an_applicative_bal_a_credential_shown_once(lab_bal, admin_olga):
    mailbox, token = lab_bal
    credential = check_credential(token)
    assert credential is not None and credential.mailbox == mailbox
    assert token.split(".", 1)[1] not in credential.secret_hash
    assert check_credential(token + "x") is None
    second, second_token = do_create_credential(mailbox, name="LIMS", acting_user=admin_olga)
    do_revoke_credential(second, acting_user=admin_olga)
    assert check_credential(second_token) is None
    created = AuditEvent.objects.filter(action="mailbox.credential_created", mailbox_id=mailbox.pk)
    assert created.count() == 2
    assert all(second_token.split(".", 1)[1] not in str(e.details) for e in created)


def test_it_refuses_credentials_for_other_kinds(cardio_bal):
    with pytest.raises(ValidationError, match="Seule une BAL applicative"):
        do_create_credential(cardio_bal, name="x", acting_user=None)
