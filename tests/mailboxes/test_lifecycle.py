"""The inactivity cycle driven across dates: notice at 10 months, opposition restarting the clock, deletion at
12 months (the deleted BAL's copies no longer decrypt, a co-recipient's still do), never without a notice."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from apps.accounts import outside_mail
from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.crypto import envelope
from apps.crypto import keys as crypto_keys
from apps.mailboxes import lifecycle
from apps.mailboxes.keys import MailboxKeyDestroyed, mailbox_key
from apps.mailboxes.models import LifecycleNotice, Mailbox, NoticeChannel, NoticeClosure
from apps.mailboxes.services import Address, do_create_organisational_mailbox
from apps.mailboxes.services_members import check_credential, do_create_credential
from apps.messaging.models import Folder, FolderRole, Message, MessageCopy, Origin

pytestmark = pytest.mark.django_db

D = dt.date


def at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(9, 30)))


def set_activity(mailbox: Mailbox, *users: User, day: dt.date) -> None:
    """Make `mailbox` (created before) and `users` last seen on `day`."""
    Mailbox.objects.filter(pk=mailbox.pk).update(created_at=at(day) - dt.timedelta(days=30))
    User.objects.filter(pk__in=[user.pk for user in users]).update(last_authenticated_at=at(day))


def deposit(message: Message, data_key: bytes, mailbox: Mailbox) -> MessageCopy:
    """A copy of `message` in `mailbox` with its own wrap of the data key (what messaging's deposit does)."""
    folder, _ = Folder.objects.get_or_create(
        mailbox=mailbox, role=FolderRole.INBOX, defaults={"name": "Réception"}
    )
    version, key = mailbox_key(mailbox.pk)
    wrap = crypto_keys.wrap_data_key(
        data_key, key, message_id=str(message.pk), mailbox_id=mailbox.pk, key_version=version
    )
    return MessageCopy.objects.create(mailbox=mailbox, message=message, folder=folder, data_key_wrap=wrap)


def sealed_message(subject: str) -> tuple[Message, bytes]:
    data_key = crypto_keys.new_data_key()
    message = Message(
        origin=Origin.WEBMAIL, message_id="<x@demo.mssante.fr>", sender_address="a@demo.mssante.fr"
    )
    aad = envelope.aad_for("message-subject", message=str(message.pk))
    message.subject_enc = envelope.seal(subject.encode(), data_key, aad=aad)
    message.snippet_enc = message.body_text_enc = b""
    message.sha256 = hashlib.sha256(os.urandom(8)).hexdigest()
    message.save()
    return message, data_key


def read_subject(copy_wrap: bytes, message: Message, mailbox_id: int) -> str:
    _version, key = mailbox_key(mailbox_id, create=False)
    data_key = crypto_keys.unwrap_data_key(copy_wrap, key, message_id=str(message.pk), mailbox_id=mailbox_id)
    aad = envelope.aad_for("message-subject", message=str(message.pk))
    return envelope.open_(bytes(message.subject_enc), data_key, aad=aad).decode()


def actions(steps: list[lifecycle.Step], mailbox: Mailbox) -> list[str]:
    return [step.action for step in steps if step.mailbox_id == mailbox.pk]


@pytest.fixture
def quiet(cardio_bal, lab_bal, dr_alice, sec_bob, alice_bal):
    """Alice's BAL last used on 2025-01-15 (Alice has a personal address); the cardiology BAL and the lab's
    software stay active (Bob and the software used them on 2026-03-01)."""
    lab, _secret = lab_bal
    User.objects.filter(pk=dr_alice.pk).update(outside_email="alice.perso@example.org")
    set_activity(alice_bal, dr_alice, day=D(2025, 1, 15))
    set_activity(cardio_bal, sec_bob, day=D(2026, 3, 1))
    set_activity(lab, day=D(2024, 12, 1))
    lab.credentials.update(last_used_at=at(D(2026, 3, 1)))
    lifecycle_clear()
    return alice_bal


def lifecycle_clear() -> None:
    mail.outbox.clear()


def test_it_does_nothing_before_ten_months(quiet):
    assert actions(lifecycle.run_lifecycle(D(2025, 11, 14)), quiet) == []
    assert not LifecycleNotice.objects.exists()
    assert mail.outbox == []


def test_it_warns_every_user_outside_the_trust_space_at_ten_months(quiet):
    steps = lifecycle.run_lifecycle(D(2025, 11, 15))
    assert [step.action for step in steps] == [lifecycle.NOTICE]
    notice = LifecycleNotice.objects.get(mailbox=quiet)
    assert (notice.channel, notice.sent_on, notice.deletion_due_on) == (
        NoticeChannel.USERS,
        D(2025, 11, 15),
        D(2026, 1, 15),
    )
    [email] = mail.outbox
    assert email.to == ["alice.perso@example.org"]
    assert "alice.martin@demo.mssante.fr" in email.subject and "15 janvier 2026" in email.body
    assert "/bal/opposition/" in email.body or "opposition" in email.body
    assert AuditEvent.objects.filter(action="mailbox.lifecycle_notice_sent", mailbox_id=quiet.pk).exists()
    # The next day the notice is not sent again.
    assert actions(lifecycle.run_lifecycle(D(2025, 11, 16)), quiet) == [lifecycle.WAIT]
    assert len(mail.outbox) == 1


def test_it_deletes_at_twelve_months_so_its_copies_never_decrypt_again(quiet, cardio_bal):
    message, data_key = sealed_message("Compte rendu de consultation")
    alice_copy = deposit(message, data_key, quiet)
    cardio_copy = deposit(message, data_key, cardio_bal)
    kept_wrap, alice_id = bytes(alice_copy.data_key_wrap), quiet.pk
    assert read_subject(kept_wrap, message, alice_id) == "Compte rendu de consultation"

    lifecycle.run_lifecycle(D(2025, 11, 15))
    assert actions(lifecycle.run_lifecycle(D(2026, 1, 14)), quiet) == [lifecycle.WAIT]
    [step] = lifecycle.run_lifecycle(D(2026, 1, 15))
    assert (step.action, step.outcome) == (lifecycle.DELETE, "supprimée")

    assert not Mailbox.objects.filter(pk=alice_id).exists()
    assert not MessageCopy.objects.filter(pk=alice_copy.pk).exists()
    with pytest.raises(MailboxKeyDestroyed):  # even a backup of the copy row can no longer be opened
        read_subject(kept_wrap, message, alice_id)
    assert (
        read_subject(bytes(cardio_copy.data_key_wrap), message, cardio_bal.pk)
        == "Compte rendu de consultation"
    )
    deleted = AuditEvent.objects.get(action="mailbox.lifecycle_deleted", mailbox_id=alice_id)
    assert deleted.details["notice_sent_on"] == "2025-11-15"
    assert deleted.mailbox_label == "alice.martin@demo.mssante.fr"
    assert AuditEvent.objects.filter(action="mailbox.deleted", mailbox_id=alice_id).exists()


def test_it_restarts_the_twelve_months_when_a_user_opposes(quiet, dr_alice):
    lifecycle.run_lifecycle(D(2025, 11, 15))
    notice = LifecycleNotice.objects.get(mailbox=quiet)
    lifecycle.do_oppose_notice(notice.pk, acting_user=dr_alice, today=D(2025, 12, 1))

    assert actions(lifecycle.run_lifecycle(D(2026, 1, 15)), quiet) == []
    assert Mailbox.objects.filter(pk=quiet.pk).exists()
    opposed = AuditEvent.objects.get(action="mailbox.lifecycle_opposed", mailbox_id=quiet.pk)
    assert opposed.actor_id == dr_alice.pk
    # Ten months after the opposition comes a new notice, and the deletion two months later.
    assert actions(lifecycle.run_lifecycle(D(2026, 9, 30)), quiet) == []
    assert actions(lifecycle.run_lifecycle(D(2026, 10, 1)), quiet) == [lifecycle.NOTICE]
    assert LifecycleNotice.objects.get(mailbox=quiet, closed_at__isnull=True).deletion_due_on == D(
        2026, 12, 1
    )
    assert actions(lifecycle.run_lifecycle(D(2026, 12, 1)), quiet) == [lifecycle.DELETE]
    assert not Mailbox.objects.filter(pk=quiet.pk).exists()


def test_it_closes_the_notice_when_a_user_logs_in_again(quiet, dr_alice):
    lifecycle.run_lifecycle(D(2025, 11, 15))
    User.objects.filter(pk=dr_alice.pk).update(last_authenticated_at=at(D(2025, 12, 2)))
    steps = lifecycle.run_lifecycle(D(2026, 1, 15))
    assert actions(steps, quiet) == [lifecycle.CLOSE]
    assert LifecycleNotice.objects.get(mailbox=quiet).closed_reason == NoticeClosure.ACTIVITY
    assert Mailbox.objects.filter(pk=quiet.pk).exists()


def test_it_never_deletes_without_a_notice_even_long_after_a_year(quiet):
    """A BAL first seen inactive at 13 months gets its notice, and two more months to react."""
    assert actions(lifecycle.run_lifecycle(D(2026, 2, 20)), quiet) == [lifecycle.NOTICE]
    assert LifecycleNotice.objects.get(mailbox=quiet).deletion_due_on == D(2026, 4, 20)
    assert actions(lifecycle.run_lifecycle(D(2026, 4, 19)), quiet) == [lifecycle.WAIT]
    assert actions(lifecycle.run_lifecycle(D(2026, 4, 20)), quiet) == [lifecycle.DELETE]


def test_it_keeps_a_bal_nobody_can_be_told_about(quiet, dr_alice):
    User.objects.filter(pk=dr_alice.pk).update(outside_email="")
    for day in (D(2025, 11, 15), D(2026, 6, 1), D(2028, 1, 1)):
        assert actions(lifecycle.run_lifecycle(day), quiet) == [
            lifecycle.NOTICE if day.year == 2025 else lifecycle.RESEND
        ]
    assert Mailbox.objects.filter(pk=quiet.pk).exists()
    assert LifecycleNotice.objects.get(mailbox=quiet).sent_on is None
    assert mail.outbox == []
    undeliverable = AuditEvent.objects.filter(
        action="mailbox.lifecycle_notice_undeliverable", mailbox_id=quiet.pk
    )
    assert undeliverable.count() == 1


def test_it_reports_to_the_administrators_when_no_user_has_an_outside_address(
    chu, dr_alice, sec_bob, struct_admin_sam, admin_olga
):
    mailbox = do_create_organisational_mailbox(
        address=Address("secretariat.pneumo", "demo.mssante.fr"),
        structure=chu,
        responsible=dr_alice,
        head_agreement_by="Directeur du CHU",
        acting_user=None,
    )
    set_activity(mailbox, dr_alice, day=D(2025, 1, 15))
    lifecycle_clear()
    assert actions(lifecycle.run_lifecycle(D(2025, 11, 15)), mailbox) == [lifecycle.NOTICE]
    notice = LifecycleNotice.objects.get(mailbox=mailbox)
    assert (notice.channel, notice.recipient_count) == (NoticeChannel.ADMINS, 2)
    assert sorted(email.to[0] for email in mail.outbox) == [admin_olga.email, struct_admin_sam.email]
    assert all("aucun de ses utilisateurs" in email.body for email in mail.outbox)


def test_it_counts_the_use_of_an_applicative_bals_credentials(lab_bal, dr_alice):
    lab, token = lab_bal
    set_activity(lab, dr_alice, day=D(2026, 11, 1))  # the responsible's logins do not keep it alive
    lab.credentials.update(last_used_at=None)
    Mailbox.objects.filter(pk=lab.pk).update(created_at=at(D(2024, 1, 1)))
    assert actions(lifecycle.plan_lifecycle(D(2025, 1, 1)), lab) == [lifecycle.NOTICE]
    assert check_credential(token) is not None  # the software connects: it counts as activity
    assert lab.credentials.get().last_used_at is not None
    assert actions(lifecycle.plan_lifecycle(timezone.localdate()), lab) == []
    credential, _other = do_create_credential(lab, name="Autre", acting_user=None)
    assert credential.last_used_at is None


def test_it_shows_and_applies_what_is_due_from_the_command(quiet, capsys):
    call_command("mailbox_lifecycle", "--today", "2025-11-15", "--dry-run")
    out = capsys.readouterr().out
    assert "simulation" in out and "alice.martin@demo.mssante.fr" in out and "Avis à envoyer" in out
    assert not LifecycleNotice.objects.exists() and mail.outbox == []
    call_command("mailbox_lifecycle", "--today", "2025-11-15")
    out = capsys.readouterr().out
    assert "avis envoyé à 1 utilisateur(s)" in out
    assert LifecycleNotice.objects.filter(mailbox=quiet).exists()


def test_it_refuses_a_malformed_date_in_the_command(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="AAAA-MM-JJ"):
        call_command("mailbox_lifecycle", "--today", "15/11/2025")


def test_it_keeps_the_notice_unsent_when_the_mail_relay_fails_and_sends_it_the_next_day(quiet, monkeypatch):
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("relay down")

    with monkeypatch.context() as patched:
        patched.setattr(outside_mail, "get_connection", refuse)  # the channel outside the trust space
        [step] = lifecycle.run_lifecycle(D(2025, 11, 15))
    assert step.outcome == "échec (voir les journaux)"
    assert LifecycleNotice.objects.get(mailbox=quiet).sent_on is None
    [step] = lifecycle.run_lifecycle(D(2025, 11, 16))
    assert (step.action, step.deletion_due_on) == (lifecycle.RESEND, D(2026, 1, 16))
    notice = LifecycleNotice.objects.get(mailbox=quiet)
    assert (notice.sent_on, notice.deletion_due_on) == (D(2025, 11, 16), D(2026, 1, 16))
    assert len(mail.outbox) == 1


def test_it_runs_from_the_beat_tasks(quiet):
    from apps.mailboxes.models import MonthlyIndicator
    from apps.mailboxes.tasks import run_mailbox_lifecycle, snapshot_monthly_indicators

    assert run_mailbox_lifecycle() >= 1  # today, Alice's BAL is long past its ten months
    assert LifecycleNotice.objects.filter(mailbox=quiet).exists()
    month = snapshot_monthly_indicators()
    assert MonthlyIndicator.objects.get(month=dt.date.fromisoformat(month)).lines.count() == 3


def test_it_gives_each_person_of_a_shared_bal_their_own_link(cardio_bal, dr_alice, sec_bob):
    User.objects.filter(pk=dr_alice.pk).update(outside_email="alice.perso@example.org")
    User.objects.filter(pk=sec_bob.pk).update(outside_email="bob.perso@example.org")
    set_activity(cardio_bal, dr_alice, sec_bob, day=D(2025, 1, 15))
    lifecycle_clear()
    assert actions(lifecycle.run_lifecycle(D(2025, 11, 15)), cardio_bal) == [lifecycle.NOTICE]
    by_address = {email.to[0]: email.body for email in mail.outbox}
    assert set(by_address) == {"alice.perso@example.org", "bob.perso@example.org"}
    links = {body.split("/bal/opposition/")[1].split()[0] for body in by_address.values()}
    assert len(links) == 2
    # Bob's login alone keeps the shared BAL.
    User.objects.filter(pk=sec_bob.pk).update(last_authenticated_at=at(D(2025, 12, 1)))
    assert actions(lifecycle.run_lifecycle(D(2026, 1, 15)), cardio_bal) == [lifecycle.CLOSE]


def test_it_leaves_patient_bals_to_the_rules_of_mon_espace_sante(patient_paul):
    from apps.mailboxes.services import do_create_patient_mailbox

    mailbox = do_create_patient_mailbox(
        owner=patient_paul, address="279035121518989@patient.mssante.fr", acting_user=None
    )
    set_activity(mailbox, patient_paul, day=D(2024, 1, 1))
    assert actions(lifecycle.run_lifecycle(D(2026, 1, 1)), mailbox) == []
