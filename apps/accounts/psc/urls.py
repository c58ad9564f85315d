"""Same routes and names as allauth's OpenID Connect provider (`<prefix>/<provider_id>/login/[callback/]`),
served by the PSC views: allauth builds its provider URLs from `PSCProvider.package`."""

from allauth.socialaccount import app_settings
from django.urls import include, path, re_path

from apps.accounts.psc import views

urlpatterns = [
    re_path(
        r"^(?P<provider_id>[^/]+)/",
        include(
            [
                path("login/", views.login, name="openid_connect_login"),
                path("login/callback/", views.callback, name="openid_connect_callback"),
            ]
        ),
    )
]

if app_settings.OPENID_CONNECT_URL_PREFIX:
    urlpatterns = [path(f"{app_settings.OPENID_CONNECT_URL_PREFIX}/", include(urlpatterns))]
