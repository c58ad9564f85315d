"""IMAP turned off by an administrator (issue 16): for a whole structure from the administration pages, or
for one BAL. LOGIN is refused to someone left with no BAL open to IMAP, a closed BAL does not exist
(NONEXISTENT), live sessions that lose it end within 5 s, and every change is journaled."""

from __future__ import annotations

import imaplib
import time

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.imap import utf7
from tests.imap.conftest import app_password


def _idle_in(connect, user, secret: str, folder: str):
    wire = connect.raw()
    assert wire.command("a", f"LOGIN {user.email} {secret}")[-1].startswith(b"a OK")
    assert wire.command("b", f'SELECT "{utf7.encode(folder)}"')[-1].startswith(b"b OK")
    wire.send(b"c IDLE\r\n")
    assert wire.line().startswith(b"+ ")
    return wire


def test_a_structure_admin_closes_the_structure_live_sessions_end_and_login_is_refused(
    connect, chu, cardio_bal, sec_bob, dr_alice, alice_bal, sam_client, struct_admin_sam
):
    bob_secret, alice_secret = app_password(sec_bob), app_password(dr_alice)
    shared = f"Partagés/{cardio_bal.address}"
    bob = _idle_in(connect, sec_bob, bob_secret, shared)
    alice_in_shared = _idle_in(connect, dr_alice, alice_secret, shared)
    alice_in_inbox = _idle_in(connect, dr_alice, alice_secret, "INBOX")

    page = sam_client.get(reverse("mailboxes:structure-imap"))
    assert page.status_code == 200 and "CHU DE DEMONSTRATION" in page.content.decode()
    started = time.monotonic()
    url = reverse("mailboxes:structure-imap")
    response = sam_client.post(url, {"structure": chu.pk, "imap_allowed": "0"})
    assert response.status_code == 302
    chu.refresh_from_db()
    assert chu.imap_allowed is False

    # Sessions that used the closed BALs get BYE within 5 s; Alice's INBOX session goes on.
    for wire in (bob, alice_in_shared):
        assert wire.line(timeout=6).startswith(b"* BYE [UNAVAILABLE]")
        assert wire.closed()
    assert time.monotonic() - started < 5
    alice_in_inbox.send(b"DONE\r\n")
    assert alice_in_inbox.line().startswith(b"c OK")
    listed = alice_in_inbox.command("d", 'LIST "" "*"')
    assert not any(cardio_bal.address.encode() in line for line in listed[:-1])
    answer = alice_in_inbox.command("e", f'SELECT "{utf7.encode(shared)}"')[-1]
    assert answer.startswith(b"e NO [NONEXISTENT]")
    alice_in_inbox.close()

    # Bob's only BAL is the CHU's: he may no longer log in; the refusal is journaled.
    client = connect.imaplib()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHORIZATIONFAILED"):
        client.login(sec_bob.email, bob_secret)
    assert AuditEvent.objects.filter(action="imap.login_refused", details__reason="imap_off").exists()
    event = AuditEvent.objects.get(action="mailbox.structure_imap_changed")
    assert event.actor_id == struct_admin_sam.pk
    assert event.details["changes"]["imap_allowed"] == {"old": True, "new": False}

    # Reopened: Bob logs in again and sees the BAL.
    sam_client.post(reverse("mailboxes:structure-imap"), {"structure": chu.pk, "imap_allowed": "1"})
    client = connect.imaplib()
    assert client.login(sec_bob.email, bob_secret)[0] == "OK"
    assert client.select(f'"{utf7.encode(shared)}"')[0] == "OK"
    client.logout()


def test_a_structure_admin_cannot_close_another_structure(sam_client, other_structure, chu):
    response = sam_client.post(
        reverse("mailboxes:structure-imap"), {"structure": other_structure.pk, "imap_allowed": "0"}
    )
    assert response.status_code == 404
    other_structure.refresh_from_db()
    assert other_structure.imap_allowed is True


def test_one_bal_turned_off_ends_the_sessions_that_selected_it(connect, cardio_bal, sec_bob, dr_alice):
    from apps.mailboxes.services import do_update_mailbox

    secret = app_password(sec_bob)
    wire = _idle_in(connect, sec_bob, secret, f"Partagés/{cardio_bal.address}")
    started = time.monotonic()
    do_update_mailbox(cardio_bal, acting_user=dr_alice, imap_allowed=False)
    assert wire.line(timeout=6).startswith(b"* BYE [UNAVAILABLE]")
    assert time.monotonic() - started < 5 and wire.closed()


def test_a_suspended_bal_ends_the_sessions_that_selected_it(
    connect, cardio_bal, sec_bob, dr_alice, alice_bal
):
    from apps.mailboxes.services import do_suspend_mailbox

    wire = _idle_in(connect, sec_bob, app_password(sec_bob), f"Partagés/{cardio_bal.address}")
    started = time.monotonic()
    do_suspend_mailbox(cardio_bal, reason="Départ du service", acting_user=None)
    assert wire.line(timeout=6).startswith(b"* BYE [UNAVAILABLE]")
    assert time.monotonic() - started < 5 and wire.closed()
    client = connect.imaplib()
    client.login(dr_alice.email, app_password(dr_alice, label="autre"))
    answer = client.select(f'"{utf7.encode(f"Partagés/{cardio_bal.address}")}"')
    assert answer[0] == "NO" and b"NONEXISTENT" in answer[1][0]
    client.logout()
