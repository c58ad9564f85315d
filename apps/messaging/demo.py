"""Demo messages of `make run`: a few real exchanges between the personas' BALs, sent through the services.

Alice writes to the cardiology secretariat with a PDF and asks for a read receipt; Bob answers on behalf of
the service; the pharmacy writes to Alice. Idempotent: nothing is sent when Alice's BAL already holds mail.
"""

from __future__ import annotations

from typing import Any, TextIO

from apps.accounts.models import User
from apps.mailboxes.models import Mailbox, MailboxKind
from apps.messaging.delivery.deliver import do_deliver
from apps.messaging.delivery.submit import Outgoing, do_submit_message
from apps.messaging.models import Delivery, DeliveryState, MessageCopy, Origin
from apps.messaging.store.mime import PartSource

_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _deliver(message: Any) -> None:
    # `make run` may have no worker yet when seeding: deliver synchronously through the same service.
    for pk in Delivery.objects.filter(message=message, state=DeliveryState.QUEUED).values_list(
        "pk", flat=True
    ):
        do_deliver(pk)


def seed(stdout: TextIO) -> None:
    alice_bal = Mailbox.objects.filter(kind=MailboxKind.NOMINATIVE, local_part="alice.martin").first()
    cardio = Mailbox.objects.filter(local_part="secretariat.cardio").first()
    pharmacy = Mailbox.objects.filter(kind=MailboxKind.ORGANISATIONAL, is_officine=True).first()
    if alice_bal is None or cardio is None:
        return
    if MessageCopy.objects.filter(mailbox=alice_bal).exists():
        stdout.write("Messages de démonstration : déjà présents\n")
        return
    alice = alice_bal.owner
    if alice is None:
        return
    bob = User.objects.filter(memberships__mailbox=cardio).exclude(pk=alice.pk).first()
    letter = do_submit_message(
        Outgoing(
            mailbox=alice_bal,
            to=[cardio.address],
            subject="Adressage : M. Bernard, douleurs thoraciques",
            text=(
                "Chère consœur, cher confrère,\n\nJe vous adresse M. Paul Bernard pour un avis "
                "cardiologique (douleurs thoraciques à l'effort). Son ECG est en pièce jointe.\n\n"
                "Bien confraternellement,\nDr Alice Martin"
            ),
            attachments=[PartSource("ECG_Bernard.pdf", "application/pdf", lambda: [_PDF])],
            read_receipt=True,
        ),
        acting_user=alice,
    )
    _deliver(letter)
    if bob is not None:
        received = MessageCopy.objects.get(mailbox=cardio, message=letter)
        answer = do_submit_message(
            Outgoing(
                mailbox=cardio,
                to=[alice_bal.address],
                subject="Re: Adressage : M. Bernard, douleurs thoraciques",
                text=(
                    "Bonjour Docteur,\n\nM. Bernard a rendez-vous le 3 décembre à 10 h avec le "
                    "Dr Lefèvre.\n\nLe secrétariat de cardiologie"
                ),
                reply_to_copy=received,
            ),
            acting_user=bob,
        )
        _deliver(answer)
    if pharmacy is not None:
        ines = User.objects.filter(memberships__mailbox=pharmacy).first()
        if ines is not None:
            note = do_submit_message(
                Outgoing(
                    mailbox=pharmacy,
                    to=[alice_bal.address],
                    subject="Renouvellement d'ordonnance",
                    text="Bonjour Docteur,\nun de vos patients demande un renouvellement. Pouvez-vous nous "
                    "transmettre l'ordonnance ?\nPharmacie du Centre",
                ),
                acting_user=ines,
            )
            _deliver(note)
    lab = Mailbox.objects.filter(kind=MailboxKind.APPLICATIVE).first()
    if lab is not None:
        # A lab report the software queued: it waits for Alice (responsible) in the validation queue.
        do_submit_message(
            Outgoing(
                mailbox=lab,
                to=[alice_bal.address],
                subject="Compte rendu de biologie : M. Paul Bernard",
                text="Bilan lipidique du 20/11 : résultats en pièce jointe.\nLaboratoire de biologie",
                attachments=[PartSource("CR_biologie_Bernard.pdf", "application/pdf", lambda: [_PDF])],
                origin=Origin.API,
                hold=True,
            ),
            acting_user=None,
        )
    stdout.write(
        "Messages de démonstration : échange entre Alice, le secrétariat de cardiologie et l'officine ; "
        "un compte rendu du laboratoire attend la validation d'Alice\n"
    )
