from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.audit.models import AuditEvent


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    if not (request.user.kind == "operator_admin" or request.user.is_superuser):
        raise Http404
    events = AuditEvent.objects.order_by("-id")[:100]
    return render(request, "audit/event_list.html", {"events": events})
