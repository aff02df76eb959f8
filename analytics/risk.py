"""Churn risk per team from released values only (DESIGN.md, Flows → Analyse).

**Features**, per team and wave, all from what the gate released for the team's subtree
(analytics/panel.py) or from the departures HR records:

- the levels of intent to stay, growth, connection, burnout and workload (released means,
  higher is healthier) and the share of eNPS detractors (released promoter share minus the
  released eNPS / 100);
- each one's recent change: the value now minus the team's earliest released value of the
  ``CHANGE_WAVES`` waves before;
- participation (released responded / invited) and its change;
- voluntary departures recorded in the ``PAST_DAYS`` before the wave, counted over the team's
  subtree in that wave's frozen tree, as the log of the rate per person (with half a departure
  added, so that none is finite): comparable between a team and its department, and a log-link
  model can't explode on one team's bad quarter;
- team size (log of the people invited, or of the published respondent count where
  participation was hidden), which is also the exposure.

A feature that was not released is left out of the team's score (imputed at the fitted mean,
so its term is exactly 0) and never named as a reason.

**Model**: a regularised Poisson regression (`stats.poisson_fit`, L2 = ``L2`` on the standardised
coefficients) of the voluntary departures in the ``HORIZON_DAYS`` after each wave, with the
team's size as exposure, over every past team-wave whose horizon has fully passed. It is fitted
on the finest released groups of each wave (a team with no scored team below it), so the
subtrees are disjoint and no departure or person counts twice; it then scores every team,
departments included (their features are their own released subtree values).

**Score**: for each team's latest wave, the expected voluntary departures per person over the
next 90 days (0.05: five in a hundred people). **Levels** are calibrated on the fitted
distribution: a score above the 90th percentile of the scores the model gives the team-waves it
was fitted on is ``high``, above the 70th ``elevated`` (the next 20 %), else ``low``. A team is
``insufficient_data`` when its latest wave released none of its values (a risk flag is a
release), or when the history can't support a model: fewer than ``MIN_FIT_ROWS`` team-waves
with a known outcome, or no recorded departure at all. Then no score is given (there is nothing
to calibrate a number against); the reasons say why and name what stands out in the team's
released values against the other teams' (at least one standard deviation the unhealthy way).

**Reasons** are the terms that raise the score most (`stats.term_contributions`: they add up
to the log score), stored as data (a code and the released numbers behind it) and put into
words in the reader's language when they are read (`reason_render`): "intent to stay down 0.6
points over 4 waves", "participation fell from 85 % to 60 %", "3 voluntary departures in 90
days"; in German "Bleibeabsicht über 4 Runden um 0,6 Punkte gesunken". A term is named only
when it raises the score by at least ``REASON_MIN_TERM`` and the team's value lies on the
unhealthy side of the average (a fitted model can give a weak term the "wrong" sign; it still
counts in the score, but "connection up" is no reason to worry). Team size is never a reason.

**Backtest** (`risk_backtest`, ``manage.py backtest_risk``): rolling origins over the waves;
at each origin the model and the baseline (team size plus past turnover, the same Poisson fit on
those two features) are fitted on the team-waves whose horizon ended before the origin and
predict every team-wave up to the next origin. AUC and precision in the top decile rank the
expected departures (score × size) against "the team lost someone within the horizon"; lead
time is, per departure, how many days before it its team (or the nearest ancestor scored) was
first flagged high or elevated.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy, ngettext
from numpy.typing import NDArray
from tqdm import tqdm

from surveys import selectors as surveys

from . import stats
from .models import TeamRisk
from .panel import ROOT, Array, Panel, released_panel

HORIZON_DAYS = 90
PAST_DAYS = 90
CHANGE_WAVES = 4
MIN_FIT_ROWS = 30
MIN_FIT_DEPARTURES = 1
L2 = 10.0  # prior sd of about 0.3 per standardised coefficient: a few departures can't make a term
HIGH_SHARE = 0.10
ELEVATED_SHARE = 0.20
MAX_REASONS = 3
REASON_MIN_TERM = 0.05  # a term that raises the expected departures by less than ~5 % is no reason
_MAX_DEPTH = 64

LEVEL_DIMENSIONS = ("intent_to_stay", "growth", "connection", "burnout", "workload")
ENPS = "enps"
DETRACTORS = "enps_detractors"
# (name, what makes a team riskier without a model: -1 lower, +1 higher, 0 neither)
FEATURES: tuple[tuple[str, int], ...] = (
    *((d, -1) for d in LEVEL_DIMENSIONS),
    (DETRACTORS, +1),
    *((f"{d}_change", -1) for d in LEVEL_DIMENSIONS),
    (f"{DETRACTORS}_change", +1),
    ("participation", -1),
    ("participation_change", -1),
    ("departures", +1),
    ("size", 0),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
BASELINE_FEATURES = ("size", "departures")

_LABELS = {
    "intent_to_stay": gettext_lazy("intent to stay"),
    "growth": gettext_lazy("growth"),
    "connection": gettext_lazy("connection"),
    "burnout": gettext_lazy("burnout"),
    "workload": gettext_lazy("workload"),
}
_STRAIN = {"burnout", "workload"}  # named for the strain: a lower (oriented) score is worse, not "down"


# --- features ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    """Per team row and wave column; ``values`` (teams, waves, features) NaN where not released."""

    panel: Panel
    values: Array
    base: Array  # for *_change: the earlier value it is measured from
    lag: NDArray[np.int64]  # for *_change: how many waves back that value is
    org: Array  # (waves, features): the wave as a whole, where the feature has one
    exposure: Array  # people; NaN where unknown
    past: Array  # departures in the PAST_DAYS up to the wave
    future: Array  # departures in the horizon after the wave
    day: NDArray[np.int64]  # ordinal day each wave opened
    known: NDArray[np.bool_]  # (waves,): the horizon has passed
    scorable: NDArray[np.bool_]  # (teams, waves): the team released values in that wave
    finest: NDArray[np.bool_]  # scorable, and no scorable team below it: disjoint groups, what fits use
    departure_rows: NDArray[np.int64]
    departure_days: NDArray[np.int64]
    horizon_days: int


def _change(x: Array) -> tuple[Array, Array, NDArray[np.int64]]:
    """x minus the earliest released x of the CHANGE_WAVES waves before (NaN without one)."""
    base = np.full(x.shape, np.nan)
    lag = np.zeros(x.shape, dtype=np.int64)
    for k in range(CHANGE_WAVES, 0, -1):
        if k >= x.shape[1]:
            continue
        shifted = np.full(x.shape, np.nan)
        shifted[:, k:] = x[:, :-k]
        take = np.isnan(base) & np.isfinite(shifted)
        base[take], lag[take] = shifted[take], k
    return x - base, base, lag


def _departure_counts(
    panel: Panel, rows: NDArray[np.int64], days: NDArray[np.int64], day: NDArray[np.int64], horizon: int
) -> tuple[Array, Array]:
    """Departures before and after each wave, counted for the leaver's team and each of its
    ancestors in that wave's frozen tree."""
    teams, waves = panel.shape
    past = np.zeros((teams, waves))
    future = np.zeros((teams, waves))
    for w in range(waves):
        for out, inside in (
            (past, (days > day[w] - PAST_DAYS) & (days <= day[w])),
            (future, (days > day[w]) & (days <= day[w] + horizon)),
        ):
            node = rows[inside]
            for _ in range(_MAX_DEPTH):
                node = node[node >= 0]
                if node.size == 0:
                    break
                out[:, w] += np.bincount(node, minlength=teams)
                node = panel.parent[node, w]
    return past, future


def _above_scorable(panel: Panel, scorable: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Team-waves with a scorable team somewhere below them in that wave's frozen tree."""
    above = np.zeros(scorable.shape, dtype=bool)
    for w in range(scorable.shape[1]):
        node = panel.parent[np.flatnonzero(scorable[:, w]), w]
        for _ in range(_MAX_DEPTH):
            node = node[node >= 0]
            if node.size == 0:
                break
            above[node, w] = True
            node = panel.parent[node, w]
    return above


def features_build(
    panel: Panel, departures: Iterable[tuple[int, date]], *, as_of: date, horizon_days: int = HORIZON_DAYS
) -> Features:
    teams, waves = panel.shape
    values = np.full((teams, waves, len(FEATURES)), np.nan)
    base = np.full_like(values, np.nan)
    lag = np.zeros(values.shape, dtype=np.int64)
    org = np.full((waves, len(FEATURES)), np.nan)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}

    def put(name: str, x: Array, org_x: Array) -> None:
        values[:, :, col[name]] = x
        org[:, col[name]] = org_x
        change, b, k = _change(x)
        values[:, :, col[f"{name}_change"]] = change
        base[:, :, col[f"{name}_change"]] = b
        lag[:, :, col[f"{name}_change"]] = k

    released = np.zeros(panel.shape, dtype=bool)
    for d in LEVEL_DIMENSIONS:
        if d in panel.mean:
            put(d, panel.mean[d], panel.org_mean[d])
            released |= np.isfinite(panel.mean[d])
    if ENPS in panel.mean:
        put(
            DETRACTORS,
            panel.favorable[ENPS] - panel.enps[ENPS] / 100,
            panel.org_favorable[ENPS] - panel.org_enps[ENPS] / 100,
        )
        released |= np.isfinite(panel.mean[ENPS])
    put("participation", panel.participation(), panel.org_participation())

    exposure = np.where(panel.invited > 0, panel.invited, np.where(panel.counted > 0, panel.counted, np.nan))
    day = np.array([d.toordinal() for d in panel.opens_on], dtype=np.int64)
    deps = [(team, left) for team, left in departures if left is not None]
    dep_teams = np.array([t for t, _ in deps], dtype=np.int64)
    dep_days = np.array([left.toordinal() for _, left in deps], dtype=np.int64)
    dep_rows = np.searchsorted(panel.teams, dep_teams)
    known_team = (
        (dep_rows < teams) & (panel.teams[np.minimum(dep_rows, teams - 1)] == dep_teams) if teams else dep_rows < 0
    )
    dep_rows, dep_days = dep_rows[known_team], dep_days[known_team]
    past, future = _departure_counts(panel, dep_rows, dep_days, day, horizon_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        values[:, :, col["departures"]] = np.where(exposure > 0, np.log((past + 0.5) / exposure), np.nan)
        values[:, :, col["size"]] = np.log(exposure)
    scorable = panel.surveyed & released & np.isfinite(exposure)
    return Features(
        panel=panel,
        values=values,
        base=base,
        lag=lag,
        org=org,
        exposure=exposure,
        past=past,
        future=future,
        day=day,
        known=day + horizon_days <= as_of.toordinal(),
        scorable=scorable,
        finest=scorable & ~_above_scorable(panel, scorable),
        departure_rows=dep_rows,
        departure_days=dep_days,
        horizon_days=horizon_days,
    )


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskModel:
    fit: stats.GlmFit
    columns: NDArray[np.int64]  # feature indices, in FEATURES order
    fill: Array  # per column: the value an unreleased feature takes (its mean over the fit)
    high: float  # score cut-offs (per person over the horizon)
    elevated: float
    rows: int
    departures: int

    def design(self, values: Array) -> tuple[Array, NDArray[np.bool_]]:
        """The model's columns of ``values`` (rows, all features), imputed, and where they were missing."""
        X = values[:, self.columns]
        missing = ~np.isfinite(X)
        return np.where(missing, self.fill, X), missing

    def rate(self, values: Array) -> Array:
        """Expected departures per person over the horizon."""
        return stats.predict(self.fit, self.design(values)[0])

    def level(self, rate: Array) -> NDArray[np.str_]:
        return np.where(rate > self.high, "high", np.where(rate > self.elevated, "elevated", "low"))


def model_fit(features: Features, rows: NDArray[np.bool_], names: tuple[str, ...] = FEATURE_NAMES) -> RiskModel | None:
    """The Poisson fit on the finest released groups among the team-waves in ``rows`` (teams,
    waves): disjoint subtrees, so that no departure and no person counts twice. None when there
    is too little history (fewer than MIN_FIT_ROWS rows, or fewer than MIN_FIT_DEPARTURES
    departures)."""
    rows = rows & features.finest
    y = features.future[rows]
    if y.size < MIN_FIT_ROWS or y.sum() < MIN_FIT_DEPARTURES:
        return None
    columns = np.array([FEATURE_NAMES.index(n) for n in names], dtype=np.int64)
    X = features.values[rows][:, columns]
    fill = np.nan_to_num(_nanmean(X), nan=0.0)
    X = np.where(np.isfinite(X), X, fill)
    fit = stats.poisson_fit(X, y, features.exposure[rows], l2=L2)
    fitted = stats.predict(fit, X)
    high, elevated = np.quantile(fitted, [1 - HIGH_SHARE, 1 - HIGH_SHARE - ELEVATED_SHARE])
    return RiskModel(fit, columns, fill, float(high), float(elevated), int(y.size), int(y.sum()))


def _nanmean(X: Array) -> Array:
    """Column means over the finite values; NaN (quietly) for a column with none."""
    ok = np.isfinite(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, X, 0.0).sum(0) / ok.sum(0)


def _nanstd(X: Array) -> Array:
    mean = _nanmean(X)
    ok = np.isfinite(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.where(ok, (X - mean) ** 2, 0.0).sum(0) / ok.sum(0))


# --- reasons ----------------------------------------------------------------------------------
# A reason is stored as data, a code and the released numbers behind it (``reason_data``), and
# put into words in the reader's language only when it is read (``reason_render``, called by
# analytics/selectors.py): one stored risk serves an English API client and a German manager.

Reason = dict[str, Any]


def _finite(x: float) -> float | None:
    """A number JSON can hold: NaN (not released) becomes None."""
    return float(x) if np.isfinite(x) else None


def reason_data(name: str, *, value: float, base: float, lag: int, org: float, past: float, exposure: float) -> Reason:
    """One term of a team's score as data: its feature name and the released numbers behind it."""
    if name == "departures":
        return {"code": name, "count": round(past), "days": PAST_DAYS}
    if name == "size":
        return {"code": name, "count": round(exposure)}
    if name.endswith("_change"):
        return {"code": name, "value": _finite(value), "base": _finite(base), "lag": int(lag)}
    return {"code": name, "value": _finite(value), "org": _finite(org)}


def reason_render(reason: Reason | str) -> str:
    """A stored reason in words, in the active language, with the reader's decimal separator.
    A string (stored before reasons were data) is shown as it was written."""
    if isinstance(reason, str):
        return reason
    code = str(reason.get("code", ""))
    if code == "no_results":
        return gettext("no released results yet")
    if code == "not_released":
        return gettext("no values released for this team in the latest wave (%(date)s)") % {"date": reason["opens_on"]}
    if code == "no_history":
        return (
            ngettext(
                "not enough history to score yet: %(rows)d team-waves with a known %(horizon)d-day outcome "
                "(%(rows_needed)d needed) and %(departures)d voluntary departure within them "
                "(%(departures_needed)d needed)",
                "not enough history to score yet: %(rows)d team-waves with a known %(horizon)d-day outcome "
                "(%(rows_needed)d needed) and %(departures)d voluntary departures within them "
                "(%(departures_needed)d needed)",
                reason["departures"],
            )
            % reason
        )
    if code == "departures":
        if reason["count"] == 0:
            return gettext("no voluntary departures in %(days)d days") % reason
        return (
            ngettext(
                "%(count)d voluntary departure in %(days)d days",
                "%(count)d voluntary departures in %(days)d days",
                reason["count"],
            )
            % reason
        )
    if code == "size":
        return ngettext("%(count)d person invited", "%(count)d people invited", reason["count"]) % reason
    if code.endswith("_change"):
        return _change_render(code.removesuffix("_change"), reason["value"], reason["base"], reason["lag"])
    return _level_render(code, reason["value"], reason.get("org"))


def _pct(share: float) -> str:
    return f"{round(100 * share):.0f} %"


def _points(x: float) -> str:
    """One decimal, rounded as ``f"{x:.1f}"`` rounds, with the active language's separator."""
    return number_format(Decimal(f"{x:.1f}"), 1)


def _label(dimension: str) -> str:
    return str(_LABELS[dimension]) if dimension in _LABELS else dimension


def _change_render(name: str, value: float, base: float, lag: int) -> str:
    args = {"before": _pct(base), "now": _pct(base + value), "waves": lag}
    if name == "participation":
        if value < 0:
            return gettext("participation fell from %(before)s to %(now)s") % args
        return gettext("participation rose from %(before)s to %(now)s") % args
    if name == DETRACTORS:
        if value > 0:
            return (
                ngettext(
                    "eNPS detractors up from %(before)s to %(now)s over %(waves)d wave",
                    "eNPS detractors up from %(before)s to %(now)s over %(waves)d waves",
                    lag,
                )
                % args
            )
        return (
            ngettext(
                "eNPS detractors down from %(before)s to %(now)s over %(waves)d wave",
                "eNPS detractors down from %(before)s to %(now)s over %(waves)d waves",
                lag,
            )
            % args
        )
    args = {"dimension": _label(name), "points": _points(abs(value)), "waves": lag}
    if name in _STRAIN:
        if value < 0:
            return (
                ngettext(
                    "%(dimension)s worse by %(points)s points over %(waves)d wave",
                    "%(dimension)s worse by %(points)s points over %(waves)d waves",
                    lag,
                )
                % args
            )
        return (
            ngettext(
                "%(dimension)s better by %(points)s points over %(waves)d wave",
                "%(dimension)s better by %(points)s points over %(waves)d waves",
                lag,
            )
            % args
        )
    if value < 0:
        return (
            ngettext(
                "%(dimension)s down %(points)s points over %(waves)d wave",
                "%(dimension)s down %(points)s points over %(waves)d waves",
                lag,
            )
            % args
        )
    return (
        ngettext(
            "%(dimension)s up %(points)s points over %(waves)d wave",
            "%(dimension)s up %(points)s points over %(waves)d waves",
            lag,
        )
        % args
    )


def _level_render(name: str, value: float, org: float | None) -> str:
    if name in ("participation", DETRACTORS):
        args = {"share": _pct(value), "org": _pct(org) if org is not None else ""}
        if name == "participation":
            if org is None:
                return gettext("participation %(share)s") % args
            return gettext("participation %(share)s (whole organisation %(org)s)") % args
        if org is None:
            return gettext("%(share)s eNPS detractors") % args
        return gettext("%(share)s eNPS detractors (whole organisation %(org)s)") % args
    args = {"dimension": _label(name), "value": _points(value), "org": _points(org) if org is not None else ""}
    if org is None:
        return gettext("%(dimension)s %(value)s") % args
    if value == org:
        return gettext("%(dimension)s level with the whole organisation (%(value)s against %(org)s)") % args
    if name in _STRAIN:
        if value < org:
            return gettext("%(dimension)s worse than the whole organisation (%(value)s against %(org)s)") % args
        return gettext("%(dimension)s better than the whole organisation (%(value)s against %(org)s)") % args
    if value < org:
        return gettext("%(dimension)s below the whole organisation (%(value)s against %(org)s)") % args
    return gettext("%(dimension)s above the whole organisation (%(value)s against %(org)s)") % args


_SIGN = dict(FEATURES)
_SHARES = {"participation", DETRACTORS, "participation_change", f"{DETRACTORS}_change"}


def _a_worry(name: str, *, value: float, org: float) -> bool:
    """Whether the term reads as a reason to worry once put in words (at the precision they show
    it: 0.1 points, whole percents): a level on the unhealthy side of the whole organisation, a
    change the unhealthy way. A term the fit weighs can still read "3.0 against 3.0"; that is no
    reason."""
    sign = _SIGN.get(name, 0)
    if sign == 0 or name == "departures":
        return True
    shown = round(value * 100) if name in _SHARES else round(value, 1)
    if name.endswith("_change"):
        return sign * shown > 0
    if not np.isfinite(org):
        return True
    against = round(org * 100) if name in _SHARES else round(org, 1)
    return sign * (shown - against) > 0


def _reasons(features: Features, row: int, w: int, order: Iterable[int]) -> tuple[Reason, ...]:
    out = []
    for f in order:
        if not _a_worry(FEATURE_NAMES[f], value=float(features.values[row, w, f]), org=float(features.org[w, f])):
            continue
        out.append(
            reason_data(
                FEATURE_NAMES[f],
                value=float(features.values[row, w, f]),
                base=float(features.base[row, w, f]),
                lag=int(features.lag[row, w, f]),
                org=float(features.org[w, f]),
                past=float(features.past[row, w]),
                exposure=float(features.exposure[row, w]),
            )
        )
        if len(out) == MAX_REASONS:
            break
    return tuple(out)


# --- scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskScores:
    teams: NDArray[np.int64]
    wave: NDArray[np.int64]  # column of each team's latest wave, -1 if never surveyed
    level: NDArray[np.str_]
    score: Array
    reasons: tuple[tuple[Reason, ...], ...]
    model: RiskModel | None


def risk_compute(features: Features) -> RiskScores:
    """Each team's risk at its latest wave, from a model fitted on every team-wave with a known outcome."""
    panel = features.panel
    teams, waves = panel.shape
    model = model_fit(features, np.broadcast_to(features.known, (teams, waves)))
    surveyed = panel.surveyed
    latest = np.where(surveyed, np.arange(waves), -1).max(axis=1, initial=-1)
    rows = np.flatnonzero(latest >= 0)
    scorable = np.zeros(teams, dtype=bool)
    scorable[rows] = features.scorable[rows, latest[rows]]
    level = np.full(teams, "insufficient_data", dtype="<U17")
    score = np.full(teams, np.nan)
    reasons: list[tuple[Reason, ...]] = [()] * teams
    for row in np.flatnonzero(latest < 0):
        reasons[row] = ({"code": "no_results"},)
    for row in np.flatnonzero((latest >= 0) & ~scorable):
        day = panel.opens_on[latest[row]]
        reasons[row] = ({"code": "not_released", "opens_on": f"{day:%Y-%m-%d}"},)
    ready = np.flatnonzero(scorable)
    if ready.size == 0:
        return RiskScores(panel.teams, latest, level, score, tuple(reasons), model)
    current = features.values[ready, latest[ready]]
    if model is None:
        history = features.future[features.finest & features.known[None, :]]
        why = {
            "code": "no_history",
            "rows": int(history.size),
            "horizon": features.horizon_days,
            "rows_needed": MIN_FIT_ROWS,
            "departures": round(float(history.sum())),
            "departures_needed": MIN_FIT_DEPARTURES,
        }
        standing = _standing(current)
        for i, row in enumerate(ready):
            order = [f for f in np.argsort(-standing[i], kind="stable") if standing[i, f] >= 1.0]
            reasons[row] = (why, *_reasons(features, row, latest[row], order)[: MAX_REASONS - 1])
        return RiskScores(panel.teams, latest, level, score, tuple(reasons), None)
    X, missing = model.design(current)
    rate = stats.predict(model.fit, X)
    level[ready] = model.level(rate)
    score[ready] = rate
    terms = stats.term_contributions(model.fit, X)
    sign = np.array([s for _, s in FEATURES], dtype=float)[model.columns]
    unhealthy = sign * (X - model.fit.mean) > 0
    terms = np.where(missing | ~unhealthy, -np.inf, terms)
    for i, row in enumerate(ready):
        order = [model.columns[j] for j in np.argsort(-terms[i], kind="stable") if terms[i, j] >= REASON_MIN_TERM]
        reasons[row] = _reasons(features, row, latest[row], order)
    return RiskScores(panel.teams, latest, level, score, tuple(reasons), model)


def _standing(current: Array) -> Array:
    """Without a model: how far each team's released feature lies from the other teams' the
    unhealthy way, in standard deviations (NaN-free; 0 where unknown)."""
    sign = np.array([s for _, s in FEATURES], dtype=float)
    mean, sd = _nanmean(current), _nanstd(current)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (current - mean) / sd
    return np.where(np.isfinite(z) & (sd > 0), z * sign, 0.0)


def risks_refresh() -> int:
    """Recompute and store every team's churn risk; returns the rows stored."""
    features = features_build(released_panel(), surveys.departures_by_team(), as_of=timezone.now().date())
    return risks_store(risk_compute(features), waves=features.panel.waves)


def risks_store(scores: RiskScores, *, waves: tuple[int, ...]) -> int:
    now = timezone.now()
    objs = [
        TeamRisk(
            team_id=int(team),
            wave_id=waves[w] if w >= 0 else None,
            level=str(scores.level[i]),
            score=round(float(scores.score[i]), 4) if np.isfinite(scores.score[i]) else None,
            reasons=list(scores.reasons[i]),
            computed_at=now,
        )
        for i, (team, w) in enumerate(zip(scores.teams.tolist(), scores.wave.tolist(), strict=True))
    ]
    with transaction.atomic():
        TeamRisk.objects.bulk_create(
            objs,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["team"],
            update_fields=["wave", "level", "score", "reasons", "computed_at"],
        )
        TeamRisk.objects.exclude(computed_at=now).delete()
    return len(objs)


# --- backtest ---------------------------------------------------------------------------------


class BacktestError(Exception):
    """Too little history for even one rolling origin."""


@dataclass(frozen=True)
class Fold:
    origin: date
    train_rows: int
    train_departures: int
    test_waves: int
    test_rows: int


@dataclass(frozen=True)
class ModelBacktest:
    """One model's out-of-sample figures over every fold's test team-waves."""

    name: str
    auc: float
    precision_top_decile: float
    lead_days_median: float  # NaN when no departure was flagged ahead
    departures_flagged: int  # flagged high or elevated at some wave within the horizon before
    departures_missed: int  # scored, never flagged
    departures_unscored: int  # neither the team nor an ancestor had a score then
    calibration: stats.DecileCalibration


@dataclass(frozen=True)
class Backtest:
    horizon_days: int
    seed: int
    folds: tuple[Fold, ...]
    rows: int  # test team-waves
    teams: int
    positives: int  # test team-waves with a departure in the horizon
    departures: int  # departures inside some test wave's horizon
    model: ModelBacktest
    baseline: ModelBacktest
    auc_difference: stats.BootstrapInterval  # model − baseline, team-cluster bootstrap


def risk_backtest(
    *,
    folds: int = 4,
    horizon_days: int = HORIZON_DAYS,
    seed: int = 0,
    bootstrap: int = 1000,
    as_of: date | None = None,
    progress: bool = False,
) -> Backtest:
    """Rolling-origin backtest of the risk score against the size-plus-past-turnover baseline,
    on the stored releases and recorded voluntary departures."""
    features = features_build(
        released_panel(),
        surveys.departures_by_team(),
        as_of=as_of or timezone.now().date(),
        horizon_days=horizon_days,
    )
    return backtest_compute(features, folds=folds, seed=seed, bootstrap=bootstrap, progress=progress)


def _trained_before(features: Features, origin: int) -> NDArray[np.bool_]:
    """Team-waves whose horizon had passed by the origin's opening day: what was known then."""
    ended = features.day + features.horizon_days <= features.day[origin]
    return features.finest & ended[None, :]


def backtest_compute(
    features: Features, *, folds: int = 4, seed: int = 0, bootstrap: int = 1000, progress: bool = False
) -> Backtest:
    if folds < 1:
        raise ValueError("folds must be at least 1")
    teams, waves = features.panel.shape
    candidates = [
        w
        for w in range(waves)
        if features.known[w]
        and features.finest[:, w].any()
        and (lambda rows: rows.sum() >= MIN_FIT_ROWS and features.future[rows].sum() >= MIN_FIT_DEPARTURES)(
            _trained_before(features, w)
        )
    ]
    if not candidates:
        raise BacktestError(
            f"not enough history for a backtest: no wave with a known {features.horizon_days}-day outcome has "
            f"{MIN_FIT_ROWS} earlier team-waves with known outcomes and a recorded voluntary departure before it"
        )
    picks = np.unique(np.round(np.linspace(0, len(candidates) - 1, min(folds, len(candidates)))).astype(int))
    origins = [candidates[i] for i in picks]
    preds = {name: np.full((teams, waves), np.nan) for name in ("model", "baseline")}
    flagged = {name: np.zeros((teams, waves), dtype=bool) for name in preds}
    summary = []
    bar = tqdm(origins, desc="folds", unit="fold", disable=not progress, leave=False, file=sys.stderr)
    for f, origin in enumerate(bar):
        end = origins[f + 1] if f + 1 < len(origins) else waves
        test_cols = [w for w in range(origin, end) if features.known[w]]
        train = _trained_before(features, origin)
        test = np.zeros((teams, waves), dtype=bool)
        test[:, test_cols] = features.finest[:, test_cols]
        for name, names in (("model", FEATURE_NAMES), ("baseline", BASELINE_FEATURES)):
            fitted = model_fit(features, train, names)
            assert fitted is not None  # the origin was chosen so that it can be fitted
            rate = fitted.rate(features.values[test])
            preds[name][test] = rate
            flagged[name][test] = fitted.level(rate) != "low"
        summary.append(
            Fold(
                origin=features.panel.opens_on[origin],
                train_rows=int(train.sum()),
                train_departures=int(features.future[train].sum()),
                test_waves=len(test_cols),
                test_rows=int(test.sum()),
            )
        )
    tested = np.isfinite(preds["model"])
    labels = features.future[tested] > 0
    expected = {name: p[tested] * features.exposure[tested] for name, p in preds.items()}
    leads = {name: _lead_times(features, tested, flagged[name]) for name in preds}
    results = {
        name: ModelBacktest(
            name=name,
            auc=stats.auc(expected[name], labels),
            precision_top_decile=stats.precision_at_top(expected[name], labels, 0.1),
            lead_days_median=float(np.median(leads[name][0])) if leads[name][0].size else float("nan"),
            departures_flagged=int(leads[name][0].size),
            departures_missed=leads[name][1],
            departures_unscored=leads[name][2],
            calibration=stats.observed_expected_by_decile(expected[name], features.future[tested]),
        )
        for name in preds
    }
    clusters = np.broadcast_to(np.arange(teams)[:, None], (teams, waves))[tested]
    difference = stats.auc_difference(
        expected["model"], expected["baseline"], labels, clusters, B=bootstrap, rng=np.random.default_rng(seed)
    )
    return Backtest(
        horizon_days=features.horizon_days,
        seed=seed,
        folds=tuple(summary),
        rows=int(tested.sum()),
        teams=int(tested.any(axis=1).sum()),
        positives=int(labels.sum()),
        departures=leads["model"][3],
        model=results["model"],
        baseline=results["baseline"],
        auc_difference=difference,
    )


def _lead_times(
    features: Features, tested: NDArray[np.bool_], flagged: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], int, int, int]:
    """Per departure inside some tested wave's horizon: days from the earliest wave at which its
    team (or, where the team had no score, its nearest scored ancestor) was flagged, to the
    departure. Returns (lead days of the flagged ones, missed, unscored, departures covered)."""
    panel, horizon = features.panel, features.horizon_days
    rows, days = features.departure_rows, features.departure_days
    first_flag = np.full(rows.size, np.iinfo(np.int64).max)
    covered = np.zeros(rows.size, dtype=bool)
    scored = np.zeros(rows.size, dtype=bool)
    for w in np.flatnonzero(tested.any(axis=0)):
        inside = (days > features.day[w]) & (days <= features.day[w] + horizon)
        covered |= inside
        node = np.where(inside, rows, ROOT)
        found = np.full(rows.size, ROOT)
        for _ in range(_MAX_DEPTH):
            live = (node >= 0) & (found == ROOT)
            if not live.any():
                break
            hit = np.zeros(rows.size, dtype=bool)
            hit[live] = tested[node[live], w]
            found[hit] = node[hit]
            node = np.where(live & ~hit, panel.parent[np.maximum(node, 0), w], ROOT)
        got = found >= 0
        scored |= got
        flag = np.zeros(rows.size, dtype=bool)
        flag[got] = flagged[found[got], w]
        first_flag = np.where(flag, np.minimum(first_flag, features.day[w]), first_flag)
    caught = covered & (first_flag < np.iinfo(np.int64).max)
    return (
        (days[caught] - first_flag[caught]).astype(np.int64),
        int((covered & scored & ~caught).sum()),
        int((covered & ~scored).sum()),
        int(covered.sum()),
    )
