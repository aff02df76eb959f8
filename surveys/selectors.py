"""Reads of the write side, with the access rules in one place.

``analytics`` reads ``surveys`` through this module only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from .emails import closing_time_display
from .models import (
    TEAM_PATH_SEPARATOR,
    Answer,
    Comment,
    Employee,
    Invitation,
    Question,
    Response,
    SurveyQuestion,
    Team,
    Wave,
    WaveParticipation,
    WaveTeam,
)


def user_is_hr(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    employee = getattr(user, "employee", None)
    return bool(employee and employee.role == Employee.Role.HR and employee.active)


def user_managed_roots(user: AbstractBaseUser | AnonymousUser) -> list[Team]:
    """The teams a manager manages directly (each brings its subtree)."""
    if not user.is_authenticated or not user.is_active:
        return []
    employee = getattr(user, "employee", None)
    if not employee or not employee.active or employee.role != Employee.Role.MANAGER:
        return []
    return list(employee.manages.all())


def user_time_zone(user: AbstractBaseUser | AnonymousUser) -> str:
    """The time zone a staff user reads times in: their own as an employee (username = e-mail),
    else the server's (UTC)."""
    username = getattr(user, "username", "") or ""
    zone = (
        Employee.objects.filter(email__iexact=username).values_list("timezone", flat=True).first() if username else None
    )
    return zone or settings.TIME_ZONE


def teams_subtree_q(roots: list[Team], prefix: str = "") -> Q:
    """Teams at or below any of ``roots``; matches nothing when ``roots`` is empty."""
    if not roots:
        return Q(pk__in=[])
    return reduce(or_, (root.subtree_q(prefix) for root in roots))


def teams_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    """HR sees every team, a manager the subtrees they manage, anyone else none."""
    if user_is_hr(user):
        return Team.objects.all()
    return Team.objects.filter(teams_subtree_q(user_managed_roots(user)))


def teams_around(*, user: AbstractBaseUser | AnonymousUser, team: Team) -> QuerySet[Team]:
    """The visible teams a team picker shows around ``team``, by path: the user's top teams, every
    team on the way down to ``team`` with its children, and ``team``'s own children.

    As many as the tree is deep times its fan-out, whatever the size of the organisation: a picker
    of every team would list thousands to HR.
    """
    parts = team.path.split(TEAM_PATH_SEPARATOR)
    way = [TEAM_PATH_SEPARATOR.join(parts[: i + 1]) for i in range(len(parts))]
    tops = Q(parent__isnull=True) if user_is_hr(user) else Q(pk__in=[r.pk for r in user_managed_roots(user)])
    return teams_visible_to(user).filter(tops | Q(path__in=way) | Q(parent__path__in=way)).order_by("path")


def team_get_for_user(*, user: AbstractBaseUser | AnonymousUser, team_id: int) -> Team:
    """The team, or 404 for a team the user may not see: a caller never learns it exists."""
    team = teams_visible_to(user).filter(pk=team_id).first()
    if team is None:
        raise Http404("No such team.")
    return team


def teams_with_headcount(teams: QuerySet[Team]) -> QuerySet[Team]:
    return teams.annotate(headcount=Count("members", filter=Q(members__active=True))).order_by("path")


def waves_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Wave]:
    """HR sees every wave; a manager the waves that invited anyone in their subtrees."""
    waves = Wave.objects.select_related("survey")
    if user_is_hr(user):
        return waves.all()
    roots = user_managed_roots(user)
    if not roots:
        return waves.none()
    return waves.filter(invitations__team__in=Team.objects.filter(teams_subtree_q(roots))).distinct()


def employees_in_subtrees(roots: list[Team]) -> QuerySet[Employee]:
    return Employee.objects.filter(teams_subtree_q(roots, prefix="team__"))


# --- for the read side (analytics) -------------------------------------------------------------


@dataclass(frozen=True)
class SealedWaveTables:
    """Quoted table names for analytics' SQL over a sealed wave's responses."""

    answer: str
    response: str
    question: str
    wave_team: str


def sealed_wave_tables(*, wave_id: int) -> SealedWaveTables | None:
    """The tables to aggregate a sealed wave from; None while the wave is not sealed."""
    if not Wave.objects.filter(pk=wave_id, sealed=True).exists():
        return None
    quote = connection.ops.quote_name
    return SealedWaveTables(
        answer=quote(Answer._meta.db_table),
        response=quote(Response._meta.db_table),
        question=quote(Question._meta.db_table),
        wave_team=quote(WaveTeam._meta.db_table),
    )


@dataclass(frozen=True)
class FrozenTeam:
    """A team as the seal froze it for one wave: its parent, path, own invitees and answer group."""

    team: int
    parent: int | None
    path: str
    invited: int
    group: int | None


def wave_frozen_tree(*, wave_id: int) -> list[FrozenTeam]:
    return [
        FrozenTeam(team=t, parent=p, path=path, invited=n, group=g)
        for t, p, path, n, g in WaveTeam.objects.filter(wave_id=wave_id)
        .order_by("path")
        .values_list("team_id", "parent_id", "path", "invited", "group_id")
    ]


def waves_frozen_parents() -> list[tuple[int, int, int | None]]:
    """Every sealed wave's frozen tree as (wave, team, parent): where each team sat when that wave
    was sealed (trends shrink toward, and risk counts departures up, this tree)."""
    return list(WaveTeam.objects.filter(wave__sealed=True).values_list("wave_id", "team_id", "parent_id"))


def wave_participation(*, wave_id: int) -> dict[int | None, tuple[int, int]]:
    """Sealed wave: {group (None: the wave as a whole): (invited, responded)} as the seal kept them."""
    return {
        team: (invited, responded)
        for team, invited, responded in WaveParticipation.objects.filter(wave_id=wave_id).values_list(
            "team_id", "invited", "responded"
        )
    }


def wave_live_participation(*, wave_id: int) -> dict[int, tuple[int, int]]:
    """Open wave: {team at launch: (invited, responded so far)} from the invitations."""
    rows = (
        Invitation.objects.filter(wave_id=wave_id)
        .values("team_id")
        .annotate(invited=Count("id"), responded=Count("id", filter=Q(responded=True)))
        .values_list("team_id", "invited", "responded")
    )
    return {team: (invited, responded) for team, invited, responded in rows}


def wave_comments(*, wave_id: int) -> list[tuple[int | None, str]]:
    """Sealed wave: every comment with its group, in the random order the seal wrote them."""
    return list(Comment.objects.filter(wave_id=wave_id).values_list("team_id", "text"))


def waves_comments(*, wave_ids: list[int]) -> dict[int, list[tuple[int | None, str]]]:
    """Sealed waves: {wave: [(group, comment), ...]} in the random order the seal wrote them."""
    out: dict[int, list[tuple[int | None, str]]] = {pk: [] for pk in wave_ids}
    for wave, group, text in Comment.objects.filter(wave_id__in=wave_ids).values_list("wave_id", "team_id", "text"):
        out[wave].append((group, text))
    return out


def waves_subtree_comments(*, wave_ids: list[int], team_id: int) -> dict[int, list[str]]:
    """Sealed waves: {wave: [comment, ...]} of the comments attributed inside the team's subtree as
    each wave's seal froze it, in the random order the seal wrote them. Reads the subtree's
    comments only, not the whole wave's: two queries whatever the size of the organisation."""
    out: dict[int, list[str]] = {pk: [] for pk in wave_ids}
    frozen = dict(WaveTeam.objects.filter(wave_id__in=wave_ids, team_id=team_id).values_list("wave_id", "path"))
    if not frozen:
        return out
    inside = reduce(
        or_,
        (
            Q(
                wave_id=wave,
                team_id__in=WaveTeam.objects.filter(
                    Q(path=path) | Q(path__startswith=path + TEAM_PATH_SEPARATOR), wave_id=wave
                ).values("team_id"),
            )
            for wave, path in frozen.items()
        ),
    )
    for wave, text in Comment.objects.filter(inside).values_list("wave_id", "text"):
        out[wave].append(text)
    return out


def waves_frozen_children(*, wave_ids: list[int]) -> dict[int, dict[int | None, list[int]]]:
    """Sealed waves: {wave: {parent: [teams]}} of each wave's frozen tree."""
    out: dict[int, dict[int | None, list[int]]] = {pk: {} for pk in wave_ids}
    rows = WaveTeam.objects.filter(wave_id__in=wave_ids).values_list("wave_id", "team_id", "parent_id")
    for wave, team, parent in rows:
        out[wave].setdefault(parent, []).append(team)
    return out


def waves_sealed() -> QuerySet[Wave]:
    """Sealed waves, oldest first: the points of every trend."""
    return Wave.objects.filter(sealed=True).select_related("survey").order_by("opens_on", "closed_at", "pk")


def wave_get(*, wave_id: int) -> Wave | None:
    return Wave.objects.select_related("survey").filter(pk=wave_id).first()


def teams_tree() -> list[tuple[int, int | None, str]]:
    """Every team as it is now: (id, parent, path)."""
    return list(Team.objects.order_by("path").values_list("pk", "parent_id", "path"))


def departures_by_team(*, reason: str | None = "voluntary") -> list[tuple[int, date]]:
    """Recorded departures (the leaver's team, the day they left), for the risk model."""
    leavers = Employee.objects.filter(left_on__isnull=False)
    if reason:
        leavers = leavers.filter(left_reason=reason)
    return list(leavers.values_list("team_id", "left_on"))


def headcount_by_team() -> dict[int, int]:
    rows = Employee.objects.filter(active=True).values("team_id").annotate(n=Count("id")).values_list("team_id", "n")
    return dict(rows)


def dimension_scales() -> dict[str, tuple[int, int]]:
    """Each dimension's answer range (min, max); a dimension asked on 0–10 anywhere counts as 0–10."""
    scales: dict[str, tuple[int, int]] = {}
    for dimension, scale in Question.objects.values_list("dimension", "scale").distinct():
        low, high = Question.SCALE_RANGE[scale]
        if dimension not in scales or high > scales[dimension][1]:
            scales[dimension] = (low, high)
    return scales


def surveys_dimensions(*, survey_ids: list[int]) -> dict[int, set[str]]:
    """{survey: the dimensions it asks about}, in one query."""
    out: dict[int, set[str]] = {pk: set() for pk in survey_ids}
    rows = SurveyQuestion.objects.filter(survey_id__in=survey_ids).values_list("survey_id", "question__dimension")
    for survey, dimension in rows.distinct():
        out[survey].add(dimension)
    return out


def survey_dimensions(*, survey_id: int) -> list[str]:
    """The dimensions a survey asks about, in the order of its questions."""
    dims = (
        SurveyQuestion.objects.filter(survey_id=survey_id)
        .order_by("position", "id")
        .values_list("question__dimension", flat=True)
    )
    return list(dict.fromkeys(dims))


# --- digest recipients (analytics/digests.py) -------------------------------------------------


def users_managing() -> list[AbstractBaseUser]:
    """Active managers with a login and at least one team they manage, by e-mail."""
    employees = (
        Employee.objects.filter(role=Employee.Role.MANAGER, active=True, user__is_active=True, manages__isnull=False)
        .select_related("user")
        .distinct()
        .order_by("email")
    )
    return [employee.user for employee in employees]


def users_hr() -> list[AbstractBaseUser]:
    """Everyone who sees the whole organisation (``user_is_hr``) and has an address: HR with a
    login, and superusers."""
    hr = Employee.objects.filter(role=Employee.Role.HR, active=True, user__is_active=True).select_related("user")
    users = {employee.user.pk: employee.user for employee in hr}
    User = get_user_model()
    for user in User.objects.filter(is_superuser=True, is_active=True).exclude(email=""):
        users.setdefault(user.pk, user)
    return sorted(users.values(), key=lambda user: (user.email or user.get_username()).lower())


def user_locale(user: AbstractBaseUser) -> str:
    """The locale of the user's employee row (linked, else found by e-mail); "" when there is none."""
    employee = Employee.objects.filter(user=user).first()
    if employee is None and user.email:
        employee = Employee.objects.filter(email__iexact=user.email).first()
    return employee.locale if employee else ""


def wave_closing_text(*, closes_at: datetime, zone_name: str) -> str:
    """When a wave closes, in ``zone_name``, as its invitations and the admin say it."""
    return closing_time_display(closes_at, zone_name)


def user_reading_locale(user: AbstractBaseUser) -> str:
    """``user_locale`` in one query (it runs on every logged-in page): the linked employee row's
    locale, else the one found by e-mail; "" when there is none."""
    address = user.email or user.get_username()
    mine = Q(user=user) | Q(email__iexact=address) if address else Q(user=user)
    rows = Employee.objects.filter(mine)
    linked_first = rows.order_by(F("user").asc(nulls_last=True)).values_list("locale", flat=True)
    return linked_first.first() or ""
