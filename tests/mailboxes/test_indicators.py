"""Monthly indicators: BALs by kind, messages sent and received, connections per BAL, CSV and chart page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.services import do_record_authentication
from apps.audit.services import record_event
from apps.mailboxes.indicators import chart_bars, do_snapshot_month, first_of_month, previous_month
from apps.mailboxes.models import MonthlyIndicator
from apps.messaging.models import MessageCopy, MessageKind
from tests.mailboxes.test_lifecycle import deposit, sealed_message

pytestmark = pytest.mark.django_db


def send(from_bal, to_bal, *, kind: str = MessageKind.NORMAL) -> None:  # noqa: ANN001
    message, data_key = sealed_message("Résultats")
    message.kind, message.from_mailbox = kind, from_bal
    message.save(update_fields=["kind", "from_mailbox"])
    if from_bal is not None:
        outgoing = deposit(message, data_key, from_bal)
        MessageCopy.objects.filter(pk=outgoing.pk).update(is_outgoing=True)
    deposit(message, data_key, to_bal)


@pytest.fixture
def month(alice_bal, cardio_bal, pharmacy_bal, lab_bal, dr_alice, sec_bob, charlie) -> dt.date:
    """This month: Alice writes to cardiology, the lab's software writes to Alice, a bounce reaches Alice;
    Alice logs in twice, Bob once (plus a login without second factor), Charlie (no BAL) once."""
    lab, _token = lab_bal
    send(alice_bal, cardio_bal)
    send(lab, alice_bal)
    send(None, alice_bal, kind=MessageKind.BOUNCE)
    for user in (dr_alice, dr_alice, sec_bob, charlie):
        do_record_authentication(user=user)
    do_record_authentication(user=sec_bob, complete=False)
    record_event("api.message_submitted", mailbox=lab, target=lab)
    return first_of_month(timezone.localdate())


def test_it_counts_bals_messages_and_connections_of_a_month(month, alice_bal, cardio_bal, lab_bal):
    snapshot = do_snapshot_month(month)
    counts = (snapshot.bals_nominative, snapshot.bals_organisational, snapshot.bals_applicative)
    assert counts == (1, 2, 1) and snapshot.bals_cabinet == 0
    assert (snapshot.messages_sent, snapshot.messages_received) == (2, 2)
    assert (snapshot.connections, snapshot.users_connected) == (5, 3)
    lines = {line.address: line for line in snapshot.lines.all()}
    alice = lines[alice_bal.address]
    assert (alice.kind, alice.connections, alice.users_connected) == ("PER", 2, 1)
    assert (alice.messages_sent, alice.messages_received) == (1, 1)
    cardio = lines[cardio_bal.address]
    assert (cardio.connections, cardio.users_connected, cardio.messages_received) == (3, 2, 1)
    lab = lines[lab_bal[0].address]
    assert (lab.kind, lab.connections, lab.messages_sent) == ("APP", 1, 1)


def test_it_replaces_a_month_when_computed_again(month):
    do_snapshot_month(month)
    do_snapshot_month(month)
    assert MonthlyIndicator.objects.filter(month=month).count() == 1
    assert MonthlyIndicator.objects.get(month=month).lines.count() == 4


def test_it_exports_the_month_per_bal_as_csv(month, admin_client_olga, alice_bal, cardio_bal):
    do_snapshot_month(month)
    response = admin_client_olga.get(reverse("mailboxes:indicators-csv", args=[f"{month:%Y-%m}"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="indicateurs-bal-{month:%Y-%m}.csv"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "mois,adresse,type,connexions,utilisateurs_connectes,messages_envoyes,messages_recus"
    assert f"{month:%Y-%m},alice.martin@demo.mssante.fr,PER,2,1,1,1" in lines
    assert f"{month:%Y-%m},secretariat.cardio@demo.mssante.fr,ORG,3,2,0,1" in lines
    assert f"{month:%Y-%m},noreply-biologie@demo.mssante.fr,APP,1,0,1,0" in lines
    assert f"{month:%Y-%m},pharmacie.centre@demo.mssante.fr,ORG,0,0,0,0" in lines
    assert len(lines) == 5


def test_it_exports_the_monthly_summary_as_csv(month, admin_client_olga):
    do_snapshot_month(month)
    response = admin_client_olga.get(reverse("mailboxes:indicators-summary-csv"))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("mois,bal_nominatives,bal_organisationnelles,bal_cabinets,bal_applicatives")
    # Olga's own login (the test client's) counts among the platform's connections: 5 + 1, 3 + 1 people.
    assert lines[1] == f"{month:%Y-%m},1,2,0,1,0,2,2,6,4"


def test_it_shows_a_chart_to_operator_admins_only(month, admin_client_olga, alice_client, sam_client):
    do_snapshot_month(month)
    page = admin_client_olga.get(reverse("mailboxes:indicators"))
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "<script" not in html.split("</header>")[-1]
    assert "2 messages envoyés" in html
    for client in (alice_client, sam_client):
        assert client.get(reverse("mailboxes:indicators")).status_code == 404
        assert client.get(reverse("mailboxes:indicators-csv", args=[f"{month:%Y-%m}"])).status_code == 404


def test_it_computes_a_month_on_request_and_refuses_a_bad_one(month, admin_client_olga):
    url = reverse("mailboxes:indicators-compute")
    assert admin_client_olga.post(url, {"month": f"{month:%Y-%m}"}).status_code == 302
    assert MonthlyIndicator.objects.filter(month=month).exists()
    response = admin_client_olga.post(url, {"month": "2026-13"}, follow=True)
    assert "Mois invalide" in response.content.decode()
    assert admin_client_olga.get(url).status_code == 405


def test_it_snapshots_the_previous_month_and_scales_the_chart(db):
    assert previous_month(dt.date(2026, 1, 15)) == dt.date(2025, 12, 1)
    empty = MonthlyIndicator(month=dt.date(2025, 12, 1), messages_sent=0, messages_received=0)
    full = MonthlyIndicator(month=dt.date(2026, 1, 1), messages_sent=50, messages_received=100)
    chart = chart_bars([full, empty])
    heights = [bar.height for bar in chart["bars"]]
    assert heights == [0, 0, 80, 160] and chart["top_value"] == 100
