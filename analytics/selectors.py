"""What readers get: released values only, as value objects that carry the gate's decision.

Views, the API, exports, e-mails and commands call this module and nothing else of the read
side. Everything it returns comes from the gate's stored releases (analytics/anonymity.py);
a suppressed number is ``Released(None, reason)``, so it can't be printed by mistake.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Case, Exists, F, Max, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Collate
from django.http import Http404
from django.utils.translation import gettext, ngettext

from surveys import selectors as surveys
from surveys.models import Question, Team, Wave

from . import anonymity
from .models import DimensionRelease, ExportAudit, GroupRelease, Suppression, TeamRisk, TeamTrend, WaveAnalysis
from .risk import reason_render

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
    if code == Suppression.PINNED:
        return gettext("hidden: it would say what each of its members answered")
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


def _without_results(
    *, team: Team, wave: Wave, reason: str, invited: Released | None = None, responded: Released | None = None
) -> TeamResult:
    """A surveyed team with no results of its own in a closed wave: every dimension of the survey
    listed, hidden, with the reason (as while the wave is open)."""
    result = _empty(team=team, wave=wave, reason=reason, invited=invited, responded=responded)
    return replace(result, dimensions=_hidden_dimensions(wave, reason))


def _closed_wave_result(*, team: Team, wave: Wave, release: GroupRelease) -> TeamResult:
    if release.state == GroupRelease.State.UPWARD and wave.responses_discarded and release.group_id is None:
        return _without_results(team=team, wave=wave, reason=reason_text(Suppression.DISCARDED, wave=wave))
    if release.state == GroupRelease.State.UPWARD:
        code = release.participation_reason or Suppression.UPWARD
        reason = reason_text(code, wave=wave, group_path=release.group.path if release.group else None)
        return _without_results(team=team, wave=wave, reason=reason)
    participation_reason = (
        reason_text(release.participation_reason, wave=wave) if release.participation_reason else None
    )
    invited = Released(release.invited, participation_reason)
    responded = Released(release.responded, participation_reason)
    if release.state == GroupRelease.State.NONE:
        return _without_results(
            team=team,
            wave=wave,
            reason=reason_text(Suppression.NO_ANSWERS, wave=wave),
            invited=invited,
            responded=responded,
        )
    dimensions = _dimension_results(wave=wave, releases=DimensionRelease.objects.filter(wave=wave, team=team))
    if wave.responses_discarded and not dimensions:
        return _without_results(
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
    return replace(result, dimensions=_hidden_dimensions(wave, open_reason))


def _hidden_dimensions(wave: Wave, reason: str) -> tuple[DimensionResult, ...]:
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


@dataclass(frozen=True)
class _TeamReleases:
    """What the gate stored about one team over every sealed wave that surveyed it (trends and the
    dashboard read the same): five queries whatever the history's length."""

    waves: dict[int, Wave]
    group_releases: dict[int, GroupRelease]
    by_dimension: dict[str, dict[int, DimensionRelease]]  # every dimension asked, even if never released
    surveyed: list[int]  # waves with a group release, oldest first
    asked: dict[int, set[str]]  # survey -> its dimensions
    trends: dict[str, TeamTrend]

    def dimensions(self) -> list[str]:
        return sorted(self.by_dimension, key=_dimension_rank)

    def points(self, dimension: str) -> tuple[WavePoint, ...]:
        return _wave_points(
            self.surveyed, self.waves, self.group_releases, self.by_dimension[dimension], self.asked, dimension
        )


def _team_releases(team: Team) -> _TeamReleases:
    waves = {w.pk: w for w in surveys.waves_sealed()}
    group_releases = {
        r.wave_id: r for r in GroupRelease.objects.filter(team=team, wave__in=list(waves)).select_related("group")
    }
    by_dimension: dict[str, dict[int, DimensionRelease]] = defaultdict(dict)
    for release in DimensionRelease.objects.filter(team=team, wave__in=list(waves)).order_by():
        by_dimension[release.dimension][release.wave_id] = release
    surveyed = sorted(group_releases, key=lambda pk: (waves[pk].opens_on, pk))
    asked = surveys.surveys_dimensions(survey_ids=sorted({waves[pk].survey_id for pk in surveyed}))
    for dimension in {d for dims in asked.values() for d in dims}:
        by_dimension.setdefault(dimension, {})
    trends = {t.dimension: t for t in TeamTrend.objects.filter(team=team)}
    return _TeamReleases(waves, group_releases, dict(by_dimension), surveyed, asked, trends)


def team_trends(*, user: AbstractBaseUser | AnonymousUser, team_id: int) -> list[DimensionTrend]:
    """A point for every sealed wave that surveyed the team on the dimension — its released value,
    or ``None`` with the reason (a team whose answers went upward has only such points) — and its
    latest trend per dimension."""
    team = surveys.team_get_for_user(user=user, team_id=team_id)
    history = _team_releases(team)
    trends = history.trends
    out = []
    for dimension in history.dimensions():
        stored = trends.get(dimension)
        shrunk = (stored.shrunk or {}) if stored else {}
        points = tuple(
            TrendPoint(wave=p.wave, opens_on=p.opens_on, mean=p.mean, shrunk=shrunk.get(str(p.wave)))
            for p in history.points(dimension)
            if p.asked
        )
        trend = (
            Trend(stored.direction, stored.slope, stored.p_value, stored.q_value, stored.min_detectable)
            if stored
            else Trend("insufficient_data", None, None)
        )
        out.append(DimensionTrend(dimension=dimension, points=points, trend=trend))
    return out


@dataclass(frozen=True)
class RiskFlag:
    team: int
    path: str
    level: str
    score: float | None
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return str(TeamRisk.Level(self.level).label) if self.level in TeamRisk.Level.values else self.level


RISK_RANK = {"high": 0, "elevated": 1, "low": 2, "insufficient_data": 3}


class RiskFlags:
    """Every visible team's risk, highest first, read a slice at a time: the API pages through the
    list, so a page costs its own rows, not the organisation's (``len`` is a COUNT)."""

    def __init__(self, risks: QuerySet[TeamRisk]) -> None:
        self._risks = risks

    def count(self) -> int:
        return self._risks.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[RiskFlag]:
        return [
            RiskFlag(
                team=r.team_id,
                path=r.team.path,
                level=r.level,
                score=r.score,
                reasons=tuple(map(reason_render, r.reasons)),
            )
            for r in self._risks[index]
        ]


def risks_ordered(*, user: AbstractBaseUser | AnonymousUser) -> RiskFlags:
    """Every visible team's risk, highest first: by level, then score (none counts as 0), then path
    (in code-point order, as Python compares strings, on every backend)."""
    rank = Case(*(When(level=level, then=Value(n)) for level, n in RISK_RANK.items()), default=Value(len(RISK_RANK)))
    path = Collate("team__path", "C") if connection.vendor == "postgresql" else F("team__path")
    risks = (
        TeamRisk.objects.filter(team__in=surveys.teams_visible_to(user))
        .select_related("team")
        .order_by(rank, Coalesce("score", Value(0.0)).desc(), path, "pk")
    )
    return RiskFlags(risks)


def risks_for(*, user: AbstractBaseUser | AnonymousUser) -> list[RiskFlag]:
    """Every visible team's risk, highest first."""
    return risks_ordered(user=user)[:]  # not list(): it would ask len() first, a COUNT


# --- dashboards --------------------------------------------------------------------------------
# What the manager dashboard and the HR pages show, from the stored releases only. A change or a
# composite value is computed from released values alone, so it reveals nothing the releases
# don't; where one of its inputs is hidden it is hidden too, with the reason.

QUARTER_DAYS = 91
COMMENT_WAVES = 3  # comments of the latest waves whose group clears the comment threshold


@dataclass(frozen=True)
class WavePoint:
    wave: int
    opens_on: object
    mean: Released
    favorable: Released
    respondents: int | None
    asked: bool = True  # False: the wave's survey had no question on this dimension


@dataclass(frozen=True)
class DimensionSummary:
    dimension: str
    label: str
    scale: tuple[int, int]
    points: tuple[WavePoint, ...]
    trend: Trend
    since_last: Released
    over_quarter: Released
    verdict: str

    @property
    def latest(self) -> WavePoint | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class WaveParticipation:
    wave: int
    opens_on: object
    closes_at: object
    status: str
    invited: Released
    responded: Released

    @property
    def rate(self) -> float | None:
        if self.invited.value and self.responded.value is not None:
            return self.responded.value / self.invited.value
        return None


@dataclass(frozen=True)
class WaveComments:
    wave: int
    opens_on: object
    survey: str  # the survey's name: two waves may open on the same day
    comments: tuple[str, ...]
    reason: str | None
    same_day: bool = False  # another listed wave of the same survey opened that day: name the wave's id too


@dataclass(frozen=True)
class TeamPage:
    """A team the user may see (the proof of access ``team_history`` asks for), the picker around
    it, its open waves' live participation and the stamp of the latest analysis."""

    team: Team
    teams: tuple[tuple[Team, int], ...]  # the picker: the visible teams around this one, (team, depth)
    open_waves: tuple[WaveParticipation, ...]
    stamp: str  # changes whenever an analysis publishes anything: the history's cache key


@dataclass(frozen=True)
class TeamHistory:
    """What the closed waves say about a team: the same for every reader until the next analysis."""

    dimensions: tuple[DimensionSummary, ...]  # the composite first, then the dimensions
    participation: tuple[WaveParticipation, ...]  # newest first
    risk: RiskFlag | None
    comments: tuple[WaveComments, ...]


def dimension_label(dimension: str) -> str:
    if dimension == COMPOSITE:
        return gettext("Engagement index")
    labels = dict(Question.Dimension.choices)
    return str(labels.get(dimension, dimension.replace("_", " ").capitalize()))


def team_page(*, user: AbstractBaseUser | AnonymousUser, team_id: int) -> TeamPage:
    """The live part of a team's page; 404 for a team the user may not see."""
    team = surveys.team_get_for_user(user=user, team_id=team_id)
    return TeamPage(
        team=team,
        teams=tuple(_depths(list(surveys.teams_around(user=user, team=team)))),
        open_waves=tuple(_open_participation(team=team, user=user)),
        stamp=analysis_stamp(),
    )


def analysis_stamp() -> str:
    """When an analysis last published anything (releases, trends, risk): every analysis ends by
    setting its waves' ``analysed_at``, and released values never change after."""
    latest = WaveAnalysis.objects.aggregate(latest=Max("analysed_at"))["latest"]
    return latest.isoformat() if latest else "none"


def team_history(*, page: TeamPage) -> TeamHistory:
    """Everything the closed waves released about the page's team, in a constant number of
    queries whatever the size of the organisation or its history."""
    team = page.team
    history = _team_releases(team)
    waves, group_releases, surveyed, trends = history.waves, history.group_releases, history.surveyed, history.trends
    scales = surveys.dimension_scales()
    dimensions = [
        _dimension_summary(
            dimension=dimension,
            scale=scales.get(dimension, (1, 5)),
            points=history.points(dimension),
            stored=trends.get(dimension),
        )
        for dimension in history.dimensions()
    ]
    composite = _composite_summary(dimensions, stored=trends.get(COMPOSITE))
    return TeamHistory(
        dimensions=tuple([composite, *dimensions] if composite else dimensions),
        participation=tuple(_closed_participation(waves[pk], group_releases[pk]) for pk in reversed(surveyed)),
        risk=_team_risk(team),
        comments=tuple(_team_comments(team=team, waves=[waves[pk] for pk in surveyed], releases=group_releases)),
    )


def _visible_tree(user: AbstractBaseUser | AnonymousUser) -> list[tuple[Team, int]]:
    return _depths(list(surveys.teams_visible_to(user).order_by("path")))


def _depths(teams: list[Team]) -> list[tuple[Team, int]]:
    """Each team with its depth below the topmost of them (teams ordered by path)."""
    top = min((t.depth for t in teams), default=0)
    return [(t, t.depth - top) for t in teams]


def _wave_points(
    surveyed: list[int],
    waves: dict[int, Wave],
    group_releases: dict[int, GroupRelease],
    releases: dict[int, DimensionRelease],
    asked_by_survey: dict[int, set[str]],
    dimension: str,
) -> tuple[WavePoint, ...]:
    points = []
    for pk in surveyed:
        wave, release = waves[pk], releases.get(pk)
        if release is None:
            group = group_releases[pk]
            asked = dimension in asked_by_survey.get(wave.survey_id, ())
            reason = _wave_reason(wave, group) if asked else gettext("not asked in this wave")
            hidden = Released(None, reason)
            points.append(WavePoint(pk, wave.opens_on, hidden, hidden, None, asked=asked))
            continue
        reason = reason_text(release.reason, wave=wave) if release.reason else None
        points.append(
            WavePoint(
                pk,
                wave.opens_on,
                Released(release.mean, reason),
                Released(release.favorable, reason),
                release.respondents,
            )
        )
    return tuple(points)


def _wave_reason(wave: Wave, release: GroupRelease) -> str:
    """Why a surveyed team has no value for a dimension in a wave (it has no release row)."""
    if release.state == GroupRelease.State.UPWARD:
        code = release.participation_reason or Suppression.UPWARD
        if wave.responses_discarded and release.group_id is None:
            code = Suppression.DISCARDED
        return reason_text(code, wave=wave, group_path=release.group.path if release.group else None)
    if release.state == GroupRelease.State.NONE:
        return reason_text(Suppression.NO_ANSWERS, wave=wave)
    return reason_text(Suppression.NO_ANSWERS, wave=wave)


def _change(points: tuple[WavePoint, ...], *, since: object | None) -> Released:
    """The latest released mean minus an earlier one: the previous wave's, or the one a quarter back."""
    if len(points) < 2:
        return Released(None, gettext("needs two waves"))
    latest = points[-1]
    if since is None:
        earlier = points[-2]
    else:
        candidates = [p for p in points[:-1] if p.opens_on >= since]
        if not candidates:
            return Released(None, gettext("no wave in the last quarter before the latest"))
        earlier = candidates[0]
    for point in (latest, earlier):
        if point.mean.suppressed:
            return Released(None, point.mean.reason)
    return Released(latest.mean.value - earlier.mean.value)


def _dimension_summary(
    *, dimension: str, scale: tuple[int, int], points: tuple[WavePoint, ...], stored: TeamTrend | None
) -> DimensionSummary:
    trend = (
        Trend(stored.direction, stored.slope, stored.p_value, stored.q_value, stored.min_detectable)
        if stored
        else Trend("insufficient_data", None, None)
    )
    quarter = points[-1].opens_on - timedelta(days=QUARTER_DAYS) if points else None
    return DimensionSummary(
        dimension=dimension,
        label=dimension_label(dimension),
        scale=scale,
        points=points,
        trend=trend,
        since_last=_change(points, since=None),
        over_quarter=_change(points, since=quarter),
        verdict=trend_verdict(trend, respondents=points[-1].respondents if points else None),
    )


def _composite_summary(dimensions: list[DimensionSummary], *, stored: TeamTrend | None) -> DimensionSummary | None:
    """The engagement index per wave: the mean of the wave's released favourable shares over its
    dimensions; hidden for a wave where any of them is hidden (a partial mean would mix scales of
    different sets)."""
    if not dimensions:
        return None
    waves = dimensions[0].points
    points = []
    for i, point in enumerate(waves):
        asked = [d.points[i] for d in dimensions if d.points[i].asked]
        shares = [p.favorable for p in asked]
        hidden = next((s for s in shares if s.suppressed), None)
        if hidden is not None:
            reason = Released(None, hidden.reason)
            points.append(WavePoint(point.wave, point.opens_on, reason, reason, None))
            continue
        if not shares:
            reason = Released(None, gettext("not asked in this wave"))
            points.append(WavePoint(point.wave, point.opens_on, reason, reason, None, asked=False))
            continue
        value = sum(s.value for s in shares) / len(shares)
        respondents = min(p.respondents or 0 for p in asked)
        points.append(WavePoint(point.wave, point.opens_on, Released(value), Released(value), respondents))
    points_t = tuple(points)
    summary = _dimension_summary(dimension=COMPOSITE, scale=(0, 1), points=points_t, stored=stored)
    return summary


def trend_verdict(trend: Trend, *, respondents: int | None) -> str:
    """One plain sentence on whether the movement is meaningful, from the calibrated trend test."""
    rate = getattr(settings, "PULSE_TREND_FALSE_ALARM_RATE", 0.01)
    one_in = max(2, round(1 / rate)) if rate else 100
    if trend.direction == "declining":
        return gettext(
            "A real decline: a change like this would happen by chance in fewer than 1 in %(n)d teams like yours."
        ) % {"n": one_in}
    if trend.direction == "improving":
        return gettext(
            "A real improvement: a change like this would happen by chance in fewer than 1 in %(n)d teams like yours."
        ) % {"n": one_in}
    if trend.direction == "stable":
        if respondents:
            # The latest wave's answers, not the team's size: the variation expected is that of n answers.
            return ngettext(
                "Within normal variation for %(n)d answer.",
                "Within normal variation for %(n)d answers.",
                respondents,
            ) % {"n": respondents}
        return gettext("Within normal variation.")
    return gettext("Not enough released waves yet to tell a trend (it takes 3).")


def _closed_participation(wave: Wave, release: GroupRelease) -> WaveParticipation:
    if release.state == GroupRelease.State.UPWARD and release.invited is None:
        hidden = Released(None, _wave_reason(wave, release))
        return WaveParticipation(wave.pk, wave.opens_on, wave.closes_at, wave.status, hidden, hidden)
    reason = reason_text(release.participation_reason, wave=wave) if release.participation_reason else None
    return WaveParticipation(
        wave.pk,
        wave.opens_on,
        wave.closes_at,
        wave.status,
        Released(release.invited if reason is None else None, reason),
        Released(release.responded if reason is None else None, reason),
    )


def _open_participation(*, team: Team, user: AbstractBaseUser | AnonymousUser) -> Iterable[WaveParticipation]:
    for wave in surveys.waves_visible_to(user).filter(status=Wave.Status.OPEN).order_by("opens_on", "pk"):
        result = _open_wave_result(team=team, wave=wave)
        if result.invited.value is None and result.invited.reason == reason_text(Suppression.NOT_SURVEYED, wave=wave):
            continue
        yield WaveParticipation(wave.pk, wave.opens_on, wave.closes_at, wave.status, result.invited, result.responded)


def _team_risk(team: Team) -> RiskFlag | None:
    risk = TeamRisk.objects.filter(team=team).first()
    if risk is None:
        return None
    reasons = tuple(map(reason_render, risk.reasons))
    return RiskFlag(team=team.pk, path=team.path, level=risk.level, score=risk.score, reasons=reasons)


def _team_comments(*, team: Team, waves: list[Wave], releases: dict[int, GroupRelease]) -> Iterable[WaveComments]:
    """Comments of the latest waves, where the team's group clears the comment threshold: the
    comments attributed inside the team's subtree as the seal froze it, in random order."""
    latest = [w for w in reversed(waves) if releases[w.pk].state == GroupRelease.State.RESULTS][:COMMENT_WAVES]
    # Asked for all the latest waves, shown only where released: two queries whatever is shown.
    comments = surveys.waves_subtree_comments(wave_ids=[w.pk for w in latest], team_id=team.pk)
    days = Counter((w.opens_on, w.survey.name) for w in latest)
    for wave in latest:
        name = wave.survey.name
        same_day = days[(wave.opens_on, name)] > 1
        if not releases[wave.pk].comments_released:
            yield WaveComments(wave.pk, wave.opens_on, name, (), reason_text("comments", wave=wave), same_day)
            continue
        texts = list(comments[wave.pk])
        random.shuffle(texts)
        yield WaveComments(wave.pk, wave.opens_on, name, tuple(texts), None, same_day)


@dataclass(frozen=True)
class HeatmapRow:
    team: Team
    depth: int
    has_children: bool
    cells: tuple[DimensionResult | None, ...]  # per heatmap dimension; None: the team wasn't surveyed
    reason: str | None  # the whole row's reason when it has no results of its own


@dataclass(frozen=True)
class Heatmap:
    wave: Wave | None
    waves: tuple[Wave, ...]  # the closed waves one may pick
    dimensions: tuple[str, ...]
    rows: tuple[HeatmapRow, ...]


def org_heatmap(*, user: AbstractBaseUser | AnonymousUser, wave_id: int | None = None) -> Heatmap:
    """Teams × dimensions of one closed wave (the latest released one by default), as released."""
    released = list(
        surveys.waves_visible_to(user)
        .filter(status=Wave.Status.CLOSED, pk__in=GroupRelease.objects.values("wave"))
        .order_by("-opens_on", "-pk")
    )
    if wave_id is not None:
        wave = next((w for w in released if w.pk == wave_id), None)
        if wave is None:
            raise Http404("No such wave.")
    else:
        wave = released[0] if released else None
    tree = _visible_tree(user)
    if wave is None:
        return Heatmap(wave=None, waves=(), dimensions=(), rows=())
    groups = {r.team_id: r for r in GroupRelease.objects.filter(wave=wave, team__isnull=False).select_related("group")}
    cells: dict[int, dict[str, DimensionResult]] = defaultdict(dict)
    by_team: dict[int, list[DimensionRelease]] = defaultdict(list)
    for release in DimensionRelease.objects.filter(wave=wave, team__isnull=False).order_by():
        by_team[release.team_id].append(release)
    dimensions = sorted(surveys.survey_dimensions(survey_id=wave.survey_id), key=_dimension_rank)
    for team_id, releases in by_team.items():
        for result in _dimension_results(wave=wave, releases=releases):
            cells[team_id][result.dimension] = result
    paths = [t.path for t, _ in tree]
    rows = []
    for i, (team, depth) in enumerate(tree):
        has_children = i + 1 < len(paths) and paths[i + 1].startswith(team.path + "/")
        group = groups.get(team.pk)
        if group is None:
            row_reason = reason_text(Suppression.NOT_SURVEYED, wave=wave)
        elif group.state != GroupRelease.State.RESULTS:
            row_reason = _wave_reason(wave, group)
        else:
            row_reason = None
        row_cells = tuple(cells[team.pk].get(d) for d in dimensions) if row_reason is None else ()
        rows.append(HeatmapRow(team=team, depth=depth, has_children=has_children, cells=row_cells, reason=row_reason))
    return Heatmap(wave=wave, waves=tuple(released), dimensions=tuple(dimensions), rows=tuple(rows))


@dataclass(frozen=True)
class RiskRow:
    flag: RiskFlag
    declining: tuple[str, ...]  # dimension labels whose trend declines
    improving: tuple[str, ...]


def risk_list(*, user: AbstractBaseUser | AnonymousUser) -> list[RiskRow]:
    """The risk list, highest first, each with the dimensions trending down or up."""
    flags = risks_for(user=user)
    directions: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    trends = TeamTrend.objects.filter(team__in=[f.team for f in flags], direction__in=["declining", "improving"])
    for trend in trends.order_by().values_list("team_id", "dimension", "direction"):
        team, dimension, direction = trend
        directions[team][direction].append(dimension)
    rows = []
    for flag in flags:
        found = directions.get(flag.team, {})
        rows.append(
            RiskRow(
                flag=flag,
                declining=tuple(dimension_label(d) for d in sorted(found.get("declining", []), key=_dimension_rank)),
                improving=tuple(dimension_label(d) for d in sorted(found.get("improving", []), key=_dimension_rank)),
            )
        )
    return rows


@dataclass(frozen=True)
class TeamParticipation:
    team: Team
    depth: int
    invited: Released
    responded: Released

    @property
    def rate(self) -> float | None:
        if self.invited.value and self.responded.value is not None:
            return self.responded.value / self.invited.value
        return None


def waves_list(*, user: AbstractBaseUser | AnonymousUser) -> list[Wave]:
    return list(surveys.waves_visible_to(user).order_by("-opens_on", "-pk"))


def wave_participation_by_team(*, user: AbstractBaseUser | AnonymousUser, wave_id: int) -> list[TeamParticipation]:
    """Participation per visible team in one wave, as released: live while the wave is open (only
    for groups with at least k invited, under the complement rule), as the seal kept it after."""
    wave = wave_get_for_user(user=user, wave_id=wave_id)
    tree = _visible_tree(user)
    out = []
    if wave.status == Wave.Status.OPEN:
        invited, responded, decision = anonymity.live_participation_release(wave_id=wave.pk, k=wave.min_respondents)
        for team, depth in tree:
            if not invited.get(team.pk):
                continue
            code = decision.reasons.get(team.pk, Suppression.FEW_INVITED)
            if code is None:
                out.append(
                    TeamParticipation(team, depth, Released(invited[team.pk]), Released(responded.get(team.pk, 0)))
                )
            else:
                hidden = Released(None, reason_text(code, wave=wave))
                out.append(TeamParticipation(team, depth, hidden, hidden))
        return out
    groups = {r.team_id: r for r in GroupRelease.objects.filter(wave=wave, team__isnull=False).select_related("group")}
    for team, depth in tree:
        release = groups.get(team.pk)
        if release is None:
            continue
        shown = _closed_participation(wave, release)
        out.append(TeamParticipation(team, depth, shown.invited, shown.responded))
    return out


# --- digests ----------------------------------------------------------------------------------
# What the digest e-mails (analytics/digests.py) say, for one reader and one wave: the same
# value objects as the pages and the API, gathered per team, so an e-mail can carry no number
# the dashboard would hide. Call them in the reader's language: the reasons are words.

MEANINGFUL = ("declining", "improving")


@dataclass(frozen=True)
class DimensionChange:
    """A team's released value in the wave, the one of its previous wave, and the change between
    them: a change is shown only where both ends are."""

    dimension: str
    now: Released
    before: Released | None  # None: no earlier wave released anything for this dimension
    change: Released
    trend: Trend


@dataclass(frozen=True)
class TeamDigest:
    team: int
    path: str
    result: TeamResult
    changes: tuple[DimensionChange, ...]
    risk: RiskFlag | None


@dataclass(frozen=True)
class TrendFlag:
    team: int
    path: str
    dimension: str
    direction: str
    p_value: float | None


@dataclass(frozen=True)
class OrgDigest:
    wave: int
    invited: Released
    responded: Released
    flagged: tuple[TrendFlag, ...]
    risks: tuple[RiskFlag, ...]  # high and elevated only, highest first


def wave_digest_teams(*, user: AbstractBaseUser | AnonymousUser, wave_id: int) -> list[TeamDigest]:
    """Every team the user may see that the wave surveyed, by path: its results, the change
    since its previous wave per dimension with the calibrated trend, and its risk; none for a
    wave the user may not see (it invited nobody in their teams)."""
    wave = surveys.waves_visible_to(user).filter(pk=wave_id).first()
    if wave is None:
        return []
    surveyed = set(GroupRelease.objects.filter(wave=wave, team__isnull=False).values_list("team_id", flat=True))
    teams = surveys.teams_visible_to(user).filter(pk__in=surveyed).order_by("path")
    risks = {flag.team: flag for flag in risks_for(user=user)}
    digests = []
    for team in teams:
        result = team_results(user=user, team_id=team.pk, wave_id=wave.pk)
        trends = {t.dimension: t for t in team_trends(user=user, team_id=team.pk)}
        changes = tuple(_dimension_change(d, trends.get(d.dimension), wave=wave) for d in result.dimensions)
        digests.append(
            TeamDigest(team=team.pk, path=team.path, result=result, changes=changes, risk=risks.get(team.pk))
        )
    return digests


def _dimension_change(result: DimensionResult, trend: DimensionTrend | None, *, wave: Wave) -> DimensionChange:
    points = trend.points if trend else ()
    earlier = [p for p in points if (p.opens_on, p.wave) < (wave.opens_on, wave.pk)]
    before = earlier[-1].mean if earlier else None
    if before is None:
        change = Released(None, gettext("no earlier wave to compare with"))
    elif result.mean.suppressed or before.suppressed:
        change = Released(None, result.mean.reason if result.mean.suppressed else before.reason)
    else:
        change = Released(round(result.mean.value - before.value, 2))
    return DimensionChange(
        dimension=result.dimension,
        now=result.mean,
        before=before,
        change=change,
        trend=trend.trend if trend else Trend("insufficient_data", None, None),
    )


def wave_digest_org(*, user: AbstractBaseUser | AnonymousUser, wave_id: int) -> OrgDigest:
    """The wave as a whole for a reader of the whole organisation: participation as released,
    the teams whose calibrated trend test flags a dimension, and the high and elevated risks."""
    wave = wave_get_for_user(user=user, wave_id=wave_id)
    whole = GroupRelease.objects.filter(wave=wave, team__isnull=True).first()
    if whole is None:
        invited = responded = Released(None, reason_text(Suppression.OPEN, wave=wave))
    else:
        reason = reason_text(whole.participation_reason, wave=wave) if whole.participation_reason else None
        invited, responded = Released(whole.invited, reason), Released(whole.responded, reason)
    visible = surveys.teams_visible_to(user)
    trends = TeamTrend.objects.filter(team__in=visible, direction__in=MEANINGFUL).select_related("team")
    flagged = tuple(
        TrendFlag(team=t.team_id, path=t.team.path, dimension=t.dimension, direction=t.direction, p_value=t.p_value)
        for t in sorted(
            trends, key=lambda t: (MEANINGFUL.index(t.direction), t.team.path, _dimension_rank(t.dimension))
        )
    )
    risks = tuple(flag for flag in risks_for(user=user) if flag.level in ("high", "elevated"))
    return OrgDigest(wave=wave.pk, invited=invited, responded=responded, flagged=flagged, risks=risks)


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

    The dimension releases come by team only: one team's (a few per wave and dimension, however
    large the organisation) are held while its group releases, in wave order, take them wave by
    wave. That spares the database a join and a longer sort over the largest table.
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
    groups = groupby(
        GroupRelease.objects.filter(mine)
        .order_by(*by_team, "wave__opens_on", "wave_id")
        .values_list("team_id", "team__path", "wave_id", "state", "group_id", "group__path", "participation_reason")
        .iterator(chunk_size=EXPORT_CHUNK),
        key=_FIRST,
    )
    # Every dimension release has its team's group release (the gate writes both): the merge
    # below takes them in step, and the checks make sure it did.
    releases = groupby(
        DimensionRelease.objects.filter(mine)
        .order_by(*by_team)
        .values_list("team_id", "wave_id", "dimension", "respondents", "mean", "favorable", "enps", "reason")
        .iterator(chunk_size=EXPORT_CHUNK),
        key=_FIRST,
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
    reasons, released, in_order = _ReasonTexts(), _ReleasedValues(), _InDimensionOrder()
    shown = _ShownValues(released)
    shown_get, shown_make = shown.get, shown.make
    new = tuple.__new__  # new(ExportRow, fields): an ExportRow from one tuple of its fields, in C
    pending = next(releases, None)
    for team, team_groups in groups:  # the trend, risk and release streams hold only this one's teams, in its order
        team_trends = {row[1]: Trend(*row[2:]) for row in _rows_of(trends, team)}
        risk_level = next(iter([level for _, level in _rows_of(risks, team)]), None)
        ends = _TeamEnds(team_trends, risk_level)
        stored: dict[int, list[tuple]] = {}  # wave -> the team's dimension releases in it
        if pending is not None and pending[0] == team:
            for row in pending[1]:
                stored.setdefault(row[1], []).append(row)
            pending = next(releases, None)
        for _, path, wave_id, state, group, group_path, participation_reason in team_groups:
            wave = waves[wave_id]
            start = (team, path, wave_id, wave.opens_on)
            rows = stored.pop(wave_id, None)
            if rows and state == GroupRelease.State.RESULTS:
                for row in in_order(rows):
                    # row[2:]: dimension, respondents, mean, favorable, enps, reason
                    if row[7]:  # a reason's text names the wave's thresholds: part of the key
                        key = (*row[2:], reasons.get(row[7], wave))
                        part = shown_get(key) or shown_make(key, key[-1])
                    else:
                        part = shown_get(row[2:]) or shown_make(row[2:], None)
                    yield new(ExportRow, start + part + ends[row[2]])
                continue
            text = reasons.get(_group_reason(wave, state, group, participation_reason), wave, group_path)
            hidden = released.get(None, text)
            for dimension in dimensions[wave.survey_id]:
                enps = hidden if dimension == Question.Dimension.ENPS else None
                yield new(ExportRow, (*start, dimension, None, hidden, hidden, enps, *ends[dimension]))
        if stored:
            raise RuntimeError(f"a dimension release without its group release: team {team}, waves {sorted(stored)}")
    if pending is not None:
        raise RuntimeError(f"a dimension release without its group release: team {pending[0]}")


_FIRST = itemgetter(0)


class _InDimensionOrder:
    """One team-wave's dimension releases in ``DIMENSION_ORDER``: the order that sorts a given
    sequence of dimensions is worked out once (a few distinct sequences per export). Bounded."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._orders: dict[tuple, object] = {}

    def __call__(self, rows: list[tuple]) -> Iterable[tuple]:
        if len(rows) < 2:
            return rows
        names = tuple(map(_THIRD, rows))
        order = self._orders.get(names)
        if order is None:
            if len(self._orders) >= self.LIMIT:
                self._orders.clear()
            ranks = sorted(range(len(names)), key=lambda i: _dimension_rank(names[i]))
            order = self._orders[names] = itemgetter(*ranks)
        return order(rows)


_THIRD = itemgetter(2)


class _ShownValues:
    """A dimension release's fields as an export row holds them (``dimension, respondents, mean,
    favorable, enps``, the values as ``Released``), shared between releases with the same stored
    values: most of an export's values repeat. Bounded."""

    LIMIT = 2048

    def __init__(self, released: _ReleasedValues) -> None:
        self._released = released
        self._made: dict[tuple, tuple] = {}
        self.get = self._made.get  # None where not made yet

    def make(self, key: tuple, text: str | None) -> tuple:
        """``key``: the release's dimension, respondents, mean, favorable, enps and reason code
        (and the reason's text, where there is a reason)."""
        dimension, respondents, mean, favorable, enps = key[:5]
        get = self._released.get
        if len(self._made) >= self.LIMIT:
            self._made.clear()
        made = self._made[key] = (
            dimension,
            respondents,
            get(mean, text),
            get(favorable, text),
            get(enps, text) if dimension == Question.Dimension.ENPS else None,
        )
        return made


class _TeamEnds(dict):
    """``dimension -> (trend, risk level)`` of one team: the end of each of its export rows."""

    def __init__(self, trends: dict[str, Trend], risk_level: str | None) -> None:
        super().__init__((dimension, (trend, risk_level)) for dimension, trend in trends.items())
        self._risk_level = risk_level

    def __missing__(self, dimension: str) -> tuple:
        end = self[dimension] = (NO_TREND, self._risk_level)
        return end


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
