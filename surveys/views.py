"""HTML views of the write side: the organisation page (and, in survey_views, the answer form)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import teams_visible_to, teams_with_headcount, user_is_hr


@login_required
def org(request: HttpRequest) -> HttpResponse:
    """The organisation tree the visitor may see, with active headcounts."""
    teams = list(teams_with_headcount(teams_visible_to(request.user)))
    top = min((team.depth for team in teams), default=0)
    rows = [(team, team.depth - top) for team in teams]
    return render(
        request,
        "surveys/org.html",
        {"rows": rows, "is_hr": user_is_hr(request.user), "total": sum(team.headcount for team in teams)},
    )
