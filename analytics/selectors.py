"""What readers get: released values only, as value objects that carry the gate's decision.

Views, the API, exports, e-mails and commands call this module and nothing else of the read
side. Everything it returns comes from the gate's stored releases (analytics/anonymity.py);
a suppressed number is ``Released(None, reason)``, so it can't be printed by mistake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Collate
from django.http import Http404
from django.utils.translation import gettext, ngettext

from surveys import selectors as surveys
from surveys.models import Question, Team, Wave

from . import anonymity
from .models import DimensionRelease, ExportAudit, GroupRelease, Suppression, TeamRisk, TeamTrend

DIMENSION_ORDER = [value for value, _ in Question.Dimension.choices]
_DIMENSION_RANK = {dimension: rank for rank, dimension in enumerate(DIMENSION_ORDER)}
COMPOSITE = "composite"  # the engagement index over the dimensions


@dataclass(frozen=True)
class Released:
    value: float | None
    reason: str | None = None

    @property
    def suppressed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class DimensionResult:
    dimension: str
    respondents: int | None
    mean: Released
    favorable: Released
    enps: Released | None = None

    @property
    def suppressed(self) -> bool:
        return self.mean.suppressed


@dataclass(frozen=True)
class TeamResult:
    team: int
    wave: int
    wave_status: str
    invited: Released
    responded: Released
    reason: str | None
    dimensions: tuple[DimensionResult, ...]

    @property
    def suppressed(self) -> bool:
        return not any(not d.suppressed for d in self.dimensions)


def reason_text(code: str, *, wave: Wave, group_path: str | None = None) -> str:
    """The reason a reader sees, in words, with the wave's thresholds."""
    k, kc = wave.min_respondents, wave.min_comment_respondents
    if code == Suppression.FEW_ANSWERS:
        return ngettext("fewer than %(k)d answer", "fewer than %(k)d answers", k) % {"k": k}
    if code == Suppression.FEW_INVITED:
        return ngettext("fewer than %(k)d person invited", "fewer than %(k)d people invited", k) % {"k": k}
    if code in (Suppression.COMPLEMENT, Suppression.AUDIT):
        return gettext("hidden so that a smaller group can't be worked out")
    if code == Suppression.UPWARD:
        where = group_path or gettext("the whole wave")
        return gettext(
            "this team's answers are counted with %(group)s, so that every group holds at least %(k)d; "
            "it has no results of its own for this wave"
        ) % {"k": k, "group": where}
    if code == Suppression.PARTIAL:
        where = group_path or gettext("the whole wave")
        return gettext(
            "answers of a team inside this one are counted with %(group)s, so that every group holds at "
            "least %(k)d; this team's own total can't be shown for this wave"
        ) % {"k": k, "group": where}
    if code == Suppression.NO_ANSWERS:
        return gettext("nobody answered")
    if code == Suppression.NOT_SURVEYED:
        return gettext("this team was not part of this wave")
    if code == Suppression.OPEN:
        return gettext("results appear when the wave closes")
    if code == Suppression.DISCARDED:
        return gettext("fewer than %(k)d answered the whole wave, so no results are kept") % {"k": k}
    if code == "comments":
        return ngettext("comments need at least %(k)d answer", "comments need at least %(k)d answers", kc) % {"k": kc}
    return gettext("not shown")


def wave_get_for_user(*, user: AbstractBaseUser | AnonymousUser, wave_id: int) -> Wave:
    wave = surveys.waves_visible_to(user).filter(pk=wave_id).first()
    if wave is None:
        raise Http404("No such wave.")
    return wave


def team_results(*, user: AbstractBaseUser | AnonymousUser, team_id: int, wave_id: int) -> TeamResult:
    """A team's results in one wave, as released; 404 for a team or wave the user may not see."""
    team = surveys.team_get_for_user(user=user, team_id=team_id)
    wave = wave_get_for_user(user=user, wave_id=wave_id)
    if wave.status != Wave.Status.CLOSED:
        return _open_wave_result(team=team, wave=wave)
    release = GroupRelease.objects.filter(wave=wave, team=team).select_related("group").first()
    if release is None:
        reason = Suppression.NOT_SURVEYED if wave.sealed and _released(wave) else Suppression.OPEN
        return _empty(team=team, wave=wave, reason=reason_text(reason, wave=wave))
    return _closed_wave_result(team=team, wave=wave, release=release)


def _released(wave: Wave) -> bool:
    return GroupRelease.objects.filter(wave=wave).exists()


def _empty(
    *, team: Team, wave: Wave, reason: str, invited: Released | None = None, responded: Released | None = None
) -> TeamResult:
    hidden = Released(None, reason)
    return TeamResult(
        team=team.pk,
        wave=wave.pk,
        wave_status=wave.status,
        invited=invited or hidden,
        responded=responded or hidden,
        reason=reason,
        dimensions=(),
    )


def _closed_wave_result(*, team: Team, wave: Wave, release: GroupRelease) -> TeamResult:
    if release.state == GroupRelease.State.UPWARD and wave.responses_discarded and release.group_id is None:
        return _empty(team=team, wave=wave, reason=reason_text(Suppression.DISCARDED, wave=wave))
    if release.state == GroupRelease.State.UPWARD:
        code = release.participation_reason or Suppression.UPWARD
        reason = reason_text(code, wave=wave, group_path=release.group.path if release.group else None)
        return _empty(team=team, wave=wave, reason=reason)
    participation_reason = (
        reason_text(release.participation_reason, wave=wave) if release.participation_reason else None
    )
    invited = Released(release.invited, participation_reason)
    responded = Released(release.responded, participation_reason)
    if release.state == GroupRelease.State.NONE:
        return _empty(
            team=team,
            wave=wave,
            reason=reason_text(Suppression.NO_ANSWERS, wave=wave),
            invited=invited,
            responded=responded,
        )
    dimensions = _dimension_results(wave=wave, releases=DimensionRelease.objects.filter(wave=wave, team=team))
    if wave.responses_discarded and not dimensions:
        return _empty(
            team=team,
            wave=wave,
            reason=reason_text(Suppression.DISCARDED, wave=wave),
            invited=invited,
            responded=responded,
        )
    shown = [d for d in dimensions if not d.suppressed]
    reason = (
        None if shown else (dimensions[0].mean.reason if dimensions else reason_text(Suppression.NO_ANSWERS, wave=wave))
    )
    return TeamResult(
        team=team.pk,
        wave=wave.pk,
        wave_status=wave.status,
        invited=invited,
        responded=responded,
        reason=reason,
        dimensions=dimensions,
    )


def _dimension_results(*, wave: Wave, releases: Iterable[DimensionRelease]) -> tuple[DimensionResult, ...]:
    results = []
    for release in sorted(releases, key=lambda r: _dimension_rank(r.dimension)):
        reason = reason_text(release.reason, wave=wave) if release.reason else None
        results.append(
            DimensionResult(
                dimension=release.dimension,
                respondents=release.respondents,
                mean=Released(release.mean, reason),
                favorable=Released(release.favorable, reason),
                enps=Released(release.enps, reason) if release.dimension == Question.Dimension.ENPS else None,
            )
        )
    return tuple(results)


def _dimension_rank(dimension: str) -> tuple[int, str]:
    return (_DIMENSION_RANK.get(dimension, len(DIMENSION_ORDER)), dimension)


def _open_wave_result(*, team: Team, wave: Wave) -> TeamResult:
    """While a wave is open only participation is released: for groups with at least k invited,
    under the complement rule, over the tree as it is now."""
    invited, responded, decision = anonymity.live_participation_release(wave_id=wave.pk, k=wave.min_respondents)
    open_reason = reason_text(Suppression.OPEN, wave=wave)
    if not invited.get(team.pk):
        return _empty(team=team, wave=wave, reason=reason_text(Suppression.NOT_SURVEYED, wave=wave))
    code = decision.reasons.get(team.pk, Suppression.FEW_INVITED)
    if code is None:
        shown_invited, shown_responded = Released(invited[team.pk]), Released(responded.get(team.pk, 0))
    else:
        shown_invited = shown_responded = Released(None, reason_text(code, wave=wave))
    result = _empty(team=team, wave=wave, reason=open_reason, invited=shown_invited, responded=shown_responded)
    return replace(result, dimensions=_open_dimensions(wave, open_reason))


def _open_dimensions(wave: Wave, reason: str) -> tuple[DimensionResult, ...]:
    hidden = Released(None, reason)
    return tuple(
        DimensionResult(
            dimension=dimension,
            respondents=None,
            mean=hidden,
            favorable=hidden,
            enps=hidden if dimension == Question.Dimension.ENPS else None,
        )
        for dimension in surveys.survey_dimensions(survey_id=wave.survey_id)
    )


# --- trends and risk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    wave: int
    opens_on: object
    mean: Released
    shrunk: float | None = None


@dataclass(frozen=True)
class Trend:
    direction: str
    slope: float | None
    p_value: float | None
    q_value: float | None = None
    min_detectable: float | None = None


@dataclass(frozen=True)
class DimensionTrend:
    dimension: str
    points: tuple[TrendPoint, ...]
    trend: Trend


def team_trends(*, user: AbstractBaseUser | AnonymousUser, team_id: int) -> list[DimensionTrend]:
    """The released points of every sealed wave that surveyed the team, and its latest trend per dimension."""
    team = surveys.team_get_for_user(user=user, team_id=team_id)
    waves = {w.pk: w for w in surveys.waves_sealed()}
    points: dict[str, list[TrendPoint]] = defaultdict(list)
    trends = {t.dimension: t for t in TeamTrend.objects.filter(team=team)}
    releases = DimensionRelease.objects.filter(team=team, wave__in=list(waves)).order_by()
    for release in sorted(releases, key=lambda r: (waves[r.wave_id].opens_on, r.wave_id)):
        wave = waves[release.wave_id]
        shrunk = trends.get(release.dimension)
        points[release.dimension].append(
            TrendPoint(
                wave=wave.pk,
                opens_on=wave.opens_on,
                mean=Released(release.mean, reason_text(release.reason, wave=wave) if release.reason else None),
                shrunk=(shrunk.shrunk or {}).get(str(wave.pk)) if shrunk else None,
            )
        )
    out = []
    for dimension in sorted(points, key=_dimension_rank):
        stored = trends.get(dimension)
        trend = (
            Trend(stored.direction, stored.slope, stored.p_value, stored.q_value, stored.min_detectable)
            if stored
            else Trend("insufficient_data", None, None)
        )
        out.append(DimensionTrend(dimension=dimension, points=tuple(points[dimension]), trend=trend))
    return out


@dataclass(frozen=True)
class RiskFlag:
    team: int
    path: str
    level: str
    score: float | None
    reasons: tuple[str, ...]


def risks_for(*, user: AbstractBaseUser | AnonymousUser) -> list[RiskFlag]:
    """Every visible team's risk, highest first."""
    visible = surveys.teams_visible_to(user)
    risks = TeamRisk.objects.filter(team__in=visible).select_related("team")
    flags = [
        RiskFlag(team=r.team_id, path=r.team.path, level=r.level, score=r.score, reasons=tuple(r.reasons))
        for r in risks
    ]
    rank = {"high": 0, "elevated": 1, "low": 2, "insufficient_data": 3}
    return sorted(flags, key=lambda f: (rank.get(f.level, 4), -(f.score or 0), f.path))


# --- exports -----------------------------------------------------------------------------------


class ExportFilterError(ValueError):
    """An export's filter names something that can't be exported; ``field`` is the filter's name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ExportScope:
    """What one export covers, checked: closed, released waves (oldest first) and team subtrees.

    ``user`` None is the command line's operator, who sees every team (as ``manage.py shell`` would);
    views and the API always pass the request's user. ``teams`` empty: every team the user may see.
    """

    user: AbstractBaseUser | AnonymousUser | None
    waves: tuple[Wave, ...]
    teams: tuple[Team, ...] = ()
    all_waves: bool = True  # no wave filter was given

    @property
    def filters(self) -> dict:
        """The filters as asked, for the audit log (empty lists: everything)."""
        return {
            "waves": [] if self.all_waves else [w.pk for w in self.waves],
            "teams": [t.pk for t in self.teams],
            "team_paths": [t.path for t in self.teams],
        }


class ExportRow(NamedTuple):
    """One team × wave × dimension of an export, as released; trend and risk are the team's current ones.

    Immutable like the other value objects here, but a NamedTuple rather than a frozen dataclass:
    an export makes one per row, and a NamedTuple is several times cheaper to create.
    """

    team: int
    team_path: str
    wave: int
    wave_opens_on: date
    dimension: str
    respondents: int | None
    mean: Released
    favorable: Released
    enps: Released | None  # the eNPS dimension only
    trend: Trend
    risk_level: str | None

    @property
    def suppressed(self) -> bool:
        return self.mean.suppressed

    @property
    def reason(self) -> str | None:
        return self.mean.reason


EXPORT_CHUNK = 2000  # rows per fetch: memory stays flat whatever the organisation's size
NO_TREND = Trend("insufficient_data", None, None)


def exportable_waves(*, user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Wave]:
    """Closed waves whose release is published, oldest first, among those the user may see."""
    waves = surveys.waves_sealed() if user is None else surveys.waves_visible_to(user).filter(sealed=True)
    released = GroupRelease.objects.filter(wave=OuterRef("pk"))
    return waves.filter(Exists(released), status=Wave.Status.CLOSED).order_by("opens_on", "pk")


def exportable_teams(*, user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Team]:
    return (Team.objects.all() if user is None else surveys.teams_visible_to(user)).order_by("path")


def export_scope(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    wave_ids: Iterable[int] = (),
    team_ids: Iterable[int] = (),
    team_paths: Iterable[str] = (),
) -> ExportScope:
    """Check an export's filters; ``ExportFilterError`` names the first bad one (nothing is exported)."""
    wave_ids, team_ids, team_paths = list(dict.fromkeys(wave_ids)), list(team_ids), list(team_paths)
    waves = exportable_waves(user=user)
    if wave_ids:
        found = {w.pk: w for w in waves.filter(pk__in=wave_ids)}
        missing = [str(pk) for pk in wave_ids if pk not in found]
        if missing:
            raise ExportFilterError(
                "waves",
                gettext("No closed wave with released results has the id %(ids)s.") % {"ids": ", ".join(missing)},
            )
        chosen = tuple(sorted(found.values(), key=lambda w: (w.opens_on, w.pk)))
    else:
        chosen = tuple(waves)
    teams = exportable_teams(user=user)
    roots = _teams_by(teams, "pk", list(dict.fromkeys(team_ids))) + _teams_by(teams, "path", team_paths)
    return ExportScope(user=user, waves=chosen, teams=tuple(dict.fromkeys(roots)), all_waves=not wave_ids)


def _teams_by(teams: QuerySet[Team], field: str, keys: list) -> list[Team]:
    if not keys:
        return []
    found = {getattr(t, field): t for t in teams.filter(**{f"{field}__in": keys})}
    missing = [str(key) for key in keys if key not in found]
    if missing:
        raise ExportFilterError("teams", gettext("No such team: %(teams)s.") % {"teams": ", ".join(missing)})
    return [found[key] for key in keys]


def export_rows(*, scope: ExportScope) -> Iterator[ExportRow]:
    """Every team × wave × dimension of the scope, ordered by team path, wave and dimension.

    Four queries whatever the organisation's size (group releases, dimension releases, trends,
    risks, each streamed in chunks in the same team order and merged here), plus one per survey
    of the waves for its dimensions. A team whose answers were counted with a larger group, or
    nobody answered in, gets one suppressed row per dimension of the wave, with the reason.
    """
    waves = {w.pk: w for w in scope.waves}
    if not waves:
        return
    dimensions = _wave_dimensions(scope.waves)
    mine = Q(wave_id__in=list(waves), team__isnull=False)
    if scope.teams or not (scope.user is None or surveys.user_is_hr(scope.user)):
        teams = exportable_teams(user=scope.user)
        if scope.teams:
            teams = teams.filter(surveys.teams_subtree_q(list(scope.teams)))
        mine &= Q(team__in=teams.order_by().values("pk"))
    by_team = (_path_order(), "team_id")
    by_team_wave = (*by_team, "wave__opens_on", "wave_id")
    groups = (
        GroupRelease.objects.filter(mine)
        .order_by(*by_team_wave)
        .values_list("team_id", "team__path", "wave_id", "state", "group_id", "group__path", "participation_reason")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    # Every dimension release has its team's group release (the gate writes both): the merge
    # below takes them in step, and the check at the end makes sure it did.
    releases = _Ahead(
        DimensionRelease.objects.filter(mine)
        .order_by(*by_team_wave, "dimension")
        .values_list("team_id", "wave_id", "dimension", "respondents", "mean", "favorable", "enps", "reason")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    exported = Exists(GroupRelease.objects.filter(mine, team_id=OuterRef("team_id")))
    trends = _Ahead(
        TeamTrend.objects.filter(exported)
        .order_by(*by_team, "dimension")
        .values_list("team_id", "dimension", "direction", "slope", "p_value", "q_value", "min_detectable")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    risks = _Ahead(
        TeamRisk.objects.filter(exported).order_by(*by_team).values_list("team_id", "level").iterator(EXPORT_CHUNK)
    )
    reasons, released = _ReasonTexts(), _ReleasedValues()
    team_id, team_trends, risk_level = None, {}, None
    for team, path, wave_id, state, group, group_path, participation_reason in groups:
        if team != team_id:  # the trend and risk streams hold only this stream's teams, in its order
            team_id = team
            team_trends = {row[1]: Trend(*row[2:]) for row in _rows_of(trends, team)}
            risk_level = next(iter([level for _, level in _rows_of(risks, team)]), None)
        wave = waves[wave_id]
        stored = []
        while (head := releases.head) is not _Ahead.END and head[0] == team and head[1] == wave_id:
            stored.append(releases.take())
        if stored and state == GroupRelease.State.RESULTS:
            stored.sort(key=lambda r: _dimension_rank(r[2]))
            for _, _, dimension, respondents, mean, favorable, enps, reason in stored:
                text = reasons.get(reason, wave) if reason else None
                yield ExportRow(
                    team=team,
                    team_path=path,
                    wave=wave_id,
                    wave_opens_on=wave.opens_on,
                    dimension=dimension,
                    respondents=respondents,
                    mean=released.get(mean, text),
                    favorable=released.get(favorable, text),
                    enps=released.get(enps, text) if dimension == Question.Dimension.ENPS else None,
                    trend=team_trends.get(dimension, NO_TREND),
                    risk_level=risk_level,
                )
            continue
        hidden = Released(None, reasons.get(_group_reason(wave, state, group, participation_reason), wave, group_path))
        for dimension in dimensions[wave.survey_id]:
            yield ExportRow(
                team=team,
                team_path=path,
                wave=wave_id,
                wave_opens_on=wave.opens_on,
                dimension=dimension,
                respondents=None,
                mean=hidden,
                favorable=hidden,
                enps=hidden if dimension == Question.Dimension.ENPS else None,
                trend=team_trends.get(dimension, NO_TREND),
                risk_level=risk_level,
            )
    if releases.head is not _Ahead.END:
        raise RuntimeError(f"a dimension release without its group release: {releases.head[:3]}")


def _path_order() -> Collate | F:
    """Team paths in byte order on every backend (SQLite's default): a team's subtree stays together."""
    return Collate("team__path", "C") if connection.vendor == "postgresql" else F("team__path")


def _group_reason(wave: Wave, state: str, group: int | None, participation_reason: str) -> str:
    """Why a team has no values of its own in a wave (as ``team_results`` says it)."""
    if state == GroupRelease.State.UPWARD:
        if wave.responses_discarded and group is None:
            return Suppression.DISCARDED
        return participation_reason or Suppression.UPWARD
    if state == GroupRelease.State.RESULTS and wave.responses_discarded:
        return Suppression.DISCARDED
    return Suppression.NO_ANSWERS


def _wave_dimensions(waves: Iterable[Wave]) -> dict[int, list[str]]:
    surveys_of = {w.survey_id for w in waves}
    found = {survey: surveys.survey_dimensions(survey_id=survey) for survey in sorted(surveys_of)}
    return {survey: sorted(dims, key=_dimension_rank) for survey, dims in found.items()}


class _ReasonTexts:
    """``reason_text`` once per code, wave and group: an export repeats the same few reasons.
    Bounded, so that memory stays flat (a reason can name the group a team's answers went to)."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._texts: dict[tuple, str] = {}

    def get(self, code: str, wave: Wave, group_path: str | None = None) -> str:
        key = (code, wave.pk, group_path if code in (Suppression.UPWARD, Suppression.PARTIAL) else None)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= self.LIMIT:
                self._texts.clear()
            text = self._texts[key] = reason_text(code, wave=wave, group_path=group_path)
        return text


class _ReleasedValues:
    """``Released`` objects shared between rows with the same value and reason (they are immutable):
    most of an export's values repeat, and making one per cell is most of its cost. Bounded."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._made: dict[tuple, Released] = {}

    def get(self, value: float | None, reason: str | None) -> Released:
        key = (value, reason)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self.LIMIT:
                self._made.clear()
            made = self._made[key] = Released(value, reason)
        return made


class _Ahead:
    """An iterator of rows that can be looked at before they are taken (for a merge)."""

    END = object()

    def __init__(self, rows: Iterator[tuple]) -> None:
        self._rows = rows
        self.head = next(rows, self.END)

    def take(self) -> tuple:
        row, self.head = self.head, next(self._rows, self.END)
        return row


def _rows_of(stream: _Ahead, *key: int) -> Iterator[tuple]:
    """The rows at the head of ``stream`` whose first fields are ``key``."""
    width = len(key)
    while stream.head is not _Ahead.END and stream.head[:width] == key:
        yield stream.take()


def export_log() -> QuerySet[ExportAudit]:
    """Every export, newest first (HR's audit log)."""
    return ExportAudit.objects.order_by("-started_at", "-pk")
