"""The CSV export of the filtered journal (journal/export.csv)."""

import csv
import io

from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.audit.support import make_event

URL = reverse("audit:event-export")


def _rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_the_filtered_events_and_records_the_export(admin_client_olga, admin_olga, db):
    kept = make_event("message.read", actor_label="bob.leroy@demo.mssante.fr", mailbox_id=42, ip="192.0.2.5")
    make_event("message.read", actor_label="alice.martin@demo.mssante.fr")
    newest = make_event("message.sent", actor_label="bob.leroy@demo.mssante.fr", details={"recipients": 2})

    response = admin_client_olga.get(URL, {"actor": "bob"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="journal-')
    header, *rows = _rows(response)
    assert header[:3] == ["numéro", "date", "acteur"]
    assert [row[0] for row in rows] == [str(newest.id), str(kept.id)]
    assert rows[1][5] == "42" and rows[1][10] == "192.0.2.5"
    assert rows[0][12] == '{"recipients": 2}'
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_id == admin_olga.pk
    assert exported.details["filters"] == {"actor": "bob"}


def test_it_defuses_spreadsheet_formulas(admin_client_olga, db):
    make_event("auth.login_failed", outcome="failure", user_agent='=HYPERLINK("http://evil.test")')

    _header, row = _rows(admin_client_olga.get(URL, {"action": "auth.login_failed"}))

    assert row[11] == '\'=HYPERLINK("http://evil.test")'


def test_it_refuses_invalid_filters(admin_client_olga, db):
    response = admin_client_olga.get(URL, {"ip": "not-an-ip"})

    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.exported").exists()
