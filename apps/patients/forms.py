"""Forms of the patient portal: input validation only, French messages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from apps.patients.models import DocumentCategory

MAX_FILES = 5
MAX_TEXT = 20_000


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Up to MAX_FILES files; each stays an UploadedFile read in chunks by the services."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "application/pdf,image/*"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > MAX_FILES:
            raise forms.ValidationError(f"Vous pouvez joindre au plus {MAX_FILES} fichiers.")
        return [super(MultipleFileField, self).clean(one, initial) for one in files]


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Votre réponse",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Écrivez votre réponse avant de l'envoyer."},
    )
    pieces = MultipleFileField(label="Joindre des documents (PDF ou photos)")


class PharmacySearchForm(forms.Form):
    q = forms.CharField(label="Nom de la pharmacie ou commune", max_length=100, required=False)


class PharmacyMessageForm(forms.Form):
    pharmacy = forms.IntegerField(widget=forms.HiddenInput)
    subject = forms.CharField(label="Objet", max_length=200, required=False, initial="Mon ordonnance")
    text = forms.CharField(
        label="Votre message",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Écrivez quelques mots pour la pharmacie."},
    )
    pieces = MultipleFileField(label="Photo ou PDF de l'ordonnance")


class SaveAttachmentForm(forms.Form):
    category = forms.ChoiceField(label="Type de document", choices=DocumentCategory.choices)


class DocumentUploadForm(forms.Form):
    file = forms.FileField(
        label="Fichier (PDF ou photo)",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/*"}),
        error_messages={"required": "Choisissez un fichier."},
    )
    category = forms.ChoiceField(label="Type de document", choices=DocumentCategory.choices)


class NotificationsForm(forms.Form):
    notify_by_email = forms.BooleanField(label="M'avertir par e-mail d'un nouveau message", required=False)
    outside_email = forms.EmailField(
        label="Adresse e-mail personnelle pour ces avis",
        required=False,
        help_text="Les avis ne contiennent jamais le contenu ni l'expéditeur de vos messages.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("notify_by_email") and not data.get("outside_email"):
            self.add_error("outside_email", "Indiquez l'adresse où recevoir les avis, ou décochez la case.")
        return data


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(
        label="Je confirme", error_messages={"required": "Cochez la case pour confirmer."}
    )
