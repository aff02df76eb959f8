from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    """Send each visitor where they belong: login, or the organisation they may see."""
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("org")
