"""DSN (RFC 3464) and MDN (RFC 8098): built here and parsed back, and real-world reports parsed."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.gateway import reports
from apps.gateway.reports import Disposition, Outcome, RecipientStatus

from .mutations import mutate, mutations

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eml"
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def original(**extra: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Dr Alice Martin <alice.martin@op-a.mssante.fr>"
    msg["To"] = "secretariat.cardio@op-b.mssante.fr"
    msg["Subject"] = "Compte rendu échographie"
    msg["Message-ID"] = "<cr-123@op-a.mssante.fr>"
    msg["Date"] = "Thu, 19 Nov 2026 17:00:00 +0100"
    for name, value in extra.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Bonjour,\nle compte rendu est joint.\n")
    return msg


def wire(message: EmailMessage) -> EmailMessage:
    """What the other side receives: the message serialised and parsed again."""
    return email.message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)  # type: ignore[return-value]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def failed(address: str = "secretariat.cardio@op-b.mssante.fr", **kwargs) -> RecipientStatus:
    kwargs.setdefault("status", "5.1.1")
    kwargs.setdefault("diagnostic", "550 5.1.1 <secretariat.cardio@op-b.mssante.fr>: Recipient unknown")
    return RecipientStatus(address, **kwargs)


def dsn(*recipients: RecipientStatus, **kwargs) -> EmailMessage:
    return reports.build_dsn(
        kwargs.pop("source", original()),
        recipients or (failed(),),
        to="alice.martin@op-a.mssante.fr",
        reporting_mta="mx.op-a.mssante.fr",
        postmaster="MAILER-DAEMON@op-a.mssante.fr",
        now=NOW,
        **kwargs,
    )


# -------------------------------------------------------------------------------------------------- DSN


def test_it_builds_a_dsn_that_parses_back():
    report = reports.parse_report(wire(dsn(envelope_id="dlv-42", arrival_date=NOW)))

    assert report is not None and report.kind == "dsn" and report.standard
    assert report.original_message_id == "<cr-123@op-a.mssante.fr>"
    assert report.original_envelope_id == "dlv-42"
    assert report.reporting_agent == "mx.op-a.mssante.fr"
    assert report.original_subject == "Compte rendu échographie"
    (entry,) = report.entries
    assert entry.final_recipient == "secretariat.cardio@op-b.mssante.fr"
    assert (entry.action, entry.status, entry.outcome) == ("failed", "5.1.1", Outcome.FAILED)
    assert entry.diagnostic == "550 5.1.1 <secretariat.cardio@op-b.mssante.fr>: Recipient unknown"
    assert entry.reason.startswith("L'adresse du destinataire n'existe pas")


def test_it_gives_the_dsn_a_french_text_and_the_rfc_3464_structure():
    message = wire(dsn())

    assert message["Subject"] == "Message non distribué : Compte rendu échographie"
    assert message["To"] == "alice.martin@op-a.mssante.fr"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["In-Reply-To"] == "<cr-123@op-a.mssante.fr>"
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    text, status, headers = message.iter_parts()
    assert "« Compte rendu échographie » envoyé le 19/11/2026 à 17:00" in text.get_content()
    assert "n'a pas pu être remis" in text.get_content()
    assert "Vérifiez l'adresse dans l'annuaire" in text.get_content()
    assert status.get_content_type() == "message/delivery-status"
    assert headers.get_content_type() == "text/rfc822-headers"


def test_it_keeps_the_delivery_status_part_seven_bit():
    raw = dsn(failed(diagnostic="550 boîte inconnue")).as_bytes(policy=policy.SMTP)

    status_part = raw.split(b"message/delivery-status", 1)[1].split(b"text/rfc822-headers", 1)[0]

    assert status_part.isascii()
    assert b"Diagnostic-Code: smtp; 550 bo?te inconnue" in status_part


def test_it_returns_the_whole_original_on_request():
    message = wire(dsn(return_content=True))

    returned = list(message.iter_parts())[2]

    assert returned.get_content_type() == "message/rfc822"
    assert "le compte rendu est joint" in returned.get_content().get_body().get_content()
    assert reports.parse_report(message).original_message_id == "<cr-123@op-a.mssante.fr>"  # type: ignore[union-attr]


def test_it_builds_a_dsn_from_raw_bytes():
    raw = original().as_bytes(policy=policy.SMTP)

    report = reports.parse_report(wire(dsn(source=raw)))

    assert report is not None and report.original_message_id == "<cr-123@op-a.mssante.fr>"


def test_it_announces_a_delay_as_such():
    later = NOW + dt.timedelta(days=5)
    message = wire(dsn(failed(status="4.4.1", action="delayed", diagnostic=None, will_retry_until=later)))

    (entry,) = reports.parse_report(message).entries  # type: ignore[union-attr]

    assert message["Subject"].startswith("Remise retardée : ")
    assert entry.outcome == Outcome.DELAYED
    assert entry.reason.endswith("de nouveaux essais sont faits automatiquement.")


def test_it_reports_several_recipients_in_one_dsn():
    message = wire(
        dsn(
            failed(),
            RecipientStatus("cardio@op-b.mssante.fr", status="2.0.0", action="delivered", remote_mta="x"),
        )
    )

    entries = reports.parse_report(message).entries  # type: ignore[union-attr]

    assert [(e.final_recipient, e.outcome) for e in entries] == [
        ("secretariat.cardio@op-b.mssante.fr", Outcome.FAILED),
        ("cardio@op-b.mssante.fr", Outcome.DELIVERED),
    ]


def test_it_refuses_a_dsn_about_nobody():
    with pytest.raises(ValueError):
        reports.build_dsn(original(), [], to="a@b", reporting_mta="mx", postmaster="m@b")


# -------------------------------------------------------------------------------------------------- MDN


def test_it_builds_a_read_receipt_that_parses_back():
    source = original(Disposition_Notification_To="alice.martin@op-a.mssante.fr")

    mdn = wire(
        reports.build_mdn(
            source, final_recipient="secretariat.cardio@op-b.mssante.fr", reporting_ua="webmail.op-b", now=NOW
        )
    )
    report = reports.parse_report(mdn)

    assert mdn["To"] == "alice.martin@op-a.mssante.fr"
    assert mdn["Subject"] == "Lu : Compte rendu échographie"
    assert mdn.get_param("report-type") == "disposition-notification"
    assert (
        "a été affiché par secretariat.cardio@op-b.mssante.fr le 20/11/2026"
        in next(mdn.iter_parts()).get_content()
    )
    assert report is not None and report.kind == "mdn"
    assert report.original_message_id == "<cr-123@op-a.mssante.fr>"
    assert report.reporting_agent == "webmail.op-b"
    (entry,) = report.entries
    assert entry.final_recipient == "secretariat.cardio@op-b.mssante.fr"
    assert entry.disposition == Disposition("displayed")
    assert (entry.outcome, entry.reason) == (Outcome.DISPLAYED, "Message lu par le destinataire.")


def test_it_builds_the_integration_error_mdn_of_the_cda_guide():
    subject = "XDM/1.0/DDM+ECHOGRAPHIE CORSE FIGATELLIX 12/10/1988"
    source = original(
        Disposition_Notification_To="servicey@chb.mssante.fr", Original_Recipient="rfc822;auto@chb.fr"
    )
    source.replace_header("Subject", subject)
    error = "902^Identifiant de patient inconnu^applicationErrorCondition"

    mdn = wire(
        reports.build_mdn(
            source,
            final_recipient="auto@chb.fr",
            reporting_ua="pfi.chb.fr",
            disposition=reports.PROCESSING_ERROR,
            error=error,
            return_content=True,
        )
    )

    assert mdn["Subject"] == f"[KO Intégration système !][902] {subject}"
    text, fields, returned = mdn.iter_parts()
    assert "pour la raison suivante : Identifiant de patient inconnu" in text.get_content()
    assert returned.get_content_type() == "message/rfc822"
    (entry,) = reports.parse_report(mdn).entries  # type: ignore[union-attr]
    assert entry.disposition == Disposition("processed", automatic=True, modifier="error")
    assert (entry.diagnostic, entry.outcome) == (error, Outcome.PROCESSING_ERROR)
    assert entry.original_recipient == "auto@chb.fr"


def test_it_keeps_the_xdm_subject_on_a_successful_integration_mdn():
    source = original(Disposition_Notification_To="s@chb.fr")
    source.replace_header("Subject", "XDM/1.0/DDM+CR X Y 01/01/2000")

    mdn = reports.build_mdn(
        source, final_recipient="a@chb.fr", reporting_ua="pfi", disposition=reports.PROCESSED
    )

    assert mdn["Subject"] == "XDM/1.0/DDM+CR X Y 01/01/2000"


def test_it_refuses_an_mdn_nobody_asked_for():
    with pytest.raises(ValueError):
        reports.build_mdn(original(), final_recipient="a@b", reporting_ua="ua")


@pytest.mark.parametrize(
    ("headers", "envelope_sender", "expected"),
    [
        ({}, None, None),
        (
            {"Disposition_Notification_To": "alice@a.fr", "Return_Path": "<alice@a.fr>"},
            None,
            ("alice@a.fr", False),
        ),
        ({"Disposition_Notification_To": "Alice <ALICE@a.fr>"}, "alice@a.fr", ("ALICE@a.fr", False)),
        (
            {"Disposition_Notification_To": "other@a.fr", "Return_Path": "<alice@a.fr>"},
            None,
            ("other@a.fr", True),
        ),
        ({"Disposition_Notification_To": "alice@a.fr"}, None, ("alice@a.fr", True)),
        ({"Disposition_Notification_To": "alice@a.fr, bob@a.fr"}, "alice@a.fr", ("alice@a.fr", True)),
    ],
    ids=["not-asked", "same-as-return-path", "same-as-envelope", "differs", "no-return-path", "several"],
)
def test_it_decides_whether_an_mdn_may_go_without_asking(headers, envelope_sender, expected):
    request = reports.mdn_request(original(**headers), envelope_sender)

    assert (request and (request.address, request.needs_confirmation)) == expected


def test_it_never_answers_a_report_with_an_mdn():
    report = dsn()
    report["Disposition-Notification-To"] = "loop@a.fr"

    assert reports.mdn_request(report) is None


def test_it_requests_a_read_receipt():
    message = original()

    reports.request_mdn(message, "alice.martin@op-a.mssante.fr")
    reports.request_mdn(message, "alice.martin@op-a.mssante.fr")

    assert message.get_all("Disposition-Notification-To") == ["alice.martin@op-a.mssante.fr"]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("manual-action/MDN-sent-manually; displayed", Disposition("displayed")),
        ("automatic-action/MDN-sent-automatically; deleted", Disposition("deleted", automatic=True)),
        ("automatic-action/MDN-sent-automatically; processed/error", reports.PROCESSING_ERROR),
        ("automatic-action/MDN-sent-automatically; processed/Error: 902^x", reports.PROCESSING_ERROR),
        ("Manual-Action/MDN-Sent-Manually;   Displayed", Disposition("displayed")),
    ],
)
def test_it_parses_dispositions(value, parsed):
    assert Disposition.parse(value) == parsed


def test_it_writes_dispositions_as_rfc_8098():
    assert str(reports.DISPLAYED) == "manual-action/MDN-sent-manually; displayed"
    assert str(reports.PROCESSING_ERROR) == "automatic-action/MDN-sent-automatically; processed/error"


# ------------------------------------------------------------------------------------------ status codes


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.1.1", "L'adresse du destinataire n'existe pas chez son opérateur (boîte aux lettres inconnue)."),
        ("5.2.2", "La boîte aux lettres du destinataire est pleine."),
        ("5.2.1", "La boîte aux lettres du destinataire est fermée ou suspendue."),
        ("5.3.4", "Le message est trop volumineux pour le système de messagerie du destinataire."),
        (
            "5.7.1",
            "L'opérateur du destinataire a refusé le message : l'expéditeur n'est pas autorisé à écrire à "
            "ce destinataire.",
        ),
        (
            "4.2.2",
            "La boîte aux lettres du destinataire est pleine. Échec temporaire : de nouveaux essais sont "
            "faits automatiquement.",
        ),
        (
            "5.7.99",
            "L'opérateur du destinataire a refusé le message pour une raison de sécurité ou de politique.",
        ),
        ("5.9.1", "Le message n'a pas pu être remis."),
        (
            "smtp; 550 5.1.1 <x@y>: unknown",
            "L'adresse du destinataire n'existe pas chez son opérateur (boîte aux lettres inconnue).",
        ),
        ("2.0.0", "Le message a été remis."),
        (None, "Le message n'a pas pu être remis (cause non précisée par le serveur distant)."),
        ("550 unknown", "Le message n'a pas pu être remis (cause non précisée par le serveur distant)."),
    ],
)
def test_it_explains_status_codes_in_french(status, reason):
    assert reports.describe_status(status) == reason


@settings(derandomize=True, deadline=None, max_examples=300)
@given(klass=st.sampled_from("45"), subject=st.integers(0, 999), detail=st.integers(0, 999))
def test_it_explains_every_failure_code(klass, subject, detail):
    reason = reports.describe_status(f"{klass}.{subject}.{detail}")

    assert reason.endswith(".") and "cause non précisée" not in reason
    assert ("nouveaux essais" in reason) == (klass == "4")


# ------------------------------------------------------------------------------- real-world reports


def test_it_parses_a_postfix_unknown_user_bounce():
    report = reports.parse_report(fixture("dsn_postfix_unknown_user.eml"))

    assert report is not None and report.standard
    assert report.original_message_id == "<20261110081401.5f3a@op-a.mssante.fr>"
    assert report.original_subject == "Lettre de liaison – M. Durand"
    assert report.reporting_agent == "mx1.hopital-voisin.mssante.fr"
    (entry,) = report.entries
    assert entry.final_recipient == entry.original_recipient == "dr.inconnu@hopital-voisin.mssante.fr"
    assert (entry.status, entry.outcome, entry.remote_mta) == ("5.1.1", Outcome.FAILED, "127.0.0.1")
    assert entry.diagnostic is not None and entry.diagnostic.endswith("User unknown in virtual mailbox table")


def test_it_parses_a_postfix_delay_warning_with_our_envelope_id():
    report = reports.parse_report(fixture("dsn_postfix_delayed.eml"))

    assert report is not None
    assert report.original_envelope_id == "dlv-5b0c3e7e-41a9-4c55-9d0e-0f3a2f1b7c11"
    (entry,) = report.entries
    assert (entry.final_recipient, entry.status, entry.outcome) == (
        "cardio@clinique-sud.mssante.fr",
        "4.4.1",
        Outcome.DELAYED,
    )
    assert entry.diagnostic == "connect to mx.clinique-sud.mssante.fr[198.51.100.7]:25: Connection timed out"


def test_it_parses_an_exchange_mailbox_full_report():
    report = reports.parse_report(fixture("dsn_exchange_mailbox_full.eml"))

    assert report is not None
    assert report.original_message_id == "<20261111104125.9c1d@op-a.mssante.fr>"
    assert report.reporting_agent == "EXCH01.chu-exemple.local"
    (entry,) = report.entries
    assert (entry.final_recipient, entry.status) == ("secretariat.labo@chu-exemple.mssante.fr", "5.2.2")
    assert entry.reason == "La boîte aux lettres du destinataire est pleine."
    assert "QuotaExceededException" in (entry.diagnostic or "")


def test_it_parses_a_report_on_several_recipients():
    report = reports.parse_report(fixture("dsn_multi_recipient.eml"))

    assert report is not None and report.original_envelope_id == "dlv-0f1e2d3c-multi"
    assert [(e.final_recipient, e.outcome, e.status) for e in report.entries] == [
        ("pharmacie@ght-nord.mssante.fr", Outcome.DELIVERED, "2.0.0"),
        ("urgences@ght-nord.mssante.fr", Outcome.FAILED, "5.7.1"),
    ]


def test_it_reads_a_plain_text_qmail_bounce_as_best_effort():
    report = reports.parse_report(fixture("dsn_qmail_failure_notice.eml"))

    assert report is not None and not report.standard
    assert report.original_message_id == "<20261112075508.11aa@op-a.mssante.fr>"
    assert [(e.final_recipient, e.status) for e in report.entries] == [
        ("dr.parti@cabinet-ancien.mssante.fr", "5.1.1")
    ]


def test_it_parses_a_thunderbird_read_receipt():
    report = reports.parse_report(fixture("mdn_thunderbird_displayed.eml"))

    assert report is not None and report.kind == "mdn"
    assert report.original_message_id == "<20261110080244.77aa@op-a.mssante.fr>"
    (entry,) = report.entries
    assert (entry.final_recipient, entry.outcome) == (
        "bruno.cardio@clinique-sud.mssante.fr",
        Outcome.DISPLAYED,
    )


def test_it_parses_the_legacy_cda_error_mdn():
    report = reports.parse_report(fixture("mdn_cda_processed_error_legacy.eml"))

    assert report is not None and report.original_message_id == "<20240219230100.23456@chb.mssante.fr>"
    (entry,) = report.entries
    assert entry.outcome == Outcome.PROCESSING_ERROR
    assert (entry.diagnostic or "").startswith("902^Identifiant de patient inconnu")


def test_it_ignores_ordinary_mail():
    from_daemon = original()
    from_daemon.replace_header("From", "MAILER-DAEMON@x.fr")

    assert reports.parse_report(original()) is None
    assert reports.parse_report(from_daemon) is None  # a daemon's mail that is no bounce


# -------------------------------------------------------------------------------------- hostile input


@settings(derandomize=True, deadline=None, max_examples=400)
@given(name=st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.eml"))), edits=mutations)
def test_it_never_crashes_on_damaged_reports(name, edits):
    report = reports.parse_report(mutate(fixture(name), edits))

    assert report is None or isinstance(report, reports.Report)


@pytest.mark.parametrize("sender", [b"Mail Delivery System <", b"Mail Deli: multipart[report; x=del"])
def test_it_ignores_mail_whose_sender_breaks_the_structured_email_parser(sender):
    # Both From values made policy.default raise (IndexError, AttributeError) in an earlier version.
    raw = b"From: " + sender + b"\nSubject: Delivery Status Notification\n\n<x@y.fr>: 550 5.1.1\n"

    assert reports.parse_report(raw) is None


def test_it_reads_a_plain_bounce_in_an_unknown_charset():
    raw = fixture("dsn_qmail_failure_notice.eml").replace(
        b"Subject: failure notice\n", b"Subject: failure notice\nContent-Type: text/plain; charset=usi\n"
    )

    report = reports.parse_report(raw)

    assert report is not None and [e.final_recipient for e in report.entries] == [
        "dr.parti@cabinet-ancien.mssante.fr"
    ]
