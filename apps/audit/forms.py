"""The journal search form (GET): its cleaned data becomes a `JournalFilters`."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.audit.event_types import label_for
from apps.audit.models import Outcome
from apps.audit.selectors import JournalFilters


class JournalFilterForm(forms.Form):
    actor = forms.CharField(label="Acteur (adresse e-mail ou partie)", required=False, max_length=254)
    mailbox = forms.CharField(
        label="BAL (adresse, partie d'adresse ou numéro)", required=False, max_length=254
    )
    action = forms.ChoiceField(label="Action", required=False)
    outcome = forms.ChoiceField(label="Résultat", required=False, choices=[("", "Tous"), *Outcome.choices])
    date_from = forms.DateField(label="Du", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(
        label="Au (inclus)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ip = forms.GenericIPAddressField(label="Adresse IP", required=False)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action_field = self.fields["action"]
        assert isinstance(action_field, forms.ChoiceField)
        # In words, not codes (« … s'est connecté(e) »), sorted as read.
        labelled = sorted(((a, label_for(a)) for a in actions), key=lambda pair: pair[1].lower())
        action_field.choices = [("", "Toutes"), *labelled]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "La date de fin doit être postérieure ou égale à la date de début.")
        return data

    def filters(self) -> JournalFilters:
        data = self.cleaned_data
        return JournalFilters(
            actor=data["actor"].strip(),
            mailbox=data["mailbox"].strip(),
            action=data["action"],
            outcome=data["outcome"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            ip=data["ip"] or "",
        )
