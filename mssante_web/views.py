from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.patients.policies import is_patient


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if is_patient(request.user):  # the professional home (« Aucune BAL… ») means nothing to a patient
        return redirect("patients:inbox")
    return render(request, "home.html")
