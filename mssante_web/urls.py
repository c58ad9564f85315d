from django.contrib import admin
from django.urls import include, path

from apps.gateway import autoconfig
from mssante_web import admin_gate, health, landing, views

admin_gate.install()

urlpatterns = [
    path("", views.home, name="home"),
    path("arrivee/", landing.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("compte/", include("apps.accounts.urls")),
    path("comptes/", include("allauth.urls")),
    path("journal/", include("apps.audit.urls")),
    path("annuaire/", include("apps.annuaire.urls")),
    path("confiance/", include("apps.trust.urls")),
    path("bal/", include("apps.mailboxes.urls")),
    path("messagerie/", include("apps.messaging.urls")),
    path("patient/", include("apps.patients.urls")),
    # REST API of applicative BALs (token or client certificate; no session, CSRF-exempt).
    path("api/v1/", include("apps.messaging.api.urls")),
    path("admin/", admin.site.urls),
    # Mail client auto-configuration (Thunderbird, Outlook): SMTP submission settings.
    path(
        ".well-known/autoconfig/mail/config-v1.1.xml", autoconfig.thunderbird, name="autoconfig-thunderbird"
    ),
    path("mail/config-v1.1.xml", autoconfig.thunderbird),
    path("autodiscover/autodiscover.xml", autoconfig.autodiscover, name="autodiscover"),
    path("Autodiscover/Autodiscover.xml", autoconfig.autodiscover),
]
