"""Input validation of the composer and of the receipt preference (French messages)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from apps.accounts.models import ReadReceiptPolicy
from apps.annuaire.identifiers import IdentifierError, check_ins
from apps.messaging.compose.services import DraftContent

MAX_RECIPIENTS = 100
MAX_SUBJECT = 250
MAX_BODY = 500_000
_SEPARATORS = re.compile(r"[,;\n\r]+")


def split_addresses(values: list[str]) -> list[str]:
    """Addresses from the chips and the typed text ("a@x, b@y; c@z"), in order, without repeats."""
    seen: dict[str, str] = {}
    for value in values:
        for piece in _SEPARATORS.split(value or ""):
            address = piece.strip()
            if address and address.lower() not in seen:
                seen[address.lower()] = address
    return list(seen.values())[:MAX_RECIPIENTS]


class AddressListInput(forms.TextInput):
    """One text input that may be repeated (the chips of compose.js post one hidden input per address)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> str:
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name, "")]
        return ", ".join(split_addresses(values))


class ComposeForm(forms.Form):
    from_mailbox = forms.TypedChoiceField(label="De", coerce=int, required=False)
    to = forms.CharField(label="Destinataires", required=False, widget=AddressListInput)
    cc = forms.CharField(label="Cc", required=False, widget=AddressListInput)
    bcc = forms.CharField(label="Cci", required=False, widget=AddressListInput)
    subject = forms.CharField(label="Objet", required=False, max_length=MAX_SUBJECT)
    body = forms.CharField(
        label="Message", required=False, max_length=MAX_BODY, widget=forms.Textarea(attrs={"rows": 14})
    )
    patient_ins = forms.CharField(
        label="Patient concerné (matricule INS)",
        required=False,
        max_length=30,
        help_text="Facultatif : les 15 caractères du matricule INS du patient dont parle le message.",
    )
    read_receipt = forms.BooleanField(label="Demander un accusé de lecture", required=False)
    close_exchange = forms.BooleanField(
        label="Clore l'échange [FIN] : le patient ne pourra plus répondre à ce fil",
        required=False,
        help_text="Message à un patient (MSS-C) : ajoute [FIN] à l'objet et l'en-tête X-MSS-MES: FIN.",
    )

    def __init__(self, *args: Any, from_choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_mailbox"].choices = from_choices  # type: ignore[attr-defined]

    def clean_patient_ins(self) -> str:
        value = self.cleaned_data.get("patient_ins", "").strip()
        if not value:
            return ""
        try:
            return check_ins(value)
        except IdentifierError as exc:
            raise forms.ValidationError(str(exc)) from None

    def draft_content(self) -> DraftContent:
        """What was typed, kept even when invalid (a draft never loses text); values cut to the limits."""
        raw = self.data

        def field(name: str, limit: int) -> str:
            return str(
                self.fields[name].widget.value_from_datadict(raw, self.files, self.add_prefix(name)) or ""
            )[:limit]

        from_id = raw.get("from_mailbox", "")
        return DraftContent(
            to=split_addresses([field("to", 20_000)]),
            cc=split_addresses([field("cc", 20_000)]),
            bcc=split_addresses([field("bcc", 20_000)]),
            subject=field("subject", MAX_SUBJECT),
            body=field("body", MAX_BODY).replace("\r\n", "\n"),  # browsers post textarea lines with CRLF
            patient_ins=field("patient_ins", 30).strip(),
            read_receipt=raw.get("read_receipt") in ("on", "1", "true"),
            close_exchange=raw.get("close_exchange") in ("on", "1", "true"),
            from_mailbox_id=int(from_id) if str(from_id).isdigit() else None,
        )


def initial_of(data: DraftContent, default_from: int) -> dict[str, Any]:
    return {
        "from_mailbox": data.from_mailbox_id or default_from,
        "to": ", ".join(data.to),
        "cc": ", ".join(data.cc),
        "bcc": ", ".join(data.bcc),
        "subject": data.subject,
        "body": data.body,
        "patient_ins": data.patient_ins,
        "read_receipt": data.read_receipt,
        "close_exchange": data.close_exchange,
    }


class ReadReceiptPreferenceForm(forms.Form):
    read_receipt_policy = forms.ChoiceField(
        label="Quand un message que vous lisez demande un accusé de lecture",
        choices=ReadReceiptPolicy.choices,
        widget=forms.RadioSelect,
    )


class SignatureForm(forms.Form):
    signature = forms.CharField(
        label="Votre signature",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 6, "aria-describedby": "aide-signature"}),
        help_text=(
            "Ajoutée sous chaque nouveau message, réponse ou transfert. Proposée d'après l'Annuaire Santé : "
            "modifiez-la librement (ajoutez par exemple votre téléphone). Laissez-la vide pour ne pas signer."
        ),
    )
