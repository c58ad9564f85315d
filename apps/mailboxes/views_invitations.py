"""Invitations: sent, resent and revoked from a BAL's administration; accepted from the e-mailed link."""

from __future__ import annotations

from allauth.account.internal.flows.login import record_authentication
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from apps.mailboxes import invitations
from apps.mailboxes.forms import add_service_errors
from apps.mailboxes.models import MemberRole
from apps.mailboxes.policies import access_mailbox, post_after_access


class InvitationForm(forms.Form):
    first_name = forms.CharField(label="Prénom", max_length=150)
    last_name = forms.CharField(label="Nom", max_length=150)
    email = forms.EmailField(label="Adresse e-mail personnelle ou professionnelle", max_length=254)
    role = forms.ChoiceField(label="Rôle dans la BAL", choices=MemberRole.choices, initial=MemberRole.SEND)


class AcceptForm(forms.Form):
    password1 = forms.CharField(
        label="Mot de passe", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Mot de passe (confirmation)",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "Les deux mots de passe ne sont pas identiques.")
        return data


@login_required
def invitation_list(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = access_mailbox(request.user, mailbox_id, for_manage=True)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitations.do_invite(mailbox, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Invitation envoyée à {form.cleaned_data['email']}.")
            return redirect("mailboxes:invitations", mailbox.pk)
    pending = [one for one in mailbox.invitations.select_related("invited_by") if one.is_pending]
    return render(
        request, "mailboxes/invitations.html", {"mailbox": mailbox, "form": form, "pending": pending}
    )


def _pending(request: HttpRequest, mailbox_id: int, invitation_id: int):  # noqa: ANN202
    mailbox = access_mailbox(request.user, mailbox_id, for_manage=True)
    return get_object_or_404(mailbox.invitations, pk=invitation_id)


@login_required
@post_after_access(for_manage=True)
def invitation_resend(request: HttpRequest, mailbox_id: int, invitation_id: int) -> HttpResponse:
    invitation = _pending(request, mailbox_id, invitation_id)
    try:
        invitations.do_resend(invitation, acting_user=request.user)
        messages.success(
            request, f"Invitation renvoyée à {invitation.email} ; le lien précédent ne fonctionne plus."
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("mailboxes:invitations", mailbox_id)


@login_required
@post_after_access(for_manage=True)
def invitation_revoke(request: HttpRequest, mailbox_id: int, invitation_id: int) -> HttpResponse:
    invitation = _pending(request, mailbox_id, invitation_id)
    try:
        invitations.do_revoke(invitation, acting_user=request.user)
        messages.success(request, f"L'invitation de {invitation.email} est révoquée.")
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("mailboxes:invitations", mailbox_id)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitations.find_usable(token)
    if invitation is None:
        return render(request, "mailboxes/invitation_invalid.html", status=404)
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.do_accept(token, password=form.cleaned_data["password1"])
        except ValidationError as exc:
            form.add_error("password1", exc)
        else:
            # Signed in: the second-factor gate now leads to enrolment, then the login lands on the BAL.
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # The password was just chosen: recorded as a fresh password authentication, so that allauth
            # does not ask it again before enrolling the second factor a minute later.
            record_authentication(request, user, "password", email=user.email)
            return redirect("landing")
    return render(request, "mailboxes/invitation_accept.html", {"invitation": invitation, "form": form})
