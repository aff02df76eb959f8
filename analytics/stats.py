"""The statistics behind trends and churn risk: numpy and scipy only, never Django.

Kept apart from the ORM so every number the product shows can be checked by hand in a test
(CONVENTIONS.md, point 8). The callers (`analytics/trends.py`, `analytics/risk.py`) pass
plain arrays: team × wave arrays are shaped ``(teams, waves)``, a wave whose value was not
released is ``NaN`` in ``means`` and ``0`` in ``n``, and nothing here ever sees an
unreleased number.

The trend model, in one place so the pieces below agree on it. A team-wave mean, after the
org-wide mean of that wave is removed, is

    resid[t, w] = level[t] + drift[t, w] + noise[t, w]

``level`` is the team's own constant (it never matters: slopes and differences cancel it),
``drift`` is an AR(1) process over waves with stationary variance ``a`` and lag-1
correlation ``rho`` (teams wander even when nothing is wrong), and ``noise`` is sampling
noise of a mean of ``n`` people, variance ``b / n``. A decline flag asks whether the last
few released points slope down more than that null model makes likely; the threshold is
taken from simulated null organisations, so the false-alarm rate per team-wave is the one
configured (DESIGN.md, "Flows → Analyse").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

Array = NDArray[np.float64]

# A variance is never taken as exactly zero: a weight of 1/0 would make one point the whole fit.
_VARIANCE_FLOOR = 1e-12
# The AR(1) coefficient is searched on this grid. Negative values are left out on purpose:
# treating a team that oscillates as one that does not drift only widens its null.
_RHO_GRID = np.linspace(0.0, 0.995, 200)
MIN_TREND_POINTS = 3


def _frozen_arrays(obj: object) -> None:
    """Make every array field of a result read-only: a released figure is a value, not a
    buffer a template or an export could overwrite by accident."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)


# --------------------------------------------------------------------------------------------
# Variance function: how noisy is a team-wave mean of n people?
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarianceFunction:
    """var(team-wave mean around the team's own level) = a + b / n, plus AR(1) drift.

    ``a`` (≥ 0): between-wave variance of a team's true level (scale points²); ``b`` (≥ 0):
    person variance within a team, so ``b / n`` is the sampling variance of a mean of n;
    ``rho`` (0..1): correlation of the team-level deviations one wave apart, so two waves h
    apart share ``a * rho**h``; ``pairs``: within-team pairs of waves the fit used (0 means
    nothing could be fitted and every field but ``max_lag`` is NaN).
    """

    a: float
    b: float
    rho: float
    pairs: int
    max_lag: int = 8

    def variance(self, n: ArrayLike) -> Array:
        """Marginal variance of a team-wave mean of ``n`` respondents (NaN where n ≤ 0)."""
        n = np.asarray(n, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = self.a + self.b / n
        return np.where(n > 0, np.maximum(var, _VARIANCE_FLOOR), np.nan)

    @property
    def fitted(self) -> bool:
        return self.pairs > 0 and np.isfinite(self.b)


def _lagged_pairs(resid: Array, n: Array, max_lag: int) -> list[tuple[int, Array, Array]]:
    """For each lag h (in waves), the squared differences of a team's released points h waves
    apart and the sum of their 1/n. Differences cancel the team's own level, so no team mean
    has to be estimated (and no degrees-of-freedom correction is needed), and gaps left by
    suppressed waves are simply pairs at a longer lag."""
    valid = np.isfinite(resid) & (n > 0)
    inv_n = np.where(valid, 1.0 / np.where(valid, n, 1.0), np.nan)
    out = []
    for h in range(1, min(resid.shape[1] - 1, max_lag) + 1):
        both = valid[:, h:] & valid[:, :-h]
        if not both.any():
            continue
        sq = (resid[:, h:] - resid[:, :-h])[both] ** 2
        s = (inv_n[:, h:] + inv_n[:, :-h])[both]
        out.append((h, sq, s))
    return out


def _grid_solve(sums: Array, lags: Array, rho_grid: Array) -> tuple[float, float, float]:
    """Weighted least squares of E[sq] = 2a(1 - rho**h) + b s over a grid of rho, with a, b ≥ 0.

    ``sums`` holds, per lag, Σw, Σws, Σws², Σwy, Σwsy, Σwy²: enough to solve every grid
    point's 2×2 normal equations without touching the pairs again."""
    sw, sws, swss, swy, swsy, swyy = sums.T
    f = 2.0 * (1.0 - rho_grid[:, None] ** lags[None, :])  # (grid, lags)
    h11 = (f * f * sw).sum(1)
    h12 = (f * sws).sum(1)
    h22 = np.full_like(h11, swss.sum())
    g1 = (f * swy).sum(1)
    g2 = np.full_like(h11, swsy.sum())
    yy = swyy.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        det = h11 * h22 - h12 * h12
        cands = [
            ((g1 * h22 - g2 * h12) / det, (h11 * g2 - h12 * g1) / det),  # both free
            (g1 / h11, np.zeros_like(h11)),  # no sampling noise
            (np.zeros_like(h11), g2 / h22),  # no drift
            (np.zeros_like(h11), np.zeros_like(h11)),
        ]
    best_sse = np.full_like(h11, np.inf)
    best_a = np.zeros_like(h11)
    best_b = np.zeros_like(h11)
    for a, b in cands:
        with np.errstate(invalid="ignore", over="ignore"):
            sse = yy - 2 * (a * g1 + b * g2) + a * a * h11 + 2 * a * b * h12 + b * b * h22
            ok = np.isfinite(sse) & (a >= 0) & (b >= 0) & (sse < best_sse - 1e-15 * abs(yy))
        best_sse = np.where(ok, sse, best_sse)
        best_a = np.where(ok, a, best_a)
        best_b = np.where(ok, b, best_b)
    i = int(np.argmin(best_sse))
    a, b = float(best_a[i]), float(best_b[i])
    return a, b, float(rho_grid[i]) if a > 0 else 0.0


def variance_function_fit(
    resid: ArrayLike, n: ArrayLike, *, max_lag: int = 8, rho: float | None = None
) -> VarianceFunction:
    """Fit var = a + b/n and the drift's lag-1 correlation on the released data.

    ``resid`` are team-wave means with the org-wide mean of each wave removed, ``(teams,
    waves)``. The fit is a variogram: for two released points of a team h waves apart,
    E[(r_j - r_i)²] = 2a(1 - rho**h) + b(1/n_i + 1/n_j). Pairs from teams of different sizes
    separate b from a, pairs at several lags separate rho. Weighted least squares with
    weights 1/E² (the variance of a squared Gaussian difference is 2E²), iterated twice from
    a start that assumes noise dominates; a and b are clipped at 0. Pass ``rho`` to fix it
    (e.g. 0 for independent waves).
    """
    resid = np.atleast_2d(np.asarray(resid, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    pairs = _lagged_pairs(resid, n, max_lag)
    count = sum(p[1].size for p in pairs)
    if count == 0:
        return VarianceFunction(np.nan, np.nan, np.nan, 0, max_lag)
    lags = np.array([p[0] for p in pairs], dtype=float)
    grid = _RHO_GRID if rho is None else np.array([float(rho)])
    a = b = r = np.nan
    for step in range(3):
        sums = np.empty((len(pairs), 6))
        for i, (h, sq, s) in enumerate(pairs):
            expected = s if step == 0 else 2 * a * (1 - r**h) + b * s
            w = 1.0 / np.maximum(expected, _VARIANCE_FLOOR) ** 2
            ws, wq = w * s, w * sq
            sums[i] = [w.sum(), ws.sum(), (ws * s).sum(), wq.sum(), (ws * sq).sum(), (wq * sq).sum()]
        # Rescale so the normal equations stay well within floating range whatever the weights.
        sums /= sums[:, 0].sum()
        a, b, r = _grid_solve(sums, lags, grid)
        if a == 0 and b == 0:
            break
    if rho is not None:
        r = float(rho)
    return VarianceFunction(a, b, r, count, max_lag)


# --------------------------------------------------------------------------------------------
# Slopes
# --------------------------------------------------------------------------------------------


def weighted_slope(y: ArrayLike, w: ArrayLike, x: ArrayLike | None = None) -> tuple[Array, Array]:
    """Weighted least-squares slope of each row and its standard error, NaN-aware.

    Only finite points with w > 0 count. ``x`` defaults to the position of each such point
    among the row's counted points (0, 1, 2, ...): a trend is per wave held, not per day, so
    a skipped wave does not stretch the axis. The weights are inverse variances, so
    se = 1 / sqrt(Σ w (x - x̄_w)²), not a residual-based estimate (three points leave one
    degree of freedom, far too few to estimate a variance from). NaN with fewer than 3
    points. Rows are the last axis: y of shape (..., points) gives results of shape (...).
    """
    y = np.asarray(y, dtype=float)
    w = np.broadcast_to(np.asarray(w, dtype=float), y.shape)
    valid = np.isfinite(y) & np.isfinite(w) & (w > 0)
    if x is None:
        xs = np.cumsum(valid, axis=-1) - 1.0
    else:
        xs = np.broadcast_to(np.asarray(x, dtype=float), y.shape)
        valid &= np.isfinite(xs)
    wv = np.where(valid, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = wv.sum(-1)
        xbar = (wv * np.where(valid, xs, 0.0)).sum(-1) / sw
        dx = np.where(valid, xs - xbar[..., None], 0.0)
        sxx = (wv * dx * dx).sum(-1)
        slope = (wv * dx * np.where(valid, y, 0.0)).sum(-1) / sxx
        se = 1.0 / np.sqrt(sxx)
    enough = (valid.sum(-1) >= MIN_TREND_POINTS) & (sxx > 0)
    return np.where(enough, slope, np.nan), np.where(enough, se, np.nan)


@dataclass(frozen=True)
class _Window:
    """The last ``window`` released points of each team, right-aligned: column ``window - 1``
    is the team's latest released point, missing columns on the left are NaN / 0."""

    resid: Array  # (teams, window)
    n: Array  # (teams, window), 0 where no point
    wave: Array  # (teams, window), wave index of each point, NaN where no point
    points: NDArray[np.int64]  # (teams,)


def _last_points(resid: Array, n: Array, window: int) -> _Window:
    valid = np.isfinite(resid) & (n > 0)
    rank = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]  # 1 at each team's latest point
    rows, cols = np.nonzero(valid & (rank <= window))
    pos = window - rank[rows, cols]
    teams = resid.shape[0]
    out_r = np.full((teams, window), np.nan)
    out_n = np.zeros((teams, window))
    out_g = np.full((teams, window), np.nan)
    out_r[rows, pos] = resid[rows, cols]
    out_n[rows, pos] = n[rows, cols]
    out_g[rows, pos] = cols
    return _Window(out_r, out_n, out_g, np.minimum(valid.sum(1), window))


def _slope_model_se(y: Array, n: Array, wave: Array, vf: VarianceFunction) -> tuple[Array, Array]:
    """WLS slope with weights 1/(a + b/n), and its standard error under the fitted model.

    The weights treat waves as independent, but a drifting team's waves are not: two waves
    h apart share a·rho**h. The slope is Σ c_i y_i, so its variance is c'Σc with
    Σ_ij = a·rho**|g_i - g_j| + [i = j]·b/n_i; that is the se used. With rho = 0 it is the
    weights' own se. Standardising this way makes z equally distributed for big teams (drift
    dominates) and small ones (sampling noise dominates), so one null per number of points
    does not hand big teams more false alarms than small ones.
    """
    valid = np.isfinite(y) & (n > 0)
    w = np.where(valid, 1.0 / vf.variance(np.where(valid, n, 1.0)), 0.0)
    x = np.broadcast_to(np.arange(y.shape[1], dtype=float), y.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = (w * x).sum(1) / w.sum(1)
        dx = np.where(valid, x - xbar[:, None], 0.0)
        sxx = (w * dx * dx).sum(1)
        c = w * dx / sxx[:, None]
        slope = (c * np.where(valid, y, 0.0)).sum(1)
        gaps = np.abs(wave[:, :, None] - wave[:, None, :])
        corr = np.where(np.isfinite(gaps), vf.rho ** np.nan_to_num(gaps), 0.0)
        var = vf.a * np.einsum("ti,tij,tj->t", c, corr, c) + (c * c * vf.b / np.where(valid, n, 1.0)).sum(1)
        se = np.sqrt(np.maximum(var, _VARIANCE_FLOOR))
    enough = (valid.sum(1) >= MIN_TREND_POINTS) & (sxx > 0)
    return np.where(enough, slope, np.nan), np.where(enough, se, np.nan)


@dataclass(frozen=True)
class TrendStatistic:
    """Per team: ``slope`` (scale points per released wave, after removing the org-wide
    movement), its model-based ``se``, ``z = slope / se`` and the number of ``points`` used.
    NaN slope / se / z under 3 points."""

    slope: Array
    se: Array
    z: Array
    points: NDArray[np.int64]

    def __post_init__(self) -> None:
        _frozen_arrays(self)


def _trend_from_resid(resid: Array, n: Array, vf: VarianceFunction, window: int) -> tuple[TrendStatistic, _Window]:
    win = _last_points(resid, n, window)
    if not vf.fitted:
        nan = np.full(resid.shape[0], np.nan)
        return TrendStatistic(nan, nan.copy(), nan.copy(), win.points), win
    slope, se = _slope_model_se(win.resid, win.n, win.wave, vf)
    return TrendStatistic(slope, se, slope / se, win.points), win


def _residuals(means: ArrayLike, n: ArrayLike, org_means: ArrayLike) -> tuple[Array, Array]:
    """Team minus org mean of each wave, NaN (and n = 0) wherever the point was not released."""
    means = np.atleast_2d(np.asarray(means, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    resid = means - np.asarray(org_means, dtype=float)[None, :]
    valid = np.isfinite(resid) & np.isfinite(n) & (n > 0)
    return np.where(valid, resid, np.nan), np.where(valid, n, 0.0)


def trend_statistic(
    means: ArrayLike, n: ArrayLike, org_means: ArrayLike, vf: VarianceFunction, window: int = 6
) -> TrendStatistic:
    """The decline statistic of each team over its last ``window`` released points.

    The org-wide mean of each wave is removed first, so a dip the whole organisation goes
    through (a reorganisation, a holiday wave) is not a decline of every team. Each point is
    weighted by its precision 1/(a + b/n).
    """
    resid, n_eff = _residuals(means, n, org_means)
    return _trend_from_resid(resid, n_eff, vf, window)[0]


# --------------------------------------------------------------------------------------------
# Null calibration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NullDistribution:
    """Sorted null z of simulated teams, one row per number of points used.

    ``z_sorted[k]`` (k = 3..window) holds ``sims`` values; a row is NaN where no team used
    that many points (nothing needed it). ``refits`` is how many simulated organisations the
    variance function was re-estimated on (0: the fitted one was used as if known).
    """

    z_sorted: Array  # (window + 1, sims)
    window: int
    sims: int
    refits: int

    def __post_init__(self) -> None:
        _frozen_arrays(self)

    def _counts(self, z: Array, points: Array) -> tuple[Array, Array]:
        """Per team, how many null z are ≤ its z and how many are ≥ it (NaN if untestable)."""
        le = np.full(z.shape, np.nan)
        ge = np.full(z.shape, np.nan)
        for k in range(MIN_TREND_POINTS, self.window + 1):
            row = self.z_sorted[k]
            at = (points == k) & np.isfinite(z)
            if not at.any() or not np.isfinite(row).all():
                continue
            le[at] = np.searchsorted(row, z[at], side="right")
            ge[at] = self.sims - np.searchsorted(row, z[at], side="left")
        return le, ge

    def p_values(self, z: ArrayLike, points: ArrayLike) -> tuple[Array, Array, Array]:
        """Calibrated one-sided p for decline and for improvement, and the normal score of the
        decline side.

        p = (#null on that side of z + 1) / (sims + 1): the +1 counts the observed team as one
        of the draws, so p is never 0 and P(p ≤ alpha) ≤ alpha exactly under the null. The
        normal score uses the mid-rank (#null ≤ z + ½) / (sims + 1) so it is finite and
        centred; it is what `combine_statistics` takes.
        """
        z = np.asarray(z, dtype=float)
        le, ge = self._counts(z, np.asarray(points))
        total = self.sims + 1
        return (le + 1) / total, (ge + 1) / total, stats.norm.ppf((le + 0.5) / total)

    def flag_rank(self, alpha: float) -> int:
        """How many null draws may lie beyond a flagged z: p ≤ alpha ⇔ count + 1 ≤ alpha·(sims+1)."""
        return int(np.floor(alpha * (self.sims + 1) + 1e-9)) - 1

    def thresholds(self, alpha: float) -> tuple[Array, Array]:
        """Per number of points, the z below which a team is flagged declining (strictly) and
        above which improving (strictly). NaN where alpha is finer than the simulation can
        resolve (alpha·(sims + 1) < 1) or the row is empty."""
        m = self.flag_rank(alpha)
        if m < 0:
            nan = np.full(self.window + 1, np.nan)
            return nan, nan.copy()
        return self.z_sorted[:, m].copy(), self.z_sorted[:, self.sims - 1 - m].copy()


def _simulate_drift_and_noise(n: Array, wave: Array, vf: VarianceFunction, rng: np.random.Generator) -> Array:
    """Null series at the given waves: stationary AR(1) drift (variance a, correlation rho per
    wave, so a gap of Δ waves keeps rho**Δ of it) plus sampling noise of variance b/n, no
    trend. NaN where n = 0. Loops over the columns, never over teams."""
    rows, cols = n.shape
    out = np.full((rows, cols), np.nan)
    prev = np.full(rows, np.nan)
    prev_wave = np.full(rows, np.nan)
    for j in range(cols):
        here = n[:, j] > 0
        eps = rng.standard_normal(rows)
        with np.errstate(invalid="ignore"):
            keep = vf.rho ** (wave[:, j] - prev_wave)
        first = ~np.isfinite(prev)
        drift = np.where(first, 1.0, np.sqrt(np.clip(1 - keep**2, 0, 1))) * np.sqrt(vf.a) * eps
        drift = np.where(first, drift, keep * prev + drift)
        prev = np.where(here, drift, prev)
        prev_wave = np.where(here, wave[:, j], prev_wave)
        noise = np.sqrt(vf.b / np.where(here, n[:, j], 1.0)) * rng.standard_normal(rows)
        out[:, j] = np.where(here, drift + noise, np.nan)
    return out


def _refitted(
    n: Array, vf: VarianceFunction, refits: int, max_teams: int, rng: np.random.Generator
) -> list[VarianceFunction]:
    """Variance functions re-estimated on simulated null organisations with the real n pattern.

    The real statistic is standardised with an estimated variance function; scoring the
    simulated teams with estimates that err the way an estimate does (a parametric
    bootstrap) carries that error into the threshold. It matters for small organisations;
    above ``max_teams`` teams a subsample is used, which errs only on the wide side."""
    fits = []
    for _ in range(refits):
        rows = n if n.shape[0] <= max_teams else n[rng.choice(n.shape[0], max_teams, replace=False)]
        waves = np.broadcast_to(np.arange(n.shape[1], dtype=float), rows.shape)
        fit = variance_function_fit(_simulate_drift_and_noise(rows, waves, vf, rng), rows, max_lag=vf.max_lag)
        fits.append(fit if fit.fitted else vf)
    return fits or [vf]


def trend_null_calibrate(
    n: ArrayLike,
    vf: VarianceFunction,
    window: int,
    sims: int,
    rng: np.random.Generator,
    *,
    refits: int = 16,
    max_teams: int = 2000,
) -> NullDistribution:
    """Null distribution of the trend z, per number of points used (3..window).

    For each points count k that some team has, ``sims`` null teams are drawn: each takes
    the respondent counts and wave gaps of a real team with k points (drawn with
    replacement), gets AR(1) drift and sampling noise from the fitted variance function and
    no trend, and is scored exactly like a real team — with a variance function re-fitted
    on a simulated organisation (see `_refitted`). Memory is O(sims × window) whatever the
    number of teams.
    """
    n = np.atleast_2d(np.asarray(n, dtype=float))
    n = np.where(np.isfinite(n) & (n > 0), n, 0.0)
    z_sorted = np.full((window + 1, sims), np.nan)
    if not vf.fitted:
        return NullDistribution(z_sorted, window, sims, 0)
    win = _last_points(np.where(n > 0, 0.0, np.nan), n, window)
    fits = _refitted(n, vf, refits, max_teams, rng)
    for k in range(MIN_TREND_POINTS, window + 1):
        teams = np.flatnonzero(win.points == k)
        if teams.size == 0:
            continue
        pick = rng.choice(teams, sims)
        sim_n, sim_wave = win.n[pick], win.wave[pick]
        y = _simulate_drift_and_noise(sim_n, sim_wave, vf, rng)
        z = np.empty(sims)
        for i, fit in enumerate(fits):
            part = slice(i, None, len(fits))
            slope, se = _slope_model_se(y[part], sim_n[part], sim_wave[part], fit)
            z[part] = slope / se
        z_sorted[k] = np.sort(z)
    return NullDistribution(z_sorted, window, sims, len(fits) if refits else 0)


# --------------------------------------------------------------------------------------------
# The per-team trend test
# --------------------------------------------------------------------------------------------

# The codes `TrendTest.direction` holds (the API's `trend.direction`).
Direction = Literal["declining", "improving", "stable", "insufficient_data"]


@dataclass(frozen=True)
class TrendTest:
    """Per team (arrays shaped (teams,)):

    - ``slope``: scale points per released wave over the last ``points`` points, after the
      org-wide movement is removed; ``se`` its model-based standard error; ``z = slope/se``.
    - ``p_decline`` / ``p_improve``: calibrated one-sided p-values from the simulated null.
    - ``p_value``: the calibrated one-sided p in the direction of the observed slope
      (min of the two), so ``direction != "stable"`` exactly when ``p_value ≤ alpha``; a
      two-sided p is ``min(1, 2 * p_value)``. BH over a report's list should use
      ``p_decline`` when the list is about declines.
    - ``z_calibrated``: normal score of the decline side (negative = declining), standard
      normal under the null; the input to `combine_statistics`.
    - ``direction``: "declining" if p_decline ≤ alpha, "improving" if p_improve ≤ alpha,
      "stable" otherwise, "insufficient_data" under 3 released points.
    - ``z_threshold_decline`` / ``z_threshold_improve``: the calibrated thresholds for the
      team's number of points (declining exactly when z < z_threshold_decline).
    - ``mdc``: minimum detectable change, the total decline over the team's current window
      (in scale points) that would be flagged with ``power`` (80 %) given its own respondent
      counts, from the same variance function. NaN under 3 points.
    """

    slope: Array
    se: Array
    z: Array
    points: NDArray[np.int64]
    p_decline: Array
    p_improve: Array
    p_value: Array
    z_calibrated: Array
    direction: NDArray[np.str_]
    z_threshold_decline: Array
    z_threshold_improve: Array
    mdc: Array
    variance_function: VarianceFunction
    null: NullDistribution
    alpha: float
    window: int
    power: float

    def __post_init__(self) -> None:
        _frozen_arrays(self)


def trend_test(
    means: ArrayLike,
    n: ArrayLike,
    org_means: ArrayLike,
    *,
    window: int = 6,
    alpha: float = 0.01,
    sims: int = 4000,
    seed: int = 0,
    vf: VarianceFunction | None = None,
    power: float = 0.8,
    refits: int = 16,
) -> TrendTest:
    """Test every team for a decline over its last ``window`` released points.

    ``means`` and ``n`` are (teams, waves) of released points only (NaN / 0 elsewhere),
    ``org_means`` the org-wide mean of each wave. The variance function is fitted on the
    same data unless given. ``seed`` makes the simulated null, and so every flag,
    reproducible: the same data always gives the same answer. ``sims`` must resolve
    ``alpha`` (alpha·(sims + 1) ≥ 1), or nothing can be flagged. To test an earlier wave
    (a flag history), pass the columns up to it.
    """
    resid, n_eff = _residuals(means, n, org_means)
    vf = vf if vf is not None else variance_function_fit(resid, n_eff)
    stat, _ = _trend_from_resid(resid, n_eff, vf, window)
    null = trend_null_calibrate(n_eff, vf, window, sims, np.random.default_rng(seed), refits=refits)
    p_dec, p_imp, z_cal = null.p_values(stat.z, stat.points)

    testable = np.isfinite(p_dec)
    limit = (null.flag_rank(alpha) + 1) / (sims + 1) + 1e-12  # the same integer rule as the thresholds
    direction = np.full(stat.z.shape, "insufficient_data", dtype="<U17")
    direction[testable] = "stable"
    direction[testable & (p_dec <= limit)] = "declining"
    direction[testable & (p_imp <= limit)] = "improving"

    thr_dec_k, thr_imp_k = null.thresholds(alpha)
    k = np.clip(stat.points, 0, window)
    thr_dec = np.where(testable, thr_dec_k[k], np.nan)
    thr_imp = np.where(testable, thr_imp_k[k], np.nan)
    mdc = minimum_detectable_change(stat.se, stat.points, thr_dec, power)
    return TrendTest(
        slope=stat.slope,
        se=stat.se,
        z=stat.z,
        points=stat.points,
        p_decline=p_dec,
        p_improve=p_imp,
        p_value=np.fmin(p_dec, p_imp),
        z_calibrated=z_cal,
        direction=direction,
        z_threshold_decline=thr_dec,
        z_threshold_improve=thr_imp,
        mdc=mdc,
        variance_function=vf,
        null=null,
        alpha=alpha,
        window=window,
        power=power,
    )


def minimum_detectable_change(se: ArrayLike, points: ArrayLike, z_threshold: ArrayLike, power: float = 0.8) -> Array:
    """Total decline over ``points`` waves flagged with probability ``power``.

    A linear decline of δ per wave moves z by δ/se, so it is flagged with probability
    Φ(z_threshold - δ/se); setting that to ``power`` gives |δ| = se·(Φ⁻¹(power) -
    z_threshold), and the total over the window is |δ|·(points - 1). Small teams see how
    big a change their size lets the product notice, instead of a silent "stable".
    """
    se = np.asarray(se, dtype=float)
    points = np.asarray(points, dtype=float)
    per_wave = se * (stats.norm.ppf(power) - np.asarray(z_threshold, dtype=float))
    return np.where(points >= MIN_TREND_POINTS, per_wave * (points - 1), np.nan)


# --------------------------------------------------------------------------------------------
# Combining dimensions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CombinedTest:
    """Per team: the combined standard-normal statistic ``z`` (negative = declining), its
    one-sided p-values, and how many statistics entered; plus the correlation and weights
    used (dimension order = ``names``)."""

    z: Array
    p_decline: Array
    p_improve: Array
    statistics: NDArray[np.int64]
    correlation: Array
    weights: Array
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        _frozen_arrays(self)


def statistic_correlation(z: ArrayLike, *, min_teams: int = 30) -> Array:
    """Correlation of the per-dimension statistics across teams (columns of ``z``).

    Dimensions share respondents and a team's drift, so their statistics move together even
    under the null; Stouffer's sum must be divided by the sd that correlation implies.
    Pairwise complete, clipped at ±4 so one extreme team cannot set it; a pair seen in fewer
    than ``min_teams`` teams is taken as correlation 1, the conservative choice (it can only
    shrink the combined z). Projected onto the nearest valid correlation matrix.
    """
    z = np.clip(np.asarray(z, dtype=float), -4, 4)
    d = z.shape[1]
    corr = np.ones((d, d))
    for i in range(d):
        for j in range(i + 1, d):
            both = np.isfinite(z[:, i]) & np.isfinite(z[:, j])
            if both.sum() >= min_teams:
                r = np.corrcoef(z[both, i], z[both, j])[0, 1]
                corr[i, j] = corr[j, i] = r if np.isfinite(r) else 1.0
    vals, vecs = np.linalg.eigh(corr)
    psd = (vecs * np.clip(vals, 0, None)) @ vecs.T
    scale = np.sqrt(np.clip(np.diag(psd), _VARIANCE_FLOOR, None))
    return psd / np.outer(scale, scale)


def combine_statistics(
    z_by_dimension: Mapping[str, ArrayLike] | ArrayLike,
    weights: ArrayLike | None = None,
    *,
    correlation: ArrayLike | None = None,
    min_teams: int = 30,
) -> CombinedTest:
    """One decline statistic per team from several standard-normal ones (Stouffer).

    Pass the per-dimension ``TrendTest.z_calibrated`` (and a participation statistic on the
    same scale), as a mapping name → (teams,) or an array (teams, dimensions). Each team's
    combined z is Σ w_d z_d / sqrt(w' R w) over the statistics it has, R their correlation
    (estimated across teams unless given), so it stays standard normal under the null and a
    small team whose dimensions all slip a little is reached with more power than by any
    one of them. Its p-value is the correlation-corrected normal one, Φ(z): the inputs are
    already calibrated, so no second simulation is needed (a test checks the rate).
    """
    if isinstance(z_by_dimension, Mapping):
        names = tuple(z_by_dimension)
        z = np.column_stack([np.asarray(z_by_dimension[k], dtype=float) for k in names])
    else:
        z = np.atleast_2d(np.asarray(z_by_dimension, dtype=float))
        names = tuple(str(i) for i in range(z.shape[1]))
    w = np.ones(z.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    if correlation is None:
        corr = statistic_correlation(z, min_teams=min_teams)
    else:
        corr = np.asarray(correlation, dtype=float)
    present = np.isfinite(z)
    wz = np.where(present, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.einsum("ti,ij,tj->t", wz, corr, wz))
        combined = (wz * np.where(present, z, 0.0)).sum(1) / sd
    combined = np.where(sd > 0, combined, np.nan)
    return CombinedTest(
        z=combined,
        p_decline=stats.norm.cdf(combined),
        p_improve=stats.norm.sf(combined),
        statistics=present.sum(1),
        correlation=corr,
        weights=w,
        names=names,
    )


SIZE_BANDS = (10.0, 25.0)  # respondents per wave: up to 10, 11–25, more


def combine_statistics_by_size(
    z_by_dimension: Mapping[str, ArrayLike] | ArrayLike,
    size: ArrayLike,
    *,
    bands: Sequence[float] = SIZE_BANDS,
    min_teams: int = 30,
) -> CombinedTest:
    """``combine_statistics`` with the correlation of the statistics estimated within bands of
    team size.

    The dimensions' statistics correlate more in big teams (their sampling noise, which is
    independent across dimensions, is small next to the shared drift) than in small ones:
    one matrix pooled over all teams understates big teams' combined spread and overstates
    small teams', so the composite flags big teams too often and small ones too rarely
    (measured: 1.56 % and 0.75 % at alpha 1 %; bench/bench_trend_accuracy.py). Within a band the
    correlation is close to constant. A band with fewer than ``min_teams`` teams borrows the
    pooled matrix.
    """
    if isinstance(z_by_dimension, Mapping):
        names = tuple(z_by_dimension)
        z = np.column_stack([np.asarray(z_by_dimension[k], dtype=float) for k in names])
    else:
        z = np.atleast_2d(np.asarray(z_by_dimension, dtype=float))
        names = tuple(str(i) for i in range(z.shape[1]))
    size = np.asarray(size, dtype=float)
    pooled = combine_statistics(z, min_teams=min_teams)
    combined, p_decline, p_improve = pooled.z.copy(), pooled.p_decline.copy(), pooled.p_improve.copy()
    band = np.digitize(np.nan_to_num(size, nan=0.0), bands, right=True)
    for b in np.unique(band):
        rows = band == b
        if (np.isfinite(z[rows]).all(axis=1)).sum() < min_teams:
            continue  # too few to estimate a matrix of its own: keep the pooled one
        own = combine_statistics(z[rows], min_teams=min_teams)
        combined[rows], p_decline[rows], p_improve[rows] = own.z, own.p_decline, own.p_improve
    return CombinedTest(
        z=combined,
        p_decline=p_decline,
        p_improve=p_improve,
        statistics=pooled.statistics,
        correlation=pooled.correlation,
        weights=pooled.weights,
        names=names,
    )


# --------------------------------------------------------------------------------------------
# Display shrinkage and multiple testing
# --------------------------------------------------------------------------------------------


def between_variance_moments(
    team_mean: ArrayLike, team_var: ArrayLike, parent_mean: ArrayLike, groups: ArrayLike | None = None
) -> float | Array:
    """Method-of-moments variance of true team means around their parent.

    E[(team - parent)²] = τ² + v (v the team mean's sampling variance), so
    τ² = max(0, mean((team - parent)² - v)). With ``groups`` (an integer label per team,
    e.g. the parent's index) one τ² per group is returned for each row. The parent mean
    includes the team, which shrinks the spread a little; for a display value that is fine.
    """
    excess = (np.asarray(team_mean, dtype=float) - np.asarray(parent_mean, dtype=float)) ** 2 - np.asarray(
        team_var, dtype=float
    )
    ok = np.isfinite(excess)
    if groups is None:
        return float(max(0.0, excess[ok].mean())) if ok.any() else np.nan
    labels = np.asarray(groups)
    _, inverse = np.unique(labels, return_inverse=True)
    total = np.bincount(inverse[ok], weights=excess[ok], minlength=inverse.max() + 1)
    count = np.bincount(inverse[ok], minlength=inverse.max() + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.maximum(total / count, 0.0)
    return tau2[inverse]


def eb_shrink(team_mean: ArrayLike, team_var: ArrayLike, parent_mean: ArrayLike, between_var: ArrayLike) -> Array:
    """Empirical-Bayes display value: parent + B·(team - parent), B = τ² / (τ² + v).

    A team of five people swings from wave to wave on noise alone; pulling it toward its
    parent by how little its own mean can be trusted keeps the heatmap from shouting about
    noise. For display only: flags and the released mean use the team's own data. A team
    with no sampling variance and no between-team variance keeps its own mean.
    """
    team_mean = np.asarray(team_mean, dtype=float)
    v = np.asarray(team_var, dtype=float)
    tau2 = np.asarray(between_var, dtype=float)
    parent = np.asarray(parent_mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(tau2 + v > 0, tau2 / (tau2 + v), 1.0)
    return parent + weight * (team_mean - parent)


def benjamini_hochberg(p: ArrayLike, q: float = 0.05) -> tuple[NDArray[np.bool_], Array]:
    """Benjamini–Hochberg over a list of p-values: which are discoveries at FDR ``q``, and the
    adjusted p-values (same shape as ``p``).

    For reports that list many teams × dimensions at once, where a per-test 1 % would
    still fill a long list with false alarms. NaN (untestable) p-values are not counted among
    the tests and stay NaN and unrejected.
    """
    p = np.asarray(p, dtype=float)
    flat = p.ravel()
    ok = np.isfinite(flat)
    values = flat[ok]
    m = values.size
    adjusted = np.full(flat.shape, np.nan)
    if m:
        order = np.argsort(values, kind="stable")
        scaled = values[order] * m / np.arange(1, m + 1)
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.minimum(monotone, 1.0)
        adjusted[ok] = adj
    adjusted = adjusted.reshape(p.shape)
    return np.where(np.isfinite(adjusted), adjusted <= q, False), adjusted


# --------------------------------------------------------------------------------------------
# Risk: regularised Poisson and logistic regression
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlmFit:
    """A fitted L2-regularised Poisson or logistic regression on standardised features.

    ``coef`` is per standard deviation of each feature (what the penalty treats alike and
    what `term_contributions` multiplies); ``intercept`` is the linear predictor at the
    feature means (without the exposure offset). ``raw_coef`` / ``raw_intercept`` are the
    same model in the features' own units. ``loss`` is the penalised negative
    log-likelihood per row at the optimum.
    """

    family: Literal["poisson", "logistic"]
    coef: Array
    intercept: float
    mean: Array
    scale: Array
    l2: float
    converged: bool
    iterations: int
    loss: float

    def __post_init__(self) -> None:
        _frozen_arrays(self)

    @property
    def raw_coef(self) -> Array:
        return self.coef / self.scale

    @property
    def raw_intercept(self) -> float:
        return float(self.intercept - np.sum(self.coef * self.mean / self.scale))


# The names the risk code was briefed with; both are the same dataclass with its `family`.
PoissonFit = GlmFit
LogisticFit = GlmFit


def _design(X: ArrayLike) -> Array:
    X = np.asarray(X, dtype=float)
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    if not np.isfinite(X).all():
        raise ValueError("features must be finite: impute or drop rows before fitting")
    return X


def _standardise(X: Array) -> tuple[Array, Array, Array]:
    """Centre and scale each feature so an L2 penalty costs the same per standard deviation,
    whatever the feature's units (a constant feature keeps scale 1)."""
    mean = X.mean(0)
    scale = X.std(0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return (X - mean) / scale, mean, scale


def _glm_fit(family: Literal["poisson", "logistic"], X: ArrayLike, y: ArrayLike, offset: Array, l2: float) -> GlmFit:
    X = _design(X)
    y = np.asarray(y, dtype=float).ravel()
    if y.shape[0] != X.shape[0] or not np.isfinite(y).all():
        raise ValueError("y must be finite with one value per row of X")
    Z, mean, scale = _standardise(X)
    rows = X.shape[0]

    def loss_and_grad(theta: Array) -> tuple[float, Array]:
        eta = theta[0] + Z @ theta[1:] + offset
        if family == "poisson":
            mu = np.exp(np.minimum(eta, 700.0))
            nll = np.sum(mu - y * eta)
        else:
            mu = special.expit(eta)
            nll = np.sum(np.logaddexp(0.0, eta) - y * eta)
        resid = mu - y
        grad = np.concatenate(([resid.sum()], Z.T @ resid + l2 * theta[1:]))
        # Per row, so the optimiser's tolerances mean the same for 50 teams and 50,000.
        return (nll + 0.5 * l2 * theta[1:] @ theta[1:]) / rows, grad / rows

    if family == "poisson":
        start = np.log(max(y.sum(), 0.5) / np.exp(offset).sum())
    else:
        share = np.clip(y.mean(), 1e-3, 1 - 1e-3)
        start = np.log(share / (1 - share))
    theta0 = np.concatenate(([start], np.zeros(Z.shape[1])))
    res = optimize.minimize(
        loss_and_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14}
    )
    return GlmFit(
        family=family,
        coef=np.asarray(res.x[1:], dtype=float),
        intercept=float(res.x[0]),
        mean=mean,
        scale=scale,
        l2=float(l2),
        converged=bool(res.success),
        iterations=int(res.nit),
        loss=float(res.fun),
    )


def poisson_fit(X: ArrayLike, y: ArrayLike, exposure: ArrayLike, l2: float = 1.0) -> GlmFit:
    """Poisson regression of counts ``y`` (departures) on features, with log(exposure)
    (e.g. headcount × years) as an offset, so a big team is not risky merely for being big.

    ``l2`` is the precision of a Gaussian prior on each standardised coefficient (a penalty
    ½·l2·‖coef‖² on the summed log-likelihood; the intercept is free): with few departures
    it keeps a score from chasing noise. Fitted by L-BFGS-B with the analytic gradient.
    """
    exposure = np.asarray(exposure, dtype=float).ravel()
    if not (np.isfinite(exposure).all() and (exposure > 0).all()):
        raise ValueError("exposure must be positive and finite")
    if (np.asarray(y, dtype=float) < 0).any():
        raise ValueError("counts must be ≥ 0")
    return _glm_fit("poisson", X, y, np.log(exposure), l2)


def logistic_fit(X: ArrayLike, y: ArrayLike, l2: float = 1.0) -> GlmFit:
    """Logistic regression of a 0/1 outcome (a team had a departure in the horizon), with the
    same standardisation and penalty as `poisson_fit`."""
    y = np.asarray(y, dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be 0 or 1")
    return _glm_fit("logistic", X, y, np.zeros(y.size), l2)


def predict(fit: GlmFit, X: ArrayLike, exposure: ArrayLike | None = None) -> Array:
    """Expected counts (Poisson, for the given exposure, 1 if omitted) or probabilities
    (logistic)."""
    eta = fit.intercept + term_contributions(fit, X).sum(1)
    if fit.family == "logistic":
        return special.expit(eta)
    offset = 0.0 if exposure is None else np.log(np.asarray(exposure, dtype=float))
    return np.exp(eta + offset)


def term_contributions(fit: GlmFit, X: ArrayLike) -> Array:
    """Each feature's share of each row's linear predictor, coef × standardised value,
    shaped (rows, features). They add up (with the intercept and offset) to the score, so the
    largest of them are honest reasons: "intent to stay down 1.4 SD" is what moved it."""
    return (_design(X) - fit.mean) / fit.scale * fit.coef


# --------------------------------------------------------------------------------------------
# Risk: backtest metrics
# --------------------------------------------------------------------------------------------


def _scored(scores: ArrayLike, labels: ArrayLike) -> tuple[Array, NDArray[np.bool_]]:
    """Rows with a finite score and label; a team that could not be scored is left out of the
    metric rather than counted as a miss or a hit."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels, dtype=float).ravel()
    ok = np.isfinite(s) & np.isfinite(y)
    return s[ok], y[ok] > 0


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve as the Mann–Whitney probability that a random positive
    outscores a random negative, ties counting ½ (average ranks). NaN if either class is
    empty: there is nothing to rank."""
    s, y = _scored(scores, labels)
    pos = int(y.sum())
    neg = y.size - pos
    if pos == 0 or neg == 0:
        return np.nan
    ranks = stats.rankdata(s)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def precision_at_top(scores: ArrayLike, labels: ArrayLike, frac: float = 0.1) -> float:
    """Share of positives among the ``frac`` highest-scored rows (at least one row).

    HR looks at the top of the list; that is where a score must be right. Ties at the cut
    are taken in proportion (the expected precision under a random tie-break), so the
    metric does not depend on row order.
    """
    s, y = _scored(scores, labels)
    if s.size == 0:
        return np.nan
    k = max(1, int(np.ceil(frac * s.size - 1e-9)))
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    tied = s == cut
    taken_from_tie = k - int(above.sum())
    return float((y[above].sum() + taken_from_tie * y[tied].mean()) / k)


@dataclass(frozen=True)
class DecileCalibration:
    """Observed vs expected per decile of the prediction (decile 1 = lowest predictions)."""

    decile: NDArray[np.int64]
    rows: NDArray[np.int64]
    expected: Array
    observed: Array
    ratio: Array  # observed / expected, NaN where nothing was expected

    def __post_init__(self) -> None:
        _frozen_arrays(self)


def observed_expected_by_decile(pred: ArrayLike, observed: ArrayLike, bins: int = 10) -> DecileCalibration:
    """Sum of predicted and observed events in each tenth of the rows ranked by prediction:
    a model can rank well (high AUC) and still promise twice the departures that happen."""
    p = np.asarray(pred, dtype=float).ravel()
    o = np.asarray(observed, dtype=float).ravel()
    ok = np.isfinite(p) & np.isfinite(o)
    p, o = p[ok], o[ok]
    groups = np.array_split(np.argsort(p, kind="stable"), bins)
    expected = np.array([p[g].sum() for g in groups])
    obs = np.array([o[g].sum() for g in groups])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, obs / expected, np.nan)
    return DecileCalibration(np.arange(1, bins + 1), np.array([g.size for g in groups]), expected, obs, ratio)


@dataclass(frozen=True)
class BootstrapInterval:
    """A statistic on all rows and its percentile interval from ``replicates`` usable
    resamples (resamples where the statistic was NaN, e.g. a class went missing, are
    dropped)."""

    estimate: float
    low: float
    high: float
    level: float
    replicates: int


def cluster_bootstrap(
    stat_fn: Callable[[NDArray[np.intp]], float],
    clusters: ArrayLike,
    B: int = 1000,
    rng: np.random.Generator | None = None,
    *,
    level: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap interval of ``stat_fn(row_indices)``, resampling whole clusters.

    A team contributes many team-waves to a backtest and they are not independent, so rows
    are resampled by team: each replicate draws as many clusters as there are, with
    replacement, and passes the indices of all their rows (repeated as drawn).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    labels = np.asarray(clusters).ravel()
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    estimate = float(stat_fn(np.arange(labels.size)))
    values = np.empty(B)
    for i in range(B):
        drawn = rng.integers(0, sizes.size, sizes.size)
        lengths = sizes[drawn]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        values[i] = stat_fn(order[np.repeat(starts[drawn], lengths) + offsets])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return BootstrapInterval(estimate, np.nan, np.nan, level, 0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return BootstrapInterval(estimate, float(low), float(high), level, int(values.size))


def auc_difference(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    labels: ArrayLike,
    clusters: ArrayLike,
    B: int = 1000,
    rng: np.random.Generator | None = None,
) -> BootstrapInterval:
    """AUC of model A minus AUC of model B (e.g. the risk score minus the size-plus-past-
    turnover baseline), with a team-clustered bootstrap interval: the score earns its place
    only if the interval sits above 0."""
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    y = np.asarray(labels, dtype=float).ravel()
    return cluster_bootstrap(lambda idx: auc(a[idx], y[idx]) - auc(b[idx], y[idx]), clusters, B, rng)
