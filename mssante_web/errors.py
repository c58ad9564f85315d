"""The app's own CSRF-failure page (Django's default is English and bare).

Django renders 403_csrf.html itself without the request, so the page would lose the top bar and the operator's
name; this view renders it with the request. The 404, 403, 429 and 500 pages need no view: Django's default
handlers pick the templates of the same name.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # Django already logs the precise reason (django.security.csrf); the page explains in French what to do.
    return render(request, "403_csrf.html", status=403)
