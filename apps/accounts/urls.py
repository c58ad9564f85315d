from django.urls import path

from apps.accounts import views

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
]
