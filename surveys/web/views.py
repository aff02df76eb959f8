"""HTML views of the write side: the organisation page (and, in survey_views, the answer form)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import TEAM_PATH_SEPARATOR, Team
from ..selectors import teams_visible_to, teams_with_headcount, user_is_hr


@login_required
def org(request: HttpRequest) -> HttpResponse:
    """The organisation tree the visitor may see, with active headcounts."""
    teams = list(teams_with_headcount(teams_visible_to(request.user)))
    top = min((team.depth for team in teams), default=0)
    subtree = _subtree_headcounts(teams)
    rows = [(team, team.depth - top, headcount) for team, headcount in zip(teams, subtree, strict=True)]
    return render(
        request,
        "surveys/org.html",
        {"rows": rows, "is_hr": user_is_hr(request.user), "total": sum(team.headcount for team in teams)},
    )


def _subtree_headcounts(teams: list[Team]) -> list[int]:
    """Each team's active people including its sub-teams (``teams`` sorted by path)."""
    totals = {team.path: team.headcount for team in teams}
    for team in teams:
        ancestor = team.path
        while TEAM_PATH_SEPARATOR in ancestor:
            ancestor = ancestor.rsplit(TEAM_PATH_SEPARATOR, 1)[0]
            if ancestor in totals:
                totals[ancestor] += team.headcount
    return [totals[team.path] for team in teams]
