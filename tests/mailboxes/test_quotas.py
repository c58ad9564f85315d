"""Quotas: the refusal when full, warnings at 80 % and 95 % once per crossing, the administrator's quota."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.mailboxes.models import Mailbox
from apps.mailboxes.quotas import (
    check_quota,
    do_add_usage,
    do_add_usage_many,
    do_set_mailbox_quota,
    get_quota_usage,
    level_for,
    quota_of,
)

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


@pytest.fixture
def small_bal(alice_bal, dr_alice) -> Mailbox:
    """Alice's BAL with a 100 Mo quota; Alice has a personal address for notices."""
    User.objects.filter(pk=dr_alice.pk).update(outside_email="alice.perso@example.org")
    Mailbox.objects.filter(pk=alice_bal.pk).update(quota_bytes=100 * MB)
    mail.outbox.clear()
    return alice_bal


def add(mailbox: Mailbox, megabytes: float, capture) -> Mailbox:  # noqa: ANN001
    with capture(execute=True):
        do_add_usage(mailbox.pk, int(megabytes * MB))
    return Mailbox.objects.get(pk=mailbox.pk)


def warnings(mailbox: Mailbox) -> list[int]:
    events = AuditEvent.objects.filter(action="mailbox.quota_warning", mailbox_id=mailbox.pk).order_by("id")
    return [event.details["level"] for event in events]


def test_it_refuses_a_message_that_would_overflow_the_quota_with_a_french_reason(
    small_bal, django_capture_on_commit_callbacks
):
    small_bal = add(small_bal, 99, django_capture_on_commit_callbacks)
    assert check_quota(small_bal, MB) is None
    refusal = check_quota(small_bal, MB + 1)
    assert refusal == (
        "La boîte aux lettres alice.martin@demo.mssante.fr est pleine : le message n'a pas pu y être déposé."
    )


def test_it_uses_the_platform_default_without_a_quota_of_its_own(alice_bal, settings):
    settings.MAILBOX_DEFAULT_QUOTA_BYTES = 3 * MB
    assert quota_of(alice_bal) == 3 * MB
    assert check_quota(alice_bal, 3 * MB + 1) is not None


def test_it_warns_once_per_crossing_of_80_and_95_percent(
    small_bal, eager_tasks, django_capture_on_commit_callbacks
):
    small_bal = add(small_bal, 79, django_capture_on_commit_callbacks)
    assert warnings(small_bal) == [] and mail.outbox == []
    small_bal = add(small_bal, 2, django_capture_on_commit_callbacks)  # 81 %
    add(small_bal, 5, django_capture_on_commit_callbacks)  # 86 %: same threshold, no new warning
    assert warnings(small_bal) == [80]
    [email] = mail.outbox
    assert email.to == ["alice.perso@example.org"]
    assert "80 %" in email.subject and "avis de non-remise" in email.body
    small_bal = add(small_bal, 10, django_capture_on_commit_callbacks)  # 96 %
    assert warnings(small_bal) == [80, 95] and small_bal.quota_warning_level == 95
    assert "presque pleine" in mail.outbox[-1].subject
    # Freeing space lowers the level; the next crossing warns again.
    small_bal = add(small_bal, -30, django_capture_on_commit_callbacks)  # 66 %
    assert small_bal.quota_warning_level == 0
    add(small_bal, 15, django_capture_on_commit_callbacks)  # 81 %
    assert warnings(small_bal) == [80, 95, 80]
    assert len(mail.outbox) == 3


def test_a_batch_adds_the_usage_of_several_bals_in_one_statement_and_warns_the_same(
    small_bal, cardio_bal, eager_tasks, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    before = Mailbox.objects.get(pk=cardio_bal.pk).used_bytes
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        do_add_usage_many({cardio_bal.pk: 3 * MB, small_bal.pk: 81 * MB, 0: 0})
    # One statement for both BALs, then the warning of the one that crossed 80 % (rare: its own queries).
    assert queries.captured_queries[0]["sql"].startswith("WITH wanted")
    assert Mailbox.objects.get(pk=cardio_bal.pk).used_bytes == before + 3 * MB
    small_bal.refresh_from_db()
    assert small_bal.used_bytes == 81 * MB and small_bal.quota_warning_level == 80
    assert warnings(small_bal) == [80] and len(mail.outbox) == 1


def test_it_warns_the_people_and_the_admins_of_a_shared_bal(
    cardio_bal, sec_bob, struct_admin_sam, eager_tasks, django_capture_on_commit_callbacks
):
    Mailbox.objects.filter(pk=cardio_bal.pk).update(quota_bytes=10 * MB)
    add(cardio_bal, 9, django_capture_on_commit_callbacks)
    recipients = sorted(email.to[0] for email in mail.outbox)
    assert recipients == sorted(["alice.martin@demo.mssante.fr", sec_bob.email, struct_admin_sam.email])


def test_it_lets_an_administrator_set_a_quota_and_journals_it(
    small_bal, admin_olga, eager_tasks, django_capture_on_commit_callbacks
):
    small_bal = add(small_bal, 50, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        small_bal = do_set_mailbox_quota(small_bal, quota_bytes=60 * MB, acting_user=admin_olga)
    assert small_bal.quota_bytes == 60 * MB
    event = AuditEvent.objects.get(action="mailbox.quota_changed", mailbox_id=small_bal.pk)
    assert event.actor_id == admin_olga.pk
    assert event.details["changes"]["quota_bytes"] == {"old": 100 * MB, "new": 60 * MB}
    assert warnings(small_bal) == [80]  # 50 of 60 Mo: the lower quota crosses 80 % at once
    small_bal = do_set_mailbox_quota(small_bal, quota_bytes=None, acting_user=admin_olga)
    assert small_bal.quota_bytes is None and small_bal.quota_warning_level == 0


def test_it_refuses_a_quota_change_from_someone_else(small_bal, dr_alice):
    with pytest.raises(ValidationError, match="Vous ne pouvez pas modifier"):
        do_set_mailbox_quota(small_bal, quota_bytes=MB, acting_user=dr_alice)
    with pytest.raises(ValidationError, match="positif"):
        do_set_mailbox_quota(small_bal, quota_bytes=0, acting_user=None)


def test_it_computes_levels_and_usage(small_bal):
    assert [level_for(used, 100) for used in (0, 79, 80, 94, 95, 100)] == [0, 0, 80, 80, 95, 95]
    Mailbox.objects.filter(pk=small_bal.pk).update(used_bytes=100 * MB)
    usage = get_quota_usage(Mailbox.objects.get(pk=small_bal.pk))
    assert (usage.percent, usage.level, usage.free_bytes, usage.is_default) == (100, "full", 0, False)


def test_it_shows_the_usage_on_the_bal_page(small_bal, alice_client):
    Mailbox.objects.filter(pk=small_bal.pk).update(used_bytes=96 * MB)
    page = alice_client.get(reverse("mailboxes:mailbox-detail", args=[small_bal.pk])).content.decode()
    assert "Espace utilisé" in page and "96,0 Mio" in page.replace("\xa0", " ") and "presque pleine" in page


def test_it_lets_operator_and_structure_admins_edit_the_quota_and_shows_it_to_managers(
    cardio_bal, admin_client_olga, sam_client, alice_client
):
    url = reverse("mailboxes:quota-edit", args=[cardio_bal.pk])
    response = admin_client_olga.post(url, {"quota_mib": "250"})
    assert response.status_code == 302
    assert Mailbox.objects.get(pk=cardio_bal.pk).quota_bytes == 250 * MB
    assert sam_client.post(url, {"quota_mib": ""}).status_code == 302
    assert Mailbox.objects.get(pk=cardio_bal.pk).quota_bytes is None
    # Alice, responsible of the BAL, sees its usage but cannot change the quota.
    page = alice_client.post(url, {"quota_mib": "99999"})
    assert page.status_code == 200 and "Seuls les administrateurs" in page.content.decode()
    assert Mailbox.objects.get(pk=cardio_bal.pk).quota_bytes is None


def test_it_explains_a_bad_quota_in_french(cardio_bal, admin_client_olga):
    response = admin_client_olga.post(
        reverse("mailboxes:quota-edit", args=[cardio_bal.pk]), {"quota_mib": "0"}
    )
    assert response.status_code == 200
    assert "Le quota doit être d&#x27;au moins 1 Mio." in response.content.decode()


def test_it_makes_messaging_refuse_a_full_bal_with_a_permanent_552(small_bal):
    from apps.messaging.policies import check_local_mailbox, resolve_recipient

    Mailbox.objects.filter(pk=small_bal.pk).update(used_bytes=100 * MB - 10)
    assert check_local_mailbox(resolve_recipient(small_bal.address), 10) is None
    refusal = check_local_mailbox(resolve_recipient(small_bal.address), 11)
    assert refusal is not None and refusal.permanent  # a bounce to the sender, not a retry
    assert (refusal.code, refusal.smtp_code, refusal.smtp_enhanced) == ("quota_full", 552, "5.2.2")
    assert "est pleine" in refusal.message
