"""access_mailbox: who may act in, write to or administer which BAL; everything else is a 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from apps.mailboxes.models import MailboxMembership, MemberRole
from apps.mailboxes.policies import access_mailbox, can_administer_structure, can_manage_mailbox
from apps.mailboxes.services import do_suspend_mailbox
from apps.mailboxes.services_members import do_change_member_role

pytestmark = pytest.mark.django_db


def _allowed(user, mailbox, **flags) -> bool:
    try:
        access_mailbox(user, mailbox.pk, **flags)
    except Http404:
        return False
    return True


def test_it_lets_the_owner_alone_act_in_a_nominative_bal(alice_bal, dr_alice, sec_bob, admin_olga):
    assert _allowed(dr_alice, alice_bal, for_write=True)
    assert not _allowed(sec_bob, alice_bal)
    assert not _allowed(admin_olga, alice_bal)  # operator admins administer, they do not read BALs
    assert _allowed(admin_olga, alice_bal, for_manage=True)
    assert not _allowed(dr_alice, alice_bal, for_manage=True)


def test_it_bounds_members_by_their_role(cardio_bal, sec_bob):
    assert _allowed(sec_bob, cardio_bal, for_write=True)
    do_change_member_role(MailboxMembership.objects.get(user=sec_bob), role=MemberRole.READ, acting_user=None)
    assert _allowed(sec_bob, cardio_bal)
    assert not _allowed(sec_bob, cardio_bal, for_write=True)
    assert not _allowed(sec_bob, cardio_bal, for_manage=True)


def test_it_lets_the_responsible_read_and_manage(cardio_bal, lab_bal, dr_alice):
    lab, _secret = lab_bal
    for mailbox in (cardio_bal, lab):
        assert _allowed(dr_alice, mailbox)
        assert not _allowed(dr_alice, mailbox, for_write=True)
        assert _allowed(dr_alice, mailbox, for_manage=True)


def test_it_closes_a_suspended_bal_to_its_users_but_not_to_its_admins(cardio_bal, sec_bob, struct_admin_sam):
    do_suspend_mailbox(cardio_bal, acting_user=None)
    assert not _allowed(sec_bob, cardio_bal)
    assert _allowed(struct_admin_sam, cardio_bal, for_manage=True)


def test_it_scopes_structure_admins_to_their_structures(
    cardio_bal, pharmacy_bal, struct_admin_sam, chu, pharmacy
):
    assert can_administer_structure(struct_admin_sam, chu)
    assert not can_administer_structure(struct_admin_sam, pharmacy)
    assert can_manage_mailbox(struct_admin_sam, cardio_bal)
    assert not can_manage_mailbox(struct_admin_sam, pharmacy_bal)
    assert not _allowed(struct_admin_sam, cardio_bal)  # administering is not reading


def test_it_refuses_anonymous_users_and_garbage_ids(cardio_bal):
    assert not _allowed(AnonymousUser(), cardio_bal)
    for garbage in ("abc", None, "1; drop table"):
        with pytest.raises(Http404):
            access_mailbox(AnonymousUser(), garbage)
