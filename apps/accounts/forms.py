"""allauth forms with our French labels and the input hints phones need (one-time-code keyboards)."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.totp.forms import ActivateTOTPForm as AllauthActivateTOTPForm

_CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off"}


class LoginForm(AllauthLoginForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.label = "Adresse e-mail"
        login.widget.attrs.update({"placeholder": "prenom.nom@exemple.fr", "autocomplete": "username"})
        self.fields["password"].label = "Mot de passe"


class AuthenticateForm(AllauthAuthenticateForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        code = self.fields["code"]
        code.label = "Code à 6 chiffres ou code de secours"
        code.widget.attrs.update({**_CODE_ATTRS, "placeholder": "123456", "autofocus": True})


class ActivateTOTPForm(AllauthActivateTOTPForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        code = self.fields["code"]
        code.label = "Code affiché par l'application"
        code.widget.attrs.update({**_CODE_ATTRS, "placeholder": "123456"})
