"""The admin, as HR's back office: the org tree, people, the question bank, surveys,
schedules and waves.

Invitations, responses, answers and comments are deliberately not registered: the admin
never shows who answered a wave or what anyone answered (DESIGN.md, Anonymity). Waves show
participation only as a count.

Team paths are kept by ``surveys.services`` (never edited here), so a rename or a move
rewrites the whole subtree in one transaction.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .accounts import password_setup_send
from .emails import closing_time_display
from .models import (
    TEAM_PATH_SEPARATOR,
    Answer,
    Comment,
    Employee,
    Invitation,
    Question,
    Response,
    Schedule,
    Survey,
    SurveyQuestion,
    Team,
    Wave,
    WaveParticipation,
    WaveTeam,
)
from .question_bank import question_text
from .roles import employee_account_sync
from .scheduling import zone_get
from .selectors import user_time_zone
from .services import team_ensure_path, team_move, team_rename
from .waves import audience_size, audience_too_small_message

admin.site.site_header = _("Pulse administration")
admin.site.site_title = _("Pulse administration")
admin.site.index_title = _("Organisation, questions and schedules")

INDENT_EM = 1.5  # per tree level, in the team changelist


# --- Teams -----------------------------------------------------------------------------


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "parent"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if TEAM_PATH_SEPARATOR in name:
            raise forms.ValidationError(_("A team name can't contain “/”: it separates the levels of a team path."))
        return name

    def clean_parent(self) -> Team | None:
        parent = self.cleaned_data.get("parent")
        team = self.instance
        inside = parent is not None and (
            parent.pk == team.pk or parent.path.startswith(team.path + TEAM_PATH_SEPARATOR)
        )
        if team.pk is not None and inside:
            raise forms.ValidationError(_("A team can't be placed under itself or one of its own sub-teams."))
        return parent


def _team_adopt(target: Team, saved: Team) -> None:
    """Make the admin's unsaved instance stand for the row a service created."""
    target.pk, target.path = saved.pk, saved.path
    target._state.adding, target._state.db = False, saved._state.db


def team_delete_blockers(teams: list[Team]) -> list[str]:
    """Why these teams can't be deleted, as counts (never a list of people)."""
    ids = [team.pk for team in teams]
    reasons = []
    members = Employee.objects.filter(team__in=ids).count()
    if members:
        reasons.append(
            ngettext(
                "%(count)d person is (or was) a member: move them to another team first.",
                "%(count)d people are (or were) members: move them to another team first.",
                members,
            )
            % {"count": members}
        )
    children = Team.objects.filter(parent__in=ids).count()
    if children:
        reasons.append(
            ngettext(
                "%(count)d sub-team: move or delete it first.",
                "%(count)d sub-teams: move or delete them first.",
                children,
            )
            % {"count": children}
        )
    history = (
        Invitation.objects.filter(team__in=ids).exists()
        or Response.objects.filter(team__in=ids).exists()
        or Comment.objects.filter(team__in=ids).exists()
        or WaveTeam.objects.filter(Q(team__in=ids) | Q(parent__in=ids)).exists()
        or WaveParticipation.objects.filter(team__in=ids).exists()
    )
    if history:
        reasons.append(str(_("Survey history: past waves refer to this team, and their results must stay intact.")))
    return reasons


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ["tree_name", "parent", "headcount", "manager_names"]
    list_select_related = ["parent"]
    ordering = ["path"]
    search_fields = ["name", "path"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]
    list_per_page = 200

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(headcount=Count("members", filter=Q(members__active=True)))
            .prefetch_related("managers")
        )

    @admin.display(description=_("team"), ordering="path")
    def tree_name(self, team: Team) -> str:
        return format_html('<span style="padding-left: {}em">{}</span>', team.depth * INDENT_EM, team.name)

    @admin.display(description=_("active headcount"), ordering="headcount")
    def headcount(self, team: Team) -> int:
        return team.headcount

    @admin.display(description=_("managers"))
    def manager_names(self, team: Team) -> str:
        return ", ".join(manager.name for manager in team.managers.all())

    def save_model(self, request: HttpRequest, obj: Team, form: ModelForm, change: bool) -> None:
        # The services own `path`: a new team is created through its path, an edit is a move
        # and/or a rename that rewrites the subtree.
        if not change:
            prefix = obj.parent.path + TEAM_PATH_SEPARATOR if obj.parent else ""
            _team_adopt(obj, team_ensure_path(path=prefix + obj.name))
            return
        stored = Team.objects.get(pk=obj.pk)
        if obj.parent_id != stored.parent_id:
            stored = team_move(team=stored, parent=obj.parent)
        if obj.name != stored.name:
            stored = team_rename(team=stored, name=obj.name)
        obj.path = stored.path

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, list[str]]:
        # Django would list every protected row (each member by name, each past response);
        # say instead, in counts, what stands in the way and what to do about it.
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            protected = team_delete_blockers(list(objs)) or protected
        return to_delete, model_count, perms_needed, protected


# --- Employees -------------------------------------------------------------------------


class TeamSubtreeFilter(admin.SimpleListFilter):
    """Filter people by a team and everything below it, picked from the indented tree."""

    title = _("team (with sub-teams)")
    parameter_name = "team_subtree"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        teams = Team.objects.only("pk", "name", "path").order_by("path")
        return [(str(team.pk), "\u00a0\u00a0" * team.depth + team.name) for team in teams]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Employee]) -> QuerySet[Employee]:
        value = self.value()
        if value is None:
            return queryset
        team = Team.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if team is None:
            return queryset.none()
        return queryset.filter(team.subtree_q(prefix="team__"))


class EmployeeForm(forms.ModelForm):
    class Meta:
        model = Employee
        fields = [
            "email",
            "name",
            "team",
            "role",
            "manages",
            "timezone",
            "locale",
            "active",
            "left_on",
            "left_reason",
        ]

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_timezone(self) -> str:
        zone = self.cleaned_data["timezone"].strip()
        if zone not in zoneinfo.available_timezones():
            raise forms.ValidationError(_("Not a known IANA time zone, e.g. Europe/Berlin."))
        return zone

    def clean(self) -> dict[str, Any]:
        # The same rules as the org import (surveys/org_import.py), so both paths agree.
        data = super().clean()
        left_on, manages, role = data.get("left_on"), data.get("manages"), data.get("role")
        if left_on and not data.get("left_reason"):
            self.add_error("left_reason", _("Give the reason together with the date someone left."))
        if data.get("left_reason") and not left_on:
            self.add_error("left_on", _("Give the date someone left together with the reason."))
        if left_on and left_on <= timezone.localdate() and data.get("active"):
            # Someone who has left must not be invited any more.
            self.add_error("active", _("Someone who has left can't be active."))
        if manages and role != Employee.Role.MANAGER:
            self.add_error("manages", _("Only a manager manages teams."))
        if role == Employee.Role.MANAGER and manages is not None and not manages:
            self.add_error("manages", _("A manager manages at least one team."))
        return data


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    form = EmployeeForm
    list_display = ["email", "name", "team_path", "role", "active", "left_on"]
    list_filter = ["role", "active", "left_reason", "locale", TeamSubtreeFilter]
    search_fields = ["email", "name", "team__path"]
    list_select_related = ["team"]
    autocomplete_fields = ["team", "manages"]
    # The login is kept by the org import's role rules (surveys/roles.py), not linked by hand.
    readonly_fields = ["user"]
    fieldsets = [
        (None, {"fields": ["email", "name", "team", "role", "manages"]}),
        (_("Invitations"), {"fields": ["timezone", "locale", "active"]}),
        (_("Departure"), {"fields": ["left_on", "left_reason"]}),
        (_("Login"), {"fields": ["user"]}),
    ]

    actions = ["send_password_setup"]

    @admin.display(description=_("team"), ordering="team__path")
    def team_path(self, employee: Employee) -> str:
        return employee.team.path

    @admin.action(description=_("Send a “set your password” e-mail"), permissions=["change"])
    def send_password_setup(self, request: HttpRequest, queryset: QuerySet[Employee]) -> None:
        """The same as ``manage.py send_password_setup``: only logins without a password get one."""
        selected = list(queryset.select_related("user"))
        report = password_setup_send(users=[employee.user for employee in selected if employee.user is not None])
        without_login = sum(1 for employee in selected if employee.user is None)
        if report.sent:
            self.message_user(
                request,
                ngettext(
                    "Sent a “set your password” e-mail to %(count)d person: %(emails)s.",
                    "Sent a “set your password” e-mail to %(count)d people: %(emails)s.",
                    len(report.sent),
                )
                % {"count": len(report.sent), "emails": ", ".join(report.sent)},
                messages.SUCCESS,
            )
        if without_login:
            self.message_user(
                request,
                ngettext(
                    "%(count)d person has no login (only managers and HR have one): nothing sent.",
                    "%(count)d people have no login (only managers and HR have one): nothing sent.",
                    without_login,
                )
                % {"count": without_login},
                messages.WARNING,
            )
        for username, reason in report.skipped:
            self.message_user(
                request,
                _("Nothing sent to %(email)s: %(reason)s.") % {"email": username, "reason": reason},
                messages.WARNING,
            )

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the many-to-many fields: the login follows the role and status just saved.
        employee_account_sync(employee=form.instance)


# --- Questions and surveys --------------------------------------------------------------


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["code", "dimension", "scale", "reverse_scored", "optional", "active", "text"]
    list_filter = ["dimension", "scale", "optional", "active"]
    search_fields = ["code", "text"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "dimension",
                    "text",
                    "translations",
                    "scale",
                    "reverse_scored",
                    "optional",
                    "active",
                ],
                "description": _(
                    "Questions of the built-in bank are shown in each employee's language. If you change "
                    "their text, everyone sees your wording as written, untranslated."
                ),
            },
        )
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Question | None = None) -> list[str]:
        readonly = ["translations"]
        if obj is not None:
            # Answers, the API and exports refer to the code.
            readonly.append("code")
            if Answer.objects.filter(question=obj).exists():
                # Changing these would silently change the meaning of answers already given.
                readonly += ["dimension", "scale", "reverse_scored"]
        return readonly

    @admin.display(description=_("as shown to employees"))
    def translations(self, question: Question) -> str:
        if question.pk is None:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "", "<li>{}: {}</li>", ((name, question_text(question, code)) for code, name in settings.LANGUAGES)
            ),
        )


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    fields = ["position", "question"]
    ordering = ["position", "id"]
    autocomplete_fields = ["question"]
    extra = 1


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "comment_enabled", "question_count"]
    search_fields = ["name", "slug"]
    inlines = [SurveyQuestionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Survey]:
        return super().get_queryset(request).annotate(question_count=Count("items"))

    def get_readonly_fields(self, request: HttpRequest, obj: Survey | None = None) -> list[str]:
        # The slug names the survey in the CLI (launch_wave --survey) and the API.
        return ["slug"] if obj is not None else []

    def get_prepopulated_fields(self, request: HttpRequest, obj: Survey | None = None) -> dict[str, tuple[str, ...]]:
        return {} if obj is not None else {"slug": ("name",)}

    @admin.display(description=_("questions"), ordering="question_count")
    def question_count(self, survey: Survey) -> int:
        return survey.question_count


# --- Schedules and waves ---------------------------------------------------------------


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [
            "name",
            "survey",
            "teams",
            "cadence",
            "weekday",
            "send_time",
            "days_open",
            "remind_after_days",
            "starts_on",
            "active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("active", True) and "teams" in cleaned:
            teams = list(cleaned["teams"])
            invited = audience_size(teams=teams)
            if invited < settings.PULSE_MIN_RESPONDENTS:
                where = ", ".join(team.path for team in teams) if teams else str(_("the organisation"))
                raise forms.ValidationError(audience_too_small_message(invited=invited, where=where))
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "survey", "cadence", "weekday", "send_time", "days_open", "audience", "active"]
    list_filter = ["cadence", "active"]
    search_fields = ["name"]
    list_select_related = ["survey"]
    autocomplete_fields = ["survey", "teams"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description=_("audience"))
    def audience(self, schedule: Schedule) -> str:
        paths = [team.path for team in schedule.teams.all()]
        return "; ".join(paths) if paths else str(_("Whole organisation"))


def _zone_or_utc(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zone_get(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _rendered(response: Any) -> Any:
    # The admin answers with a TemplateResponse, rendered after the view returns: render it
    # while the staff user's time zone is still active.
    if isinstance(response, TemplateResponse) and not response.is_rendered:
        response.render()
    return response


@admin.register(Wave)
class WaveAdmin(admin.ModelAdmin):
    list_display = ["__str__", "survey", "audience", "opens_on", "closes", "status", "sealed", "participation"]
    list_filter = ["status", "survey"]
    list_select_related = ["survey"]
    date_hierarchy = "opens_on"
    # Only the end and the reminder can be adjusted by hand; everything else is what the
    # wave was launched with (the thresholds above all: DESIGN.md, Anonymity 6), and the
    # status moves only through close_wave, which also seals the responses.
    readonly_fields = [
        "survey",
        "schedule",
        "audience",
        "opens_on",
        "status",
        "send_time",
        "min_respondents",
        "min_comment_respondents",
        "created_at",
        "closed_at",
        "sealed",
        "participation",
    ]
    fields = ["closes_at", "remind_after_days", *readonly_fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Wave]:
        # Counts over the whole wave only (which invites at least k people), never who
        # responded: live from the invitations while the wave is open; after the seal, which
        # clears the invitations' marks, from the counts it kept.
        kept = (
            WaveParticipation.objects.filter(wave=OuterRef("pk"))
            .order_by()
            .values("wave")
            .annotate(total=Sum("responded"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("teams")
            .annotate(
                invited=Count("invitations"),
                responded_live=Count("invitations", filter=Q(invitations__responded=True)),
                responded_sealed=Subquery(kept),
            )
        )

    # Times are read and entered in the staff user's own time zone, named beside them: a bare
    # "March 9, 10 a.m." in UTC reads as local time to most people.
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        with timezone.override(_zone_or_utc(user_time_zone(request.user))):
            return _rendered(super().changelist_view(request, extra_context))

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        with timezone.override(_zone_or_utc(user_time_zone(request.user))):
            return _rendered(super().changeform_view(request, object_id, form_url, extra_context))

    def get_form(self, request: HttpRequest, obj: Wave | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "closes_at" in form.base_fields:
            form.base_fields["closes_at"].help_text = _("In %(zone)s (your time zone).") % {
                "zone": timezone.get_current_timezone_name()
            }
        return form

    @admin.display(description=_("closes"), ordering="closes_at")
    def closes(self, wave: Wave) -> str:
        return closing_time_display(wave.closes_at, timezone.get_current_timezone_name())

    @admin.display(description=_("audience"))
    def audience(self, wave: Wave) -> str:
        paths = sorted(team.path for team in wave.teams.all())
        return "; ".join(paths) if paths else str(_("Whole organisation"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A wave is launched by a schedule or `launch_wave`, which also invite its audience;
        # a wave added here would have nobody to ask.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Wave | None = None) -> bool:
        # Only a wave that hasn't opened yet may go; an open or closed one is history.
        if obj is not None and obj.status != Wave.Status.SCHEDULED:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The bulk delete would not check each wave's status.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description=_("responded / invited"))
    def participation(self, wave: Wave) -> str:
        responded = (wave.responded_sealed or 0) if wave.sealed else wave.responded_live
        return f"{responded}/{wave.invited}"
