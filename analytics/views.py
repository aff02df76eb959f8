"""HTML pages of the read side: the manager dashboard and the HR views (overview, risks, waves,
exports and their audit log). Thin: one selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, pgettext
from django.views.decorators.http import require_http_methods

from surveys import selectors as surveys
from surveys.models import Wave

from . import charts, exports, selectors
from .forms import ExportForm
from .models import ExportAudit
from .templatetags.released import score, share

LOG_PAGE_SIZE = 50


def hr_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """HR only; anyone else logged in gets the same 404 as for a page that doesn't exist."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not surveys.user_is_hr(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


def _int_param(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Http404("No such wave.")
    return int(raw)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """A manager's first team (the picker on its page leads to the others); HR's overview."""
    if surveys.user_is_hr(request.user):
        return redirect("hr-overview")
    roots = sorted(surveys.user_managed_roots(request.user), key=lambda team: team.path)
    if not roots:
        return render(request, "analytics/no_teams.html", status=200)
    return redirect("team-dashboard", team_id=roots[0].pk)


HISTORY_CACHE_SECONDS = 24 * 3600


@login_required
def team(request: HttpRequest, team_id: int) -> HttpResponse:
    """A team's dashboard. What its closed waves say is the same for every reader until the next
    analysis (released values never change), so it is rendered once per team, language and
    analysis and kept in the cache; the picker and the open waves' participation are live."""
    page = selectors.team_page(user=request.user, team_id=team_id)
    key = f"pulse:team-history:v1:{page.team.pk}:{get_language()}:{page.stamp}"
    history = cache.get(key)
    if history is None:
        board = selectors.team_history(page=page)
        history = render_to_string(
            "analytics/_team_history.html",
            {"board": board, "charts": [(summary, _chart(summary)) for summary in board.dimensions]},
        )
        cache.set(key, history, HISTORY_CACHE_SECONDS)
    return render(
        request,
        "analytics/team.html",
        {"page": page, "history": mark_safe(history), "is_hr": surveys.user_is_hr(request.user)},  # noqa: S308 - our own rendering
    )


def _chart(summary: selectors.DimensionSummary) -> charts.Chart:
    composite = summary.dimension == selectors.COMPOSITE
    low, high = (0.0, 1.0) if composite else summary.scale
    values = [(p.favorable if composite else p.mean).value for p in summary.points]
    labels = []
    for point in summary.points:
        shown = point.favorable if composite else point.mean
        when = formats.localize(point.opens_on)
        if shown.suppressed:
            labels.append(f"{when}: {shown.reason}")
        elif composite:
            labels.append(f"{when}: {share(shown.value)}")
        else:
            labels.append(f"{when}: {score(shown.value)} ({share(point.favorable.value)})")
    if composite:
        grid = [(v / 4, share(v / 4)) for v in range(5)]
    else:
        grid = [(float(v), str(v)) for v in range(int(low), int(high) + 1, 1 if high - low <= 5 else 2)]
    tick = pgettext("a chart's x-axis label: a wave's day and month, as a Django date format", "j M")
    return charts.line_chart(
        values,
        labels=labels,
        ticks=[formats.date_format(p.opens_on, tick) for p in summary.points],
        low=low,
        high=high,
        grid=grid,
    )


@hr_required
def hr_overview(request: HttpRequest) -> HttpResponse:
    heatmap = selectors.org_heatmap(user=request.user, wave_id=_int_param(request.GET.get("wave")))
    labels = [selectors.dimension_label(d) for d in heatmap.dimensions]
    return render(request, "analytics/hr_overview.html", {"heatmap": heatmap, "labels": labels})


@hr_required
def hr_risks(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/hr_risks.html", {"rows": selectors.risk_list(user=request.user)})


@hr_required
def hr_waves(request: HttpRequest) -> HttpResponse:
    """Every wave with when it closed (a closed one) or closes, in the reader's own time zone."""
    zone = _zone(surveys.user_time_zone(request.user))
    rows = [(wave, _wave_end(wave, zone)) for wave in selectors.waves_list(user=request.user)]
    return render(request, "analytics/hr_waves.html", {"rows": rows})


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _wave_end(wave: Wave, zone: ZoneInfo) -> str:
    """ "Closed <when it was closed>" for a closed wave (a back-filled one may close long before its
    planned end), "Closes <its planned end>" for the others."""
    if wave.status == Wave.Status.CLOSED:
        local = (wave.closed_at or wave.closes_at).astimezone(zone)
        when = f"{formats.date_format(local, 'DATETIME_FORMAT')} {_zone_name(local, zone)}"
        return gettext("Closed %(when)s") % {"when": when}
    closes = surveys.wave_closing_text(closes_at=wave.closes_at, zone_name=zone.key)
    return gettext("Closes %(when)s") % {"when": closes}


def _zone_name(local: datetime, zone: ZoneInfo) -> str:
    """ "CET (Europe/Berlin)", as closing times are shown elsewhere; "UTC" alone."""
    abbreviation = local.tzname() or zone.key
    return abbreviation if abbreviation == zone.key else f"{abbreviation} ({zone.key})"


@hr_required
def hr_wave(request: HttpRequest, wave_id: int) -> HttpResponse:
    wave = selectors.wave_get_for_user(user=request.user, wave_id=wave_id)
    rows = selectors.wave_participation_by_team(user=request.user, wave_id=wave_id)
    return render(request, "analytics/hr_wave.html", {"wave": wave, "rows": rows})


@hr_required
@require_http_methods(["GET", "POST"])
def hr_exports(request: HttpRequest) -> HttpResponse:
    """Choose a format, waves and teams; the POST answers with the file (audit-logged)."""
    form = ExportForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            scope = selectors.export_scope(
                user=request.user,
                wave_ids=[w.pk for w in data["waves"]],
                team_ids=[t.pk for t in data["teams"]],
            )
        except selectors.ExportFilterError as exc:
            form.add_error(exc.field, exc.message)
        else:
            stream = exports.report_export(
                scope=scope, format=data["format"], channel=ExportAudit.Channel.WEB, user=request.user
            )
            return exports.export_response(stream)
    return render(request, "analytics/exports.html", {"form": form, "columns": exports.COLUMNS})


@hr_required
def hr_export_log(request: HttpRequest) -> HttpResponse:
    """Every export, newest first: who, when, what."""
    page = Paginator(selectors.export_log(), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "analytics/export_log.html", {"page": page})
