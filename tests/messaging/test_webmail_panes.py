"""The webmail's panes and live list: the reading pane as an htmx fragment, the 30 s poll (304 while
nothing changed, two queries at most), the list's short dates, quoted text and signatures folded."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.messaging.models import FolderRole, MessageCopy
from apps.messaging.templatetags.webmail import long_date, short_date
from apps.messaging.webmail import selectors
from apps.messaging.webmail.text_parts import split_text
from apps.messaging.webmail.views_poll import folder_poll
from tests.messaging.helpers import send
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_mailbox_keys")]
PARIS = timezone.get_fixed_timezone(60)


def _poll_url(mailbox) -> str:
    inbox = selectors.get_system_folder(mailbox, FolderRole.INBOX)
    return reverse("messaging:folder-poll", args=[mailbox.pk, inbox.pk])


def test_the_poll_answers_304_until_new_mail_arrives(bob_client, alice_bal, cardio_bal, dr_alice):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Premier", text="x")
    first = bob_client.get(_poll_url(cardio_bal))
    assert first.status_code == 200 and b"Premier" in first.content
    etag = first.headers["ETag"]
    unchanged = bob_client.get(_poll_url(cardio_bal), headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    inbox = selectors.get_system_folder(cardio_bal, FolderRole.INBOX)
    assert f"{inbox.pk}=1" in unchanged.headers["X-Unread-Counts"]
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Second", text="x")
    changed = bob_client.get(_poll_url(cardio_bal), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"Second" in changed.content and f"{inbox.pk}=2" in changed.headers["X-Unread-Counts"]


def test_the_poll_costs_two_queries_in_a_shared_bal(
    sec_bob, alice_bal, cardio_bal, dr_alice, django_assert_max_num_queries
):
    """The view's own queries (the session and the user are loaded by middleware on every request): the
    BAL with its folders' state, then the membership check of the access policy."""
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Premier", text="x")
    inbox = selectors.get_system_folder(cardio_bal, FolderRole.INBOX)
    factory = RequestFactory()
    request = factory.get(_poll_url(cardio_bal))
    request.user = sec_bob
    etag = folder_poll(request, cardio_bal.pk, inbox.pk).headers["ETag"]
    request = factory.get(_poll_url(cardio_bal), headers={"If-None-Match": etag})
    request.user = sec_bob
    with django_assert_max_num_queries(2):
        response = folder_poll(request, cardio_bal.pk, inbox.pk)
    assert response.status_code == 304


def test_the_poll_is_a_404_for_someone_outside_the_bal(charlie_client, cardio_bal):
    assert charlie_client.get(_poll_url(cardio_bal)).status_code == 404


def test_the_reading_pane_is_a_fragment_and_the_page_keeps_the_list(
    bob_client, alice_bal, cardio_bal, dr_alice
):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Holter de M. Bernard", text="Bonjour")
    copy = MessageCopy.objects.get(mailbox=cardio_bal)
    url = reverse("messaging:message-detail", args=[cardio_bal.pk, copy.pk])
    pane = bob_client.get(url, headers={"HX-Request": "true", "HX-Target": "wm-reader"}).content.decode()
    assert "<html" not in pane and 'id="wm-subject"' in pane and 'hx-swap-oob="true"' in pane
    assert "<title>" in pane  # htmx sets the tab's title from it
    page = bob_client.get(url).content.decode()
    assert 'id="wm-rows"' in page and 'data-view="message"' in page
    assert 'class="wm-row is-open"' in page  # the open message is marked in the list (and now read)
    restore = bob_client.get(
        url, headers={"HX-Request": "true", "HX-Target": "wm-reader", "HX-History-Restore-Request": "true"}
    ).content.decode()
    assert "<html" in restore  # back after a reload: the whole page
    full = bob_client.get(url, {"vue": "page"}).content.decode()
    assert 'data-view="page"' in full and 'id="wm-rows"' not in full


def test_the_move_picker_preselects_no_folder(bob_client, alice_bal, cardio_bal, dr_alice):
    send(alice_bal, dr_alice, [cardio_bal.address], subject="Objet", text="x")
    copy = MessageCopy.objects.get(mailbox=cardio_bal)
    page = bob_client.get(reverse("messaging:message-detail", args=[cardio_bal.pk, copy.pk])).content.decode()
    assert '<option value="" selected disabled>Choisir un dossier…</option>' in page


def test_bulk_actions_can_take_the_whole_folder(bob_client, alice_bal, cardio_bal, dr_alice):
    for number in range(3):
        send(alice_bal, dr_alice, [cardio_bal.address], subject=f"N{number}", text="x")
    inbox = selectors.get_system_folder(cardio_bal, FolderRole.INBOX)
    response = bob_client.post(
        reverse("messaging:copies-update", args=[cardio_bal.pk]),
        {"action": "read", "tout_le_dossier": str(inbox.pk)},
    )
    assert response.status_code == 302
    assert not MessageCopy.objects.filter(mailbox=cardio_bal, is_read=False).exists()


def test_short_dates_are_a_time_today_a_day_this_year_and_a_full_date_before():
    now = datetime(2026, 12, 6, 15, 0, tzinfo=PARIS)
    assert short_date(datetime(2026, 12, 6, 9, 5, tzinfo=PARIS), now) == "09:05"
    assert short_date(datetime(2026, 12, 5, 23, 0, tzinfo=PARIS), now) == "5 déc."
    assert short_date(datetime(2026, 2, 1, 8, 0, tzinfo=PARIS), now) == "1 févr."
    assert short_date(datetime(2025, 12, 31, 8, 0, tzinfo=PARIS), now) == "31/12/2025"
    assert long_date(datetime(2026, 12, 1, 15, 38, tzinfo=timezone.get_current_timezone())).startswith(
        "mardi 1er décembre 2026 à 15 h 38"
    )


def test_quotes_and_signatures_are_cut_out_of_the_text():
    text = (
        "Merci, je le vois demain.\n\nLe 5 déc. 2026, Alice Martin a écrit :\n"
        "> Pouvez-vous voir M. Bernard ?\n"
        ">\n> Bien à vous\n\nBonne journée\n-- \nDr Bob Leroy\nCardiologie"
    )
    assert split_text(text) == [
        ("text", "Merci, je le vois demain."),
        ("quote", "Le 5 déc. 2026, Alice Martin a écrit :\nPouvez-vous voir M. Bernard ?\n\nBien à vous"),
        ("text", "Bonne journée"),
        ("signature", "Dr Bob Leroy\nCardiologie"),
    ]
    assert split_text("Juste du texte") == [("text", "Juste du texte")]


def test_a_patient_reads_subjects_without_reply_chains_or_markers():
    from apps.messaging.templatetags.webmail import patient_subject

    assert patient_subject("Re: RE : Tr: Vos résultats [FIN]") == "Vos résultats"
    assert patient_subject("[FIN] Re: Suivi") == "Suivi"
    assert patient_subject("Rendez-vous : mardi") == "Rendez-vous : mardi"
