from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict:
    return {
        "OPERATOR_NAME": settings.OPERATOR_NAME,
        "DEV": settings.DEV,
        "SUPPORT_CONTACT": settings.SUPPORT_CONTACT,
    }
