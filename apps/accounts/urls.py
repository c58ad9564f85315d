from django.urls import path

from apps.accounts import views, views_app_passwords

app_name = "accounts"
urlpatterns = [
    path("second-facteur/", views.mfa_required, name="mfa-required"),
    path("second-facteur/codes-de-secours/", views.recovery_codes, name="recovery-codes"),
    path(
        "second-facteur/codes-de-secours/telecharger/",
        views.recovery_codes_download,
        name="recovery-codes-download",
    ),
    path("deconnexion-partout/", views.logout_everywhere, name="logout-everywhere"),
    path("mots-de-passe-applications/", views_app_passwords.app_passwords, name="app-passwords"),
    path(
        "mots-de-passe-applications/<int:pk>/revoquer/",
        views_app_passwords.app_password_revoke,
        name="app-password-revoke",
    ),
]
