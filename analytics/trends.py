"""Trends per team × dimension over released points (DESIGN.md, Flows → Analyse).

A point enters a trend only if the gate released it (analytics/panel.py): a flag is a release.
For every dimension:

- the org-wide movement of each wave is the released value of the wave as a whole, and it is
  removed, so a dip the whole organisation goes through flags no team;
- `stats.trend_test` weights each wave by its precision (a variance function of n fitted on
  the released data), takes the slope over each team's last ``WINDOW`` released points and
  sets the thresholds from simulated null organisations, so that a team with no real change
  is flagged in ``PULSE_TREND_FALSE_ALARM_RATE`` of its waves. ``direction`` is that per-team
  test; fewer than 3 released points is ``insufficient_data``. "declining" means getting less
  healthy: releases are already oriented so that higher is healthier.
- the displayed value of each released point is shrunk toward the parent team's released
  value of the same wave (empirical Bayes: by how little a small team's mean can be trusted);
  where the parent's value is hidden, toward the nearest released ancestor, at the top the wave
  as a whole. One between-team variance per dimension, pooled over all team-waves. For display
  only: flags use the team's own released points.

``composite`` is the engagement index: the dimensions' calibrated statistics and a
participation-rate statistic (responded / invited where released, tested the same way)
combined with `stats.combine_statistics_by_size` (the statistics' correlation estimated within
bands of team size, as it differs between small and big teams), which keeps it standard normal under the null while
it reaches small teams whose every dimension slips a little. Its direction is declining /
improving when the combined one-sided p is at most the same false-alarm rate; it has no slope
(it is not on any one scale), and no points of its own.

``q_value``: Benjamini–Hochberg over every stored team × dimension (composite included) of the
two-sided calibrated p, for reports that list many at once.

Reproducible: the simulated null of each dimension is seeded from the number of sealed waves
and the dimension's name, so recomputing the same releases gives the same flags, and a new wave
draws a new null.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from numpy.typing import NDArray
from scipy import stats as scipy_stats

from . import stats
from .models import TeamTrend
from .panel import ROOT, Array, Panel, released_panel

logger = logging.getLogger(__name__)

COMPOSITE = "composite"
PARTICIPATION = "participation"  # enters the composite; not stored as a trend of its own
WINDOW = 6  # released points per trend: about a quarter to half a year of waves
MIN_SIMS = 4000
MAX_SIMS = 100_000
_MAX_DEPTH = 64  # a team tree deeper than this is not a team tree
_NOTHING_MOVES = 1e-9  # variance (scale points²) below which a statistic carries no information


@dataclass(frozen=True)
class DimensionTrends:
    """One dimension's trend of every team row (arrays shaped (teams,), shrunk (teams, waves))."""

    direction: NDArray[np.str_]
    slope: Array
    p_value: Array
    points: NDArray[np.int64]
    min_detectable: Array
    shrunk: Array | None
    stored: NDArray[np.bool_]  # the team gets a row for this dimension

    @property
    def p_two_sided(self) -> Array:
        return np.minimum(1.0, 2.0 * self.p_value)


@dataclass(frozen=True)
class Trends:
    teams: NDArray[np.int64]
    waves: tuple[int, ...]
    dimensions: dict[str, DimensionTrends]  # the panel's dimensions, then COMPOSITE
    q_value: dict[str, Array]


def trends_refresh() -> int:
    """Recompute and store every team's trend per dimension; returns the rows stored."""
    trends = trends_compute(released_panel(), alpha=settings.PULSE_TREND_FALSE_ALARM_RATE)
    return trends_store(trends)


def simulations_for(alpha: float) -> int:
    """Enough null draws that about 40 lie beyond the threshold, within reason."""
    return int(min(MAX_SIMS, max(MIN_SIMS, math.ceil(40 / alpha))))


def seed_for(*, waves: int, name: str) -> int:
    return zlib.crc32(f"{waves}:{name}".encode())


def trends_compute(panel: Panel, *, alpha: float) -> Trends:
    sims = simulations_for(alpha)
    if alpha * (sims + 1) < 1:
        logger.warning("trends: a false-alarm rate of %g is finer than %d simulations resolve", alpha, sims)
    waves = len(panel.waves)
    out: dict[str, DimensionTrends] = {}
    tests: dict[str, stats.TrendTest] = {}
    for d in panel.dimensions:
        test = stats.trend_test(
            panel.mean[d],
            panel.n[d],
            panel.org_mean[d],
            window=WINDOW,
            alpha=alpha,
            sims=sims,
            seed=seed_for(waves=waves, name=d),
        )
        tests[d] = test
        out[d] = DimensionTrends(
            direction=test.direction,
            slope=test.slope,
            p_value=test.p_value,
            points=test.points,
            min_detectable=test.mdc,
            shrunk=_shrunk(panel, d, test.variance_function),
            stored=panel.listed[d].any(axis=1),
        )
    rate = panel.participation()
    participation = stats.trend_test(
        rate,
        np.where(np.isfinite(rate), panel.invited, 0.0),
        panel.org_participation(),
        window=WINDOW,
        alpha=alpha,
        sims=sims,
        seed=seed_for(waves=waves, name=PARTICIPATION),
    )
    out[COMPOSITE] = _composite(panel, tests, participation, alpha)
    q_value = _q_values(out)
    return Trends(teams=panel.teams, waves=panel.waves, dimensions=out, q_value=q_value)


def normal_score(test: stats.TrendTest) -> Array:
    """The decline side's normal score with ties counted half: ``TrendTest.z_calibrated`` counts
    every null draw equal to z as below it, so a statistic the null can't move (participation
    at 100 % everywhere: every z and every null draw 0) would read as a strong improvement and
    tilt the composite. Without ties this is ``z_calibrated`` exactly."""
    vf = test.variance_function
    if not (vf.fitted and vf.a + vf.b > _NOTHING_MOVES):
        # Nothing varies (every team's participation the same in every wave): the "null" is a
        # point, and z is rounding noise.
        return np.full(test.z.shape, np.nan)
    total = test.null.sims + 1
    at_or_below = test.p_decline * total - 1
    below = test.null.sims - (test.p_improve * total - 1)
    return scipy_stats.norm.ppf(((at_or_below + below) / 2 + 0.5) / total)


def _team_size(panel: Panel, window: int = 6) -> Array:
    """Each team's typical respondents per wave: the median published count over its last
    ``window`` surveyed waves (the composite's correlation is estimated per band of it)."""
    counted = np.where(panel.counted > 0, panel.counted.astype(float), np.nan)
    latest = np.full(panel.teams.size, np.nan)
    for row in range(panel.teams.size):
        seen = counted[row][np.isfinite(counted[row])]
        if seen.size:
            latest[row] = np.median(seen[-window:])
    return latest


def _composite(
    panel: Panel, tests: dict[str, stats.TrendTest], participation: stats.TrendTest, alpha: float
) -> DimensionTrends:
    inputs = {d: normal_score(t) for d, t in tests.items()}
    inputs[PARTICIPATION] = normal_score(participation)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant statistic has no correlation
        combined = stats.combine_statistics_by_size(inputs, _team_size(panel))
    testable = combined.statistics > 0
    direction = np.full(panel.teams.size, "insufficient_data", dtype="<U17")
    direction[testable] = "stable"
    direction[testable & (combined.p_decline <= alpha)] = "declining"
    direction[testable & (combined.p_improve <= alpha)] = "improving"
    points = np.max([t.points for t in (*tests.values(), participation)], axis=0)
    nan = np.full(panel.teams.size, np.nan)
    stored = panel.surveyed.any(axis=1)
    for d in panel.dimensions:
        stored = stored | panel.listed[d].any(axis=1)
    return DimensionTrends(
        direction=direction,
        slope=nan,
        p_value=np.where(testable, np.fmin(combined.p_decline, combined.p_improve), np.nan),
        points=points,
        min_detectable=nan.copy(),
        shrunk=None,
        stored=stored,
    )


def _q_values(trends: dict[str, DimensionTrends]) -> dict[str, Array]:
    names = list(trends)
    p = np.stack([np.where(trends[d].stored, trends[d].p_two_sided, np.nan) for d in names])
    _, q = stats.benjamini_hochberg(p)
    return {d: q[i] for i, d in enumerate(names)}


def parent_values(panel: Panel, mean: Array, org: Array) -> Array:
    """Per team-wave, the released value of the team's parent in that wave's frozen tree; where
    it is hidden the nearest released ancestor's, and at the top the wave as a whole (NaN when
    that is hidden too)."""
    teams, waves = mean.shape
    cols = np.broadcast_to(np.arange(waves), (teams, waves)).ravel()
    node = panel.parent.ravel().copy()
    value = np.full(teams * waves, np.nan)
    todo = np.arange(teams * waves)
    for _ in range(_MAX_DEPTH):
        if todo.size == 0:
            break
        at, col = node[todo], cols[todo]
        top = at == ROOT
        value[todo[top]] = org[col[top]]
        todo, at, col = todo[~top], at[~top], col[~top]
        found = mean[at, col]
        got = np.isfinite(found)
        value[todo[got]] = found[got]
        todo, at, col = todo[~got], at[~got], col[~got]
        node[todo] = panel.parent[at, col]
    return value.reshape(teams, waves)


def _shrunk(panel: Panel, d: str, vf: stats.VarianceFunction) -> Array:
    """Display values of the released points (NaN elsewhere); a point whose parent value is
    unknown, or a dimension whose variance could not be fitted, keeps its own value."""
    mean, n = panel.mean[d], panel.n[d]
    released = np.isfinite(mean) & (n > 0)
    if not vf.fitted:
        return np.where(released, mean, np.nan)
    target = parent_values(panel, mean, panel.org_mean[d])
    with np.errstate(divide="ignore", invalid="ignore"):
        sampling = np.where(released, vf.b / np.where(released, n, 1.0), np.nan)
    ok = released & np.isfinite(target)
    if not ok.any():
        return np.where(released, mean, np.nan)
    between = stats.between_variance_moments(mean[ok], sampling[ok], target[ok])
    shrunk = stats.eb_shrink(mean, sampling, target, between)
    return np.where(ok & np.isfinite(shrunk), shrunk, np.where(released, mean, np.nan))


def _values(x: Array, rows: NDArray[np.int64]) -> list[float | None]:
    return [None if v != v else v for v in x[rows].tolist()]  # NaN → None


def _shrunk_maps(shrunk: Array, wave_keys: Sequence[str], rows: NDArray[np.int64]) -> list[dict[str, float]]:
    """{wave id: display value} for each of ``rows``, built from one pass over the array."""
    ri, ci = np.nonzero(np.isfinite(shrunk))
    values = np.round(shrunk[ri, ci], 2).tolist()
    keys = [wave_keys[c] for c in ci.tolist()]
    starts = np.searchsorted(ri, rows, side="left").tolist()
    ends = np.searchsorted(ri, rows, side="right").tolist()
    return [dict(zip(keys[s:e], values[s:e], strict=True)) for s, e in zip(starts, ends, strict=True)]


def trend_rows(trends: Trends) -> list[TeamTrend]:
    now = timezone.now()
    wave_keys = [str(pk) for pk in trends.waves]
    objs = []
    for d, t in trends.dimensions.items():
        rows = np.flatnonzero(t.stored)
        shrunk = _shrunk_maps(t.shrunk, wave_keys, rows) if t.shrunk is not None else [{} for _ in rows]
        columns = zip(
            trends.teams[rows].tolist(),
            t.direction[rows].tolist(),
            _values(t.slope, rows),
            _values(t.p_value, rows),
            _values(trends.q_value[d], rows),
            t.points[rows].tolist(),
            _values(t.min_detectable, rows),
            shrunk,
            strict=True,
        )
        objs.extend(
            TeamTrend(
                team_id=team,
                dimension=d,
                direction=direction,
                slope=slope,
                p_value=p,
                q_value=q,
                points=points,
                min_detectable=mdc,
                shrunk=values,
                computed_at=now,
            )
            for team, direction, slope, p, q, points, mdc, values in columns
        )
    return objs


def trends_store(trends: Trends) -> int:
    """Upsert one row per team × dimension and drop the rows this run did not produce (a
    dimension no longer asked, a team no longer in any release). Idempotent."""
    objs = trend_rows(trends)
    fields = ["direction", "slope", "p_value", "q_value", "points", "min_detectable", "shrunk", "computed_at"]
    with transaction.atomic():
        TeamTrend.objects.bulk_create(
            objs, batch_size=2000, update_conflicts=True, unique_fields=["team", "dimension"], update_fields=fields
        )
        if objs:
            TeamTrend.objects.exclude(computed_at=objs[0].computed_at).delete()
        else:
            TeamTrend.objects.all().delete()
    return len(objs)
