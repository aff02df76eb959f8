"""What readers get: released values only, as value objects that carry the gate's decision.

Views, the API, exports, e-mails and commands call this module and nothing else of the read
side. Everything it returns comes from the gate's stored releases (analytics/anonymity.py);
a suppressed number is ``Released(None, reason)``, so it can't be printed by mistake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404
from django.utils.translation import gettext, ngettext

from surveys import selectors as surveys
from surveys.models import Question, Team, Wave

from . import anonymity
from .models import DimensionRelease, GroupRelease, Suppression, TeamRisk, TeamTrend

DIMENSION_ORDER = [value for value, _ in Question.Dimension.choices]
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
    return (DIMENSION_ORDER.index(dimension) if dimension in DIMENSION_ORDER else len(DIMENSION_ORDER), dimension)


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
