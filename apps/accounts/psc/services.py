"""Mapping a PSC login to the directory and to the user's account, and journalling the outcome.

A PSC login is accepted only when the national id belongs to an ACTIVE professional of the annuaire AND to an
active account of this platform (User.national_id). The account is matched by national id only, never by
e-mail, and is never created here: accounts (and the BAL behind them) are opened by administrators
(docs/decisions/0005-pro-sante-connect.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string

from apps.accounts.models import User
from apps.accounts.psc.identity import PscIdentity
from apps.audit.models import Outcome
from apps.audit.services import record_event


def _professional_lookup() -> Any:
    """The annuaire's `get_professional_by_national_id`, named by the setting `PSC_PROFESSIONAL_LOOKUP`:
    accounts sits below the annuaire (everyone imports accounts), so the project wires the lookup in."""
    return import_string(settings.PSC_PROFESSIONAL_LOOKUP)


class Refusal(StrEnum):
    NATIONAL_ID_MISSING = "national_id_missing"
    NATIONAL_ID_UNKNOWN = "national_id_unknown"
    PROFESSIONAL_INACTIVE = "professional_inactive"
    ACCOUNT_MISSING = "account_missing"
    ACCOUNT_INACTIVE = "account_inactive"
    ACCOUNT_MISMATCH = "social_account_mismatch"
    ACR_INSUFFICIENT = "acr_insufficient"
    NONCE_MISMATCH = "nonce_mismatch"
    CANCELLED = "cancelled"
    PROVIDER_ERROR = "provider_error"


_CONTACT = "Si vous pensez qu'il s'agit d'une erreur, contactez l'administrateur de votre compte."
MESSAGES = {
    Refusal.NATIONAL_ID_MISSING: (
        "Pro Santé Connect n'a pas transmis votre identifiant national : la connexion est impossible. "
        + _CONTACT
    ),
    Refusal.NATIONAL_ID_UNKNOWN: (
        "Votre identifiant national {national_id} n'est pas reconnu dans l'Annuaire Santé de cette "
        "plateforme : la connexion avec Pro Santé Connect vous est refusée. " + _CONTACT
    ),
    Refusal.PROFESSIONAL_INACTIVE: (
        "Votre identifiant national {national_id} n'est plus actif dans l'Annuaire Santé : la connexion avec "
        "Pro Santé Connect vous est refusée. " + _CONTACT
    ),
    Refusal.ACCOUNT_MISSING: (
        "Vous êtes bien enregistré dans l'Annuaire Santé (identifiant national {national_id}), mais "
        "aucun compte n'est encore ouvert à votre nom sur cette plateforme. Demandez à votre "
        "administrateur de l'ouvrir : vous pourrez ensuite vous connecter avec Pro Santé Connect."
    ),
    Refusal.ACCOUNT_INACTIVE: "Votre compte sur cette plateforme est désactivé. " + _CONTACT,
    Refusal.ACCOUNT_MISMATCH: (
        "Cette identité Pro Santé Connect est déjà rattachée à un autre compte de la plateforme : "
        "la connexion vous est refusée. " + _CONTACT
    ),
    Refusal.ACR_INSUFFICIENT: (
        "Le niveau d'authentification transmis par Pro Santé Connect est insuffisant : connectez-vous avec "
        "votre carte CPS ou l'application e-CPS."
    ),
    Refusal.NONCE_MISMATCH: (
        "La réponse de Pro Santé Connect ne correspond pas à votre demande de connexion. Veuillez réessayer."
    ),
    Refusal.CANCELLED: "Vous avez annulé la connexion avec Pro Santé Connect.",
    Refusal.PROVIDER_ERROR: (
        "La connexion avec Pro Santé Connect n'a pas pu aboutir : la réponse du service n'a pas pu être "
        "vérifiée. Veuillez réessayer ; si le problème persiste, contactez l'administrateur de votre compte."
    ),
}


class PscLoginRefused(Exception):
    def __init__(self, reason: Refusal, *, national_id: str = "", user: User | None = None, detail: str = ""):
        super().__init__(reason.value)
        self.reason = reason
        self.national_id = national_id
        self.user = user
        self.detail = detail

    @property
    def message(self) -> str:
        return MESSAGES[self.reason].format(national_id=self.national_id)


def check_authentication_context(
    identity: PscIdentity, *, expected_nonce: str, accepted_acr: list[str]
) -> None:
    """The ID token must echo our nonce and, when it states an acr, one we asked for (eidas1)."""
    if not expected_nonce or identity.nonce != expected_nonce:
        raise PscLoginRefused(Refusal.NONCE_MISMATCH, national_id=identity.national_id)
    if identity.acr and accepted_acr and identity.acr not in accepted_acr:
        raise PscLoginRefused(Refusal.ACR_INSUFFICIENT, national_id=identity.national_id, detail=identity.acr)


def resolve_account(identity: PscIdentity) -> User:
    """The active account of the active professional behind `identity`, or PscLoginRefused."""
    national_id = identity.national_id
    if not national_id:
        raise PscLoginRefused(Refusal.NATIONAL_ID_MISSING)
    professional = _professional_lookup()(national_id, active_only=False)
    if professional is None:
        raise PscLoginRefused(Refusal.NATIONAL_ID_UNKNOWN, national_id=national_id)
    if not professional.is_active:
        raise PscLoginRefused(Refusal.PROFESSIONAL_INACTIVE, national_id=national_id)
    user = User.objects.filter(national_id=national_id).first()
    if user is None:
        raise PscLoginRefused(Refusal.ACCOUNT_MISSING, national_id=national_id)
    if not user.is_active:
        raise PscLoginRefused(Refusal.ACCOUNT_INACTIVE, national_id=national_id, user=user)
    return user


@transaction.atomic
def do_accept_psc_login(
    request: HttpRequest, sociallogin: SocialLogin, user: User, identity: PscIdentity
) -> None:
    """Tie the PSC identity to `user` (first login) or check it already is, and journal the PSC login."""
    linked = False
    if sociallogin.is_existing:
        if sociallogin.user.pk != user.pk:
            raise PscLoginRefused(Refusal.ACCOUNT_MISMATCH, national_id=identity.national_id, user=user)
    else:
        sociallogin.connect(request, user)
        linked = True
    record_event(
        "auth.psc_login",
        actor=user,
        target=user,
        details={"national_id": identity.national_id, "acr": identity.acr, "linked": linked},
    )


@transaction.atomic
def do_record_psc_refusal(refusal: PscLoginRefused) -> None:
    details: dict[str, Any] = {"reason": refusal.reason.value, "national_id": refusal.national_id}
    if refusal.detail:
        details["detail"] = refusal.detail[:200]
    record_event("auth.psc_refused", target=refusal.user, outcome=Outcome.DENIED, details=details)
