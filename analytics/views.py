"""HR's HTML pages of the read side: exports and their audit log. Others get a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from surveys.selectors import user_is_hr

from . import exports, selectors
from .forms import ExportForm
from .models import ExportAudit

LOG_PAGE_SIZE = 50


def _hr_only(user: AbstractBaseUser | AnonymousUser) -> None:
    if not user_is_hr(user):
        raise Http404("No such page.")


@login_required
@require_http_methods(["GET", "POST"])
def hr_exports(request: HttpRequest) -> HttpResponse:
    """Choose a format, waves and teams; the POST answers with the file (audit-logged)."""
    _hr_only(request.user)
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


@login_required
def hr_export_log(request: HttpRequest) -> HttpResponse:
    """Every export, newest first: who, when, what."""
    _hr_only(request.user)
    page = Paginator(selectors.export_log(), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "analytics/export_log.html", {"page": page})
