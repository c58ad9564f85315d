"""In Chromium: a structure admin creates an organisational BAL and adds Bob; Bob switches to it.

Both log in through the real pages (password, then a TOTP code computed from their enrolled secret).
"""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt

from apps.accounts.models import UserKind
from apps.mailboxes.models import Mailbox, MailboxMembership
from apps.mailboxes.services_members import do_add_structure_admin
from tests.accounts.support import totp_code
from tests.factories import DEFAULT_PASSWORD, UserFactory, enrol_totp
from tests.plugins.bals import make_structure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADDRESS = "urgences.cardio@demo.mssante.fr"


@pytest.fixture
def chu(db):  # noqa: ANN001, ANN201
    return make_structure("CHU DE DEMONSTRATION", finess_body="75000001")


@pytest.fixture
def struct_admin_sam(chu):  # noqa: ANN001, ANN201
    user = UserFactory(
        email="sam.admin@chu-demo.mssante.fr",
        first_name="Sam",
        last_name="Girard",
        kind=UserKind.STAFF,
        national_id="",
    )
    enrol_totp(user)
    do_add_structure_admin(chu, user=user, acting_user=None)
    return user


def _secret_of(user) -> str:  # noqa: ANN001
    return decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"])


def _login(page, base: str, user) -> None:  # noqa: ANN001
    page.goto(base + "/comptes/login/")
    page.locator("input[name=login]").fill(user.email)
    page.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    page.locator("#contenu form button[type=submit]").first.click()
    page.wait_for_url("**/comptes/2fa/authenticate/")
    page.locator("input[name=code]").fill(totp_code(_secret_of(user)))
    page.locator("#contenu form button[type=submit]").first.click()
    # The login lands on the inbox of the last BAL used, the administration or the home page.
    page.wait_for_url(lambda url: "/comptes/" not in url and "/arrivee/" not in url)


def test_it_lets_a_structure_admin_create_a_bal_and_bob_switch_to_it(
    page, live_server, screenshot_dir, struct_admin_sam, dr_alice, sec_bob, chu
):
    base = live_server.url
    _login(page, base, struct_admin_sam)
    page.wait_for_url("**/bal/gestion/")  # an admin without a BAL lands on the administration (issue 14)
    page.get_by_role("link", name="Nouvelle BAL organisationnelle").click()
    page.get_by_label("Partie locale de l'adresse").fill("urgences.cardio")
    page.get_by_label("Domaine").select_option("demo.mssante.fr")
    page.get_by_label("Nom affiché").fill("Urgences cardiologiques")
    page.get_by_label("Structure", exact=True).select_option(label=str(chu))
    page.get_by_label("Adresse de connexion du professionnel responsable").fill(dr_alice.email)
    page.get_by_label("Accord donné par").fill("Directrice générale du CHU")
    page.get_by_label("Service", exact=True).fill("Cardiologie")
    page.get_by_role("button", name="Créer la BAL").click()
    page.wait_for_url("**/bal/gestion/*/")
    assert page.get_by_role("heading", name=ADDRESS).is_visible()

    page.get_by_label("Adresse de connexion de la personne").fill(sec_bob.email)
    page.get_by_label("Rôle").last.select_option("send")
    page.get_by_role("button", name="Ajouter").click()  # htmx swaps the members card in place
    page.get_by_role("button", name="Retirer Bob Leroy").wait_for()
    page.screenshot(path=str(screenshot_dir / "mailbox_admin_members.png"), full_page=True)
    mailbox = Mailbox.objects.get(address=ADDRESS)
    assert MailboxMembership.objects.filter(mailbox=mailbox, user=sec_bob, role="send").exists()
    assert mailbox.created_by == struct_admin_sam

    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_url("**/comptes/login/**")
    _login(page, base, sec_bob)  # he lands in the inbox of a BAL he already used: the switcher names it
    page.locator("details.mailbox-switcher > summary").click()
    page.locator(".switcher-list").get_by_role("button", name=ADDRESS).click()
    page.wait_for_url(f"**/messagerie/{mailbox.pk}/**")  # opening a BAL lands in its webmail
    assert page.locator("summary [data-current-mailbox]").inner_text() == ADDRESS
    page.goto(f"{base}/bal/{mailbox.pk}/")
    assert page.get_by_text("C'est la BAL dans laquelle vous agissez en ce moment.").is_visible()
    page.screenshot(path=str(screenshot_dir / "mailbox_switched.png"), full_page=True)
    assert page.console_errors == []
