"""Demo data of `make run` (seed_demo calls `seed` after the BALs and messages): Paul's MSS-C space.

- Paul's profile, activated, at `279035121518989@patient.mssante.fr` (the INS example of docs/mssante.md §6),
  with his personal address for notices;
- a letter from Dr Alice Martin with a PDF (he can save it to his documents and reply);
- a letter from Alice to the cardiology secretariat tagged with Paul's INS ("Patient concerné"), which his
  transparency page lists without its content;
- the pharmacy of the demo is an officine BAL (apps/mailboxes/demo.py): Paul finds it under « Pharmacie ».
Idempotent: a profile or a mailbox that already holds mail is left as is.
"""

from __future__ import annotations

from typing import Any, TextIO

from apps.accounts.models import User, UserKind
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.submit import Outgoing, do_submit_message
from apps.messaging.models import Delivery, DeliveryState, MessageCopy
from apps.messaging.store.mime import PartSource
from apps.patients.models import PatientProfile
from apps.patients.services import do_open_profile

PAUL_EMAIL = "paul.bernard@example.test"
PAUL_INS = "279035121518989"
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _profile(paul: User, stdout: TextIO) -> PatientProfile:
    profile = PatientProfile.objects.filter(user=paul).first()
    if profile is None:
        profile = do_open_profile(user=paul, ins=PAUL_INS, activate=True, acting_user=None)
    if not paul.outside_email:
        User.objects.filter(pk=paul.pk).update(outside_email="paul.bernard.perso@example.test")
    stdout.write(f"Messagerie patient : {profile.address} ({profile.get_state_display().lower()})\n")
    return profile


def _send(outgoing: Outgoing, user: Any) -> None:
    message = do_submit_message(outgoing, acting_user=user)
    # `make run` may have no worker yet when seeding: deliver synchronously through the same service.
    for pk in Delivery.objects.filter(message=message, state=DeliveryState.QUEUED).values_list(
        "pk", flat=True
    ):
        do_deliver(pk)


def _letters(profile: PatientProfile, alice_bal: Mailbox, stdout: TextIO) -> None:
    alice = alice_bal.owner
    _send(
        Outgoing(
            mailbox=alice_bal,
            to=[profile.address],
            subject="Vos résultats de prise de sang",
            text=(
                "Bonjour M. Bernard,\n\nVous trouverez ci-joint vos résultats. Ils sont rassurants ; "
                "nous en reparlerons à votre prochaine consultation.\n\nDr Alice Martin"
            ),
            attachments=[PartSource("Resultats_biologie.pdf", "application/pdf", lambda: [_PDF])],
        ),
        alice,
    )
    cardio = Mailbox.objects.filter(local_part="secretariat.cardio").first()
    if cardio is not None:
        _send(
            Outgoing(
                mailbox=alice_bal,
                to=[cardio.address],
                subject="Compte rendu de biologie de M. Bernard",
                text=(
                    "Chère consœur, cher confrère,\n\nPour information avant son rendez-vous.\n\n"
                    "Dr Alice Martin"
                ),
                attachments=[PartSource("CR_biologie_Bernard.pdf", "application/pdf", lambda: [_PDF])],
                patient_ins=PAUL_INS,
            ),
            alice,
        )
    stdout.write("Messages patient : lettre du Dr Martin à Paul, échange la concernant avec la cardiologie\n")


def seed(stdout: TextIO) -> None:
    paul = User.objects.filter(email=PAUL_EMAIL, kind=UserKind.PATIENT).first()
    if paul is None:
        stdout.write("Persona patient absent : lancez d'abord seed_demo (personas).\n")
        return
    profile = _profile(paul, stdout)
    alice_bal = Mailbox.objects.filter(kind=MailboxKind.NOMINATIVE, local_part="alice.martin").first()
    if alice_bal is None or alice_bal.owner is None:
        return
    if MessageCopy.objects.filter(mailbox=profile.mailbox).exists():
        stdout.write("Messages patient : déjà présents\n")
        return
    _letters(profile, alice_bal, stdout)
