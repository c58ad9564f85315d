"""Django's admin is for superusers only (issue 14): every operator task has its page in the app.

The operator admin used to reach /admin/, another product in English. Anyone signed in but not a superuser
now gets the app's 404 (the admin does not exist for them); a visitor still goes to allauth's login (the
wrapper of apps.accounts), then to the second factor.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse


def superusers_only(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.is_active and user.is_superuser)


def _no_login_for_others(login: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(login)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not superusers_only(request):
            raise Http404
        return login(request, *args, **kwargs)

    return wrapper


def install() -> None:
    """Called once from the URL conf, after apps.accounts wrapped the admin's login."""
    admin.site.has_permission = superusers_only  # type: ignore[method-assign]
    admin.site.login = _no_login_for_others(admin.site.login)  # type: ignore[method-assign]
