"""Input validation of the mailboxes pages (the rules themselves are in services.py and addresses.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.annuaire.models import Professional, Structure
from apps.annuaire.selectors import find_structures_by_name, get_structure_by_finess, get_structure_by_siret
from apps.mailboxes.addresses import operator_domains
from apps.mailboxes.models import MailboxKind, MailboxStatus, MemberRole
from apps.mailboxes.policies import is_operator_admin
from apps.mailboxes.selectors import list_administered_structures

KIND_FILTERS = [
    ("", "Tous les types"),
    (MailboxKind.NOMINATIVE, "Nominative"),
    (MailboxKind.ORGANISATIONAL, "Organisationnelle"),
    ("cabinet", "Cabinet"),
    (MailboxKind.APPLICATIVE, "Applicative"),
]
OFFICINE_CHOICES = [("", "Selon l'annuaire (secteur d'activité)"), ("oui", "Oui"), ("non", "Non")]


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names (others go to the form itself)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for key, errors in exc.message_dict.items():
        form.add_error(key if key in form.fields else None, errors)


def _user_by_email(value: str, label: str) -> User:
    user = User.objects.filter(email__iexact=(value or "").strip(), is_active=True).first()
    if user is None:
        raise ValidationError(f"Aucun compte n'utilise l'adresse « {value} » ({label}).")
    return user


class AdminSearchForm(forms.Form):
    q = forms.CharField(label="Rechercher", required=False, max_length=100)
    kind = forms.ChoiceField(label="Type", choices=KIND_FILTERS, required=False)
    status = forms.ChoiceField(
        label="État", choices=[("", "Tous les états"), *MailboxStatus.choices], required=False
    )


class AddressForm(forms.Form):
    local_part = forms.CharField(label="Partie locale de l'adresse (avant « @ »)", max_length=64)
    domain = forms.ChoiceField(label="Domaine")
    display_name = forms.CharField(label="Nom affiché", max_length=200, required=False)
    liste_rouge = forms.BooleanField(label="Liste rouge (ne pas publier dans l'annuaire)", required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["domain"].choices = [(domain, domain) for domain in operator_domains()]  # type: ignore[attr-defined]


class StructureMixin(forms.Form):
    user: Any

    def setup_structure(self) -> None:
        if is_operator_admin(self.user):
            # No maxlength of 20 any more: the browser silently cut what was typed (issue 14).
            self.fields["structure"] = forms.CharField(
                label="Structure",
                max_length=200,
                help_text="Son nom, son FINESS ou son SIRET, tels que dans l'annuaire.",
            )
        else:
            self.fields["structure"] = forms.ModelChoiceField(
                label="Structure", queryset=list_administered_structures(self.user), empty_label=None
            )

    def clean_structure(self) -> Structure:
        value = self.cleaned_data["structure"]
        if isinstance(value, Structure):
            return value
        code = str(value).replace(" ", "")
        if code.isdigit():
            structure = get_structure_by_siret(code) if len(code) == 14 else get_structure_by_finess(code)
            if structure is None:
                raise ValidationError(
                    f"Aucune structure active de l'annuaire n'a le FINESS ou le SIRET « {code} »."
                )
            return structure
        return _structure_by_name(str(value).strip())


def _structure_by_name(name: str) -> Structure:
    """The one active structure whose name contains `name`; several: the candidates, to pick by FINESS."""
    found = list(find_structures_by_name(name, limit=6))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValidationError(f"Aucune structure active de l'annuaire ne s'appelle « {name} ».")
    listed = " ; ".join(
        f"{one.name} (FINESS {one.finess or '—'}, SIRET {one.siret or '—'})" for one in found[:5]
    )
    raise ValidationError(
        f"Plusieurs structures correspondent : {listed}. Précisez le nom, ou saisissez le FINESS."
    )


class ResponsibleMixin(forms.Form):
    responsible = forms.EmailField(label="Adresse de connexion du professionnel responsable")

    def clean_responsible(self) -> User:
        return _user_by_email(self.cleaned_data["responsible"], "responsable")


class NominativeForm(AddressForm):
    owner = forms.EmailField(label="Adresse de connexion du titulaire")

    def clean_owner(self) -> User:
        return _user_by_email(self.cleaned_data["owner"], "titulaire")


class OrganisationalForm(StructureMixin, ResponsibleMixin, AddressForm):
    service = forms.CharField(label="Service", max_length=200, required=False)
    head_agreement_by = forms.CharField(
        label="Accord donné par (responsable de la structure)", max_length=200
    )
    head_agreement_reference = forms.CharField(label="Référence de l'accord", max_length=200, required=False)
    officine = forms.ChoiceField(label="Pharmacie d'officine", choices=OFFICINE_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_structure()


class CabinetForm(ResponsibleMixin, AddressForm):
    practitioners = forms.CharField(
        label="Identifiants nationaux des professionnels du cabinet",
        help_text="8+RPPS ou 0+ADELI, séparés par des espaces.",
        max_length=500,
    )
    head_agreement_by = forms.CharField(
        label="Accord donné par (professionnel titulaire du cabinet)", max_length=200
    )

    def clean_practitioners(self) -> list[Professional]:
        ids = [one.upper() for one in self.cleaned_data["practitioners"].replace(",", " ").split()]
        found = list(Professional.objects.filter(national_id__in=ids, is_active=True))
        missing = sorted(set(ids) - {one.national_id for one in found})
        if missing:
            raise ValidationError(f"Professionnels inconnus de l'annuaire : {', '.join(missing)}.")
        return found


class ApplicativeForm(StructureMixin, ResponsibleMixin, AddressForm):
    service = forms.CharField(label="Service", max_length=200, required=False)
    credential_name = forms.CharField(label="Nom du logiciel", max_length=100, initial="Logiciel")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_structure()


class EditForm(forms.Form):
    display_name = forms.CharField(label="Nom affiché", max_length=200, required=False)
    service = forms.CharField(label="Service", max_length=200, required=False)
    is_officine = forms.BooleanField(label="Pharmacie d'officine", required=False)
    head_agreement_by = forms.CharField(label="Accord donné par", max_length=200, required=False)
    head_agreement_reference = forms.CharField(label="Référence de l'accord", max_length=200, required=False)
    imap_allowed = forms.BooleanField(
        label="Accès IMAP (logiciels de messagerie et logiciels métier)",
        required=False,
        help_text="Décochez pour interdire la synchronisation de cette BAL sur des postes (la messagerie web "
        "reste ouverte).",
    )

    def __init__(self, *args: Any, mailbox: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mailbox.kind != MailboxKind.ORGANISATIONAL:
            for name in ("is_officine", "head_agreement_by", "head_agreement_reference"):
                del self.fields[name]


class MemberAddForm(forms.Form):
    user = forms.EmailField(label="Adresse de connexion de la personne")
    role = forms.ChoiceField(label="Rôle", choices=MemberRole.choices, initial=MemberRole.SEND)

    def clean_user(self) -> User:
        return _user_by_email(self.cleaned_data["user"], "membre")


class DelegateForm(forms.Form):
    user = forms.EmailField(label="Adresse de connexion du professionnel délégué")

    def clean_user(self) -> User:
        return _user_by_email(self.cleaned_data["user"], "délégué")


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Rôle", choices=MemberRole.choices)


class TransferForm(ResponsibleMixin):
    pass


class CredentialForm(forms.Form):
    name = forms.CharField(label="Nom du logiciel", max_length=100)


class SuspendForm(forms.Form):
    reason = forms.CharField(label="Motif (facultatif)", max_length=300, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label="Fichier CSV (UTF-8)")

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > 5 * 1024 * 1024:
            raise ValidationError("Le fichier dépasse 5 Mo : importez-le en plusieurs fois.")
        return upload.read()
