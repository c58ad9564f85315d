from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Comptes"

    def ready(self) -> None:
        from allauth.account.decorators import secure_admin_login
        from django.contrib import admin

        from apps.accounts import signals  # noqa: F401  (login/logout/failed-login journal entries)

        # No password-only door into the admin: its login page sends to allauth's login (and its second
        # factor); the MFA gate then holds staff who have not enrolled yet.
        admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
