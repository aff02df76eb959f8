from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from surveys.selectors import user_is_hr, user_managed_roots


def home(request: HttpRequest) -> HttpResponse:
    """Send each visitor where they belong: HR to the organisation overview, a manager to their
    dashboard, anyone else to the login."""
    if user_is_hr(request.user):
        return redirect("hr-overview")
    if user_managed_roots(request.user):
        return redirect("dashboard")
    if request.user.is_authenticated:
        return redirect("dashboard")  # says there is nothing for this login to see
    return redirect("login")
