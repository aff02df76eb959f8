"""analytics/stats.py: hand-computed values, and calibration checks that could fail."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from analytics import stats

ROOT = Path(__file__).resolve().parents[2]
STATS_PY = ROOT / "analytics" / "stats.py"


# --- helpers ---------------------------------------------------------------------------------


def _ar_drift(teams: int, waves: int, a: float, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) team drift: variance a, correlation rho from one wave to the next."""
    d = np.empty((teams, waves))
    d[:, 0] = rng.normal(0, np.sqrt(a), teams)
    for w in range(1, waves):
        d[:, w] = rho * d[:, w - 1] + rng.normal(0, np.sqrt(a * (1 - rho**2)), teams)
    return d


def _org(
    rng: np.random.Generator,
    *,
    teams: int = 3000,
    waves: int = 12,
    a: float = 0.02,
    rho: float = 0.7,
    person_sd: float = 0.8,
    sizes: np.ndarray | None = None,
    missing: float = 0.0,
    planted: np.ndarray | None = None,
    decline: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A simulated organisation on a 1–5 scale: team levels, AR drift, an org-wide dip of 0.3
    in two middle waves, sampling noise person_sd²/n; optionally a linear decline totalling
    `decline` over the last 6 waves for the `planted` teams and unreleased points."""
    n = rng.integers(5, 60, size=(teams, 1)) if sizes is None else sizes
    n = np.broadcast_to(n, (teams, waves)).astype(float).copy()
    dip = np.zeros(waves)
    dip[waves // 2 : waves // 2 + 2] = -0.3
    means = rng.normal(3.6, 0.3, (teams, 1)) + _ar_drift(teams, waves, a, rho, rng) + dip
    means += rng.standard_normal((teams, waves)) * person_sd / np.sqrt(n)
    if planted is not None:
        means[planted, -6:] += np.linspace(0.0, -decline, 6)
    if missing:
        drop = rng.random((teams, waves)) < missing
        means[drop] = np.nan
        n[drop] = 0
    org_means = np.nansum(means * n, axis=0) / n.sum(axis=0)
    return means, n, org_means


def _binomial_upper(rate: float, trials: int, sds: float = 3.3) -> float:
    return rate + sds * np.sqrt(rate * (1 - rate) / trials)


# --- the boundary ------------------------------------------------------------------------------


def test_stats_imports_no_django():
    # given a fresh interpreter that has never seen Django
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import analytics.stats; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "sys.exit(1 if bad else 0)"
    )
    # when the statistics module is imported, then nothing of Django comes with it
    assert subprocess.run([sys.executable, "-c", code, str(ROOT)], check=False).returncode == 0
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(ast.parse(STATS_PY.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections", "dataclasses", "typing", "numpy", "scipy"}


# --- weighted slope ----------------------------------------------------------------------------


def test_weighted_slope_equal_weights_by_hand():
    # y = [3, 2, 1] at x = [0, 1, 2], w = 1: x̄ = 1, Σw(x-x̄)² = 2, Σw(x-x̄)y = -3 + 1 = -2
    # slope = -2 / 2 = -1; se = 1 / sqrt(2) = 0.70711 (weights are inverse variances)
    slope, se = stats.weighted_slope([[3.0, 2.0, 1.0]], [[1.0, 1.0, 1.0]])
    assert slope[0] == pytest.approx(-1.0)
    assert se[0] == pytest.approx(1 / np.sqrt(2))


def test_weighted_slope_skips_unreleased_and_counts_waves_held():
    # y = [1, NaN, 2, 4], w = [1, 1, 2, 1]: the NaN is dropped, x = [0, 1, 2] for y = [1, 2, 4]
    # with w = [1, 2, 1]: x̄ = (0 + 2 + 2) / 4 = 1, Sxx = 1 + 0 + 1 = 2, Sxy = -1 + 0 + 4 = 3
    # slope = 1.5, se = 1/sqrt(2); a row with two points is NaN
    slope, se = stats.weighted_slope([[1.0, np.nan, 2.0, 4.0], [1.0, 2.0, np.nan, np.nan]], [[1.0, 1.0, 2.0, 1.0]] * 2)
    assert slope[0] == pytest.approx(1.5)
    assert se[0] == pytest.approx(1 / np.sqrt(2))
    assert np.isnan(slope[1]) and np.isnan(se[1])


def test_weighted_slope_zero_weight_and_explicit_x():
    # w = 0 drops the point; x = [0, 2, 4] for y = [1, 2, 3] gives slope 0.5, se 1/sqrt(8)
    slope, se = stats.weighted_slope([1.0, 2.0, 9.0, 3.0], [1.0, 1.0, 0.0, 1.0], x=[0.0, 2.0, 3.0, 4.0])
    assert float(slope) == pytest.approx(0.5)
    assert float(se) == pytest.approx(1 / np.sqrt(8))


# --- variance function -------------------------------------------------------------------------


def test_variance_function_two_by_two_by_hand():
    # given two teams, two waves each, rho fixed at 0: E[(r2 - r1)²] = 2a + b(1/n1 + 1/n2)
    # team 1: n = 4, 4, difference 1 → 1 = 2a + 0.5 b; team 2: n = 20, 20, difference 0.6 → 0.36 = 2a + 0.1 b
    # subtracting: 0.4 b = 0.64 → b = 1.6; 2a = 1 - 0.8 → a = 0.1
    vf = stats.variance_function_fit([[3.0, 4.0], [3.5, 4.1]], [[4, 4], [20, 20]], rho=0.0)
    assert vf.a == pytest.approx(0.1)
    assert vf.b == pytest.approx(1.6)
    assert vf.pairs == 2
    # var of a mean of 10 = 0.1 + 1.6 / 10 = 0.26
    assert vf.variance(10) == pytest.approx(0.26)


def test_variance_function_clips_at_zero():
    # two equations that would need a < 0: 2a + 0.5b = 0.2, 2a + 0.1b = 0.36 → b = -0.4 unconstrained;
    # with b clipped at 0 the fit of a alone is the weighted mean of the two, so a > 0 and b = 0
    vf = stats.variance_function_fit([[0.0, np.sqrt(0.2)], [0.0, 0.6]], [[4, 4], [20, 20]], rho=0.0)
    assert vf.b == 0.0
    assert 0.05 < vf.a < 0.18


def test_variance_function_recovers_simulated_drift_and_noise():
    # given 4,000 teams of 5..60 over 20 waves with a = 0.02, b = 0.64, rho = 0.6
    rng = np.random.default_rng(7)
    n = np.broadcast_to(rng.integers(5, 60, (4000, 1)), (4000, 20)).astype(float)
    resid = _ar_drift(4000, 20, 0.02, 0.6, rng) + rng.standard_normal((4000, 20)) * 0.8 / np.sqrt(n)
    # when fitted
    vf = stats.variance_function_fit(resid, n)
    # then
    assert vf.a == pytest.approx(0.02, abs=0.003)
    assert vf.b == pytest.approx(0.64, abs=0.03)
    assert vf.rho == pytest.approx(0.6, abs=0.08)


def test_variance_function_without_pairs_is_not_fitted():
    vf = stats.variance_function_fit([[4.0, np.nan], [np.nan, 3.0]], [[10, 0], [0, 10]])
    assert not vf.fitted and vf.pairs == 0


# --- trend statistic ---------------------------------------------------------------------------


def test_trend_statistic_removes_org_movement_by_hand():
    # means [4.0, 3.9, 3.6] against org [3.8, 3.8, 3.6] → resid [0.2, 0.1, 0.0]
    # a = 0, b = 1, n = 10: w = 10 each, Sxx = 10·2 = 20, slope = 10·(-0.2 + 0)/20 = -0.1
    # se = 1/sqrt(20) = 0.22361, z = -0.44721
    vf = stats.VarianceFunction(a=0.0, b=1.0, rho=0.0, pairs=1)
    out = stats.trend_statistic([[4.0, 3.9, 3.6]], [[10, 10, 10]], [3.8, 3.8, 3.6], vf)
    assert out.slope[0] == pytest.approx(-0.1)
    assert out.se[0] == pytest.approx(1 / np.sqrt(20))
    assert out.z[0] == pytest.approx(-0.1 * np.sqrt(20))
    assert out.points[0] == 3


def test_trend_statistic_weights_by_precision_by_hand():
    # resid [0.2, 0.0, 0.1], n = [10, 10, 40], a = 0, b = 1 → w = [10, 10, 40]
    # x̄ = (0 + 10 + 80)/60 = 1.5, dx = [-1.5, -0.5, 0.5], Sxx = 22.5 + 2.5 + 10 = 35
    # Sxy = 10(-1.5)(0.2) + 0 + 40(0.5)(0.1) = -3 + 2 = -1 → slope = -1/35, se = 1/sqrt(35)
    vf = stats.VarianceFunction(a=0.0, b=1.0, rho=0.0, pairs=1)
    out = stats.trend_statistic([[0.2, 0.0, 0.1]], [[10, 10, 40]], [0.0, 0.0, 0.0], vf)
    assert out.slope[0] == pytest.approx(-1 / 35)
    assert out.se[0] == pytest.approx(1 / np.sqrt(35))


def test_trend_statistic_se_accounts_for_drift_by_hand():
    # a = 0.1, b = 0, rho = 0.5, three consecutive waves: w equal, c = w(x - x̄)/Sxx = [-0.5, 0, 0.5]
    # Var = a·c'Rc = 0.1·(0.25 + 0.25 - 2·0.25·rho²) = 0.1·0.375 = 0.0375 → se = 0.19365
    # (with rho = 0 it would be 0.1·0.5 = 0.05, se 0.2236: waves two apart share a·rho²)
    vf = stats.VarianceFunction(a=0.1, b=0.0, rho=0.5, pairs=1)
    out = stats.trend_statistic([[1.0, 2.0, 3.0]], [[10, 10, 10]], [0.0, 0.0, 0.0], vf)
    assert out.slope[0] == pytest.approx(1.0)
    assert out.se[0] == pytest.approx(np.sqrt(0.0375))
    # a gap: waves 0, 1, 3 → the outer pair is 3 waves apart: 0.1·(0.5 - 0.5·0.125) = 0.04375
    gap = stats.trend_statistic([[1.0, 2.0, np.nan, 3.0]], [[10, 10, 0, 10]], [0.0] * 4, vf)
    assert gap.se[0] == pytest.approx(np.sqrt(0.04375))


def test_trend_statistic_uses_the_last_window_points_only():
    # given eight released points of which the first two are wild, window 6 sees [1..6] → slope 1
    vf = stats.VarianceFunction(a=0.0, b=1.0, rho=0.0, pairs=1)
    means = [[50.0, -50.0, 1.0, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0]]
    n = [[10, 10, 10, 10, 0, 10, 10, 10, 10]]
    out = stats.trend_statistic(means, n, [0.0] * 9, vf, window=6)
    assert out.points[0] == 6
    assert out.slope[0] == pytest.approx(1.0)


# --- null calibration --------------------------------------------------------------------------


def test_null_distribution_p_values_and_threshold_by_hand():
    # given a null of nine draws -4..4 for teams with three points
    z_sorted = np.full((4, 9), np.nan)
    z_sorted[3] = np.arange(-4.0, 5.0)
    null = stats.NullDistribution(z_sorted, window=3, sims=9, refits=0)
    # z = -3.5: one draw ≤ it → p_decline = (1 + 1)/10 = 0.2; eight ≥ it → p_improve = 9/10
    # normal score: Φ⁻¹((1 + ½)/10) = Φ⁻¹(0.15) = -1.0364
    p_dec, p_imp, z_cal = null.p_values(np.array([-3.5, 0.0]), np.array([3, 2]))
    assert p_dec[0] == pytest.approx(0.2)
    assert p_imp[0] == pytest.approx(0.9)
    assert z_cal[0] == pytest.approx(sps.norm.ppf(0.15))
    assert np.isnan(p_dec[1])  # two points: untestable
    # alpha 0.2: p ≤ 0.2 ⇔ at most one draw ≤ z ⇔ z < sorted[1] = -3
    low, high = null.thresholds(0.2)
    assert low[3] == -3.0 and high[3] == 3.0


def test_trend_test_false_alarm_rate_with_drift_and_an_org_dip():
    # given 3,000 teams of 5..59, AR(1) drift (a = 0.02, rho = 0.7), an org-wide dip, 10 % of
    # points unreleased, and no team-level change at all
    means, n, org = _org(np.random.default_rng(11), missing=0.1)
    # when tested at alpha 1 %
    result = stats.trend_test(means, n, org, alpha=0.01)
    # then the decline (and improvement) flags fire at about 1 % of the 3,000 team-waves
    declining = float(np.mean(result.direction == "declining"))
    improving = float(np.mean(result.direction == "improving"))
    assert 0.004 <= declining <= _binomial_upper(0.01, 3000)  # ≤ 1.6 %
    assert 0.004 <= improving <= _binomial_upper(0.01, 3000)
    # and z is standard for small and big teams alike (its se knows the drift), where the
    # weights' own se, which treats waves as independent, leaves big teams' z too wide
    vf = result.variance_function
    naive = stats.trend_statistic(means, n, org, stats.VarianceFunction(vf.a, vf.b, 0.0, vf.pairs))
    size = n.max(axis=1)
    for small_or_big in (size < 15, size >= 40):
        assert np.var(result.z[small_or_big]) == pytest.approx(1.0, abs=0.12)
    assert np.var(naive.z[size >= 40]) > 1.2


def test_trend_test_detects_a_one_point_decline_in_teams_of_fifteen():
    # given 3,000 teams of 15 (person sd 0.8 on 1–5, drift a = 0.01, rho = 0.5) of which 90 lose
    # one point linearly over the last 6 waves
    planted = np.arange(90)
    means, n, org = _org(np.random.default_rng(12), a=0.01, rho=0.5, sizes=np.full((3000, 1), 15), planted=planted)
    # when tested
    result = stats.trend_test(means, n, org, alpha=0.01)
    # then at least 80 % of them are flagged, the others still at about 1 %
    assert np.mean(result.direction[planted] == "declining") >= 0.8
    assert np.mean(result.direction[90:] == "declining") <= _binomial_upper(0.01, 2910)
    # and the minimum detectable change the product shows for a team of 15 is below that point
    assert np.median(result.mdc) < 1.0


def test_trend_test_fields_agree_with_each_other():
    means, n, org = _org(np.random.default_rng(13), teams=600, missing=0.3)
    means[0, :-2] = np.nan  # a team with two released points
    n[0, :-2] = 0
    result = stats.trend_test(means, n, org, sims=2000)
    testable = result.points >= 3
    assert result.direction[0] == "insufficient_data" and np.isnan(result.p_value[0])
    assert set(result.points[testable]) >= {3, 4, 5, 6}
    np.testing.assert_array_equal(
        result.direction[testable] == "declining", result.z[testable] < result.z_threshold_decline[testable]
    )
    np.testing.assert_array_equal(
        result.direction[testable] == "improving", result.z[testable] > result.z_threshold_improve[testable]
    )
    np.testing.assert_array_equal(result.direction[testable] != "stable", result.p_value[testable] <= result.alpha)
    # mdc = (Φ⁻¹(0.8) - threshold)·se·(points - 1)
    k = np.flatnonzero(testable)[0]
    expected = (sps.norm.ppf(0.8) - result.z_threshold_decline[k]) * result.se[k] * (result.points[k] - 1)
    assert result.mdc[k] == pytest.approx(expected)
    with pytest.raises(ValueError):
        result.slope[k] = 0.0  # a released figure cannot be overwritten
    # the same data and seed give the same flags
    again = stats.trend_test(means, n, org, sims=2000)
    np.testing.assert_array_equal(again.p_decline, result.p_decline)


# --- combining dimensions ----------------------------------------------------------------------


def test_combine_statistics_by_hand():
    # z = (-1, -2) with correlation 0.5: (-3)/sqrt(1 + 1 + 2·0.5) = -3/sqrt(3) = -1.7321
    # a team missing the second dimension keeps its first: -1/1 = -1
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    out = stats.combine_statistics({"growth": [-1.0, -1.0], "burnout": [-2.0, np.nan]}, correlation=corr)
    assert out.z[0] == pytest.approx(-np.sqrt(3))
    assert out.z[1] == pytest.approx(-1.0)
    assert out.p_decline[0] == pytest.approx(sps.norm.cdf(-np.sqrt(3)))
    assert list(out.statistics) == [2, 1]
    assert out.names == ("growth", "burnout")
    # weights (2, 1): (-2 - 2)/sqrt(4 + 1 + 2·2·0.5) = -4/sqrt(7)
    weighted = stats.combine_statistics([[-1.0, -2.0]], weights=[2.0, 1.0], correlation=corr)
    assert weighted.z[0] == pytest.approx(-4 / np.sqrt(7))


def test_combine_statistics_with_too_few_teams_assumes_full_correlation():
    # correlation 1 for every pair: the combined z is the mean z, which can only be conservative
    out = stats.combine_statistics([[-1.0, -3.0], [0.5, 0.1]], min_teams=30)
    np.testing.assert_allclose(out.correlation, np.ones((2, 2)))
    assert out.z[0] == pytest.approx(-2.0)


def _dimensions(rng, *, teams, sizes, shared=0.5, planted=None, decline=0.0, dims=4):
    """Several dimensions of one organisation: the same respondents (noise correlated `shared`
    across dimensions) and a team drift shared in part too."""
    n = np.broadcast_to(sizes, (teams, 12)).astype(float)
    common_drift = _ar_drift(teams, 12, 0.01, 0.6, rng)
    common_noise = rng.standard_normal((teams, 12))
    out = []
    for _ in range(dims):
        drift = np.sqrt(shared) * common_drift + np.sqrt(1 - shared) * _ar_drift(teams, 12, 0.01, 0.6, rng)
        noise = np.sqrt(shared) * common_noise + np.sqrt(1 - shared) * rng.standard_normal((teams, 12))
        means = 3.6 + drift + noise * 0.8 / np.sqrt(n)
        if planted is not None:
            means[planted, -6:] += np.linspace(0.0, -decline, 6)
        out.append((means, n, np.mean(means, axis=0)))
    return out


def test_combined_statistic_false_alarm_rate():
    # given four correlated dimensions of 3,000 teams with no change
    dims = _dimensions(np.random.default_rng(21), teams=3000, sizes=rng_sizes(21, 3000))
    tests = [stats.trend_test(m, n, o, sims=2000) for m, n, o in dims]
    # when combined
    out = stats.combine_statistics({f"d{i}": t.z_calibrated for i, t in enumerate(tests)})
    # then the estimated correlation is clearly positive and the flag rate stays at 1 %
    assert out.correlation[0, 1] > 0.2
    assert np.mean(out.p_decline <= 0.01) <= _binomial_upper(0.01, 3000)
    assert np.mean(out.p_decline <= 0.01) >= 0.004


def rng_sizes(seed: int, teams: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).integers(5, 40, (teams, 1))


def test_combined_statistic_reaches_small_teams_with_more_power():
    # given teams of 6 where 150 of 3,000 slip 0.6 points in each of four dimensions over 6 waves
    planted = np.arange(150)
    dims = _dimensions(np.random.default_rng(22), teams=3000, sizes=6, shared=0.3, planted=planted, decline=0.6)
    tests = [stats.trend_test(m, n, o, sims=2000) for m, n, o in dims]
    combined = stats.combine_statistics(np.column_stack([t.z_calibrated for t in tests]))
    # then the combined flag finds clearly more of them than the best single dimension
    best_single = max(np.mean(t.direction[planted] == "declining") for t in tests)
    assert np.mean(combined.p_decline[planted] <= 0.01) >= 1.3 * best_single
    assert np.mean(combined.p_decline[150:] <= 0.01) <= _binomial_upper(0.01, 2850)


# --- shrinkage and multiple testing ------------------------------------------------------------


def test_eb_shrink_by_hand():
    # B = τ²/(τ² + v): τ² = 0.04, v = 0.04 → B = 0.5 → 3.5 + 0.5·(4.0 - 3.5) = 3.75
    # v = 0.12 → B = 0.25 → 3.625; v = τ² = 0 → the team's own mean
    shrunk = stats.eb_shrink([4.0, 4.0, 4.0], [0.04, 0.12, 0.0], [3.5, 3.5, 3.5], [0.04, 0.04, 0.0])
    np.testing.assert_allclose(shrunk, [3.75, 3.625, 4.0])


def test_between_variance_moments_by_hand():
    # y = [1, 3] around 2 with v = 0.5: mean((y - p)²) - mean(v) = 1 - 0.5 = 0.5
    assert stats.between_variance_moments([1.0, 3.0], [0.5, 0.5], [2.0, 2.0]) == pytest.approx(0.5)
    # per group: the second group's excess is -0.1, clipped at 0
    tau2 = stats.between_variance_moments([1.0, 3.0, 2.0, 2.0], [0.5, 0.5, 0.1, 0.1], [2.0] * 4, groups=[7, 7, 9, 9])
    np.testing.assert_allclose(tau2, [0.5, 0.5, 0.0, 0.0])


def test_benjamini_hochberg_by_hand():
    # sorted: 0.005, 0.01, 0.03, 0.04, 0.20; ×m/rank: 0.025, 0.025, 0.05, 0.05, 0.20
    # running min from the top: 0.025, 0.025, 0.05, 0.05, 0.20; back in input order:
    p = [0.01, 0.04, 0.03, 0.005, 0.20]
    rejected, adjusted = stats.benjamini_hochberg(p, q=0.05)
    np.testing.assert_allclose(adjusted, [0.025, 0.05, 0.05, 0.025, 0.20])
    assert list(rejected) == [True, True, True, True, False]
    np.testing.assert_allclose(adjusted, sps.false_discovery_control(p))


def test_benjamini_hochberg_leaves_nan_out():
    # the NaN is not a test: m = 3, 0.01·3/1 = 0.03, 0.04·3/2 = 0.06, 0.9·3/3 = 0.9
    rejected, adjusted = stats.benjamini_hochberg(np.array([[0.01, np.nan], [0.04, 0.9]]), q=0.03)
    np.testing.assert_allclose(adjusted, [[0.03, np.nan], [0.06, 0.9]])
    assert rejected.tolist() == [[True, False], [False, False]]
    finite = np.random.default_rng(3).random(40)
    np.testing.assert_allclose(stats.benjamini_hochberg(finite)[1], sps.false_discovery_control(finite))


# --- risk models -------------------------------------------------------------------------------


def test_poisson_fit_recovers_known_coefficients():
    # given 20,000 team-periods with log rate -2 + 0.3 x1 - 0.2 x2 + 0 x3 and exposure 1..20
    rng = np.random.default_rng(31)
    X = rng.standard_normal((20_000, 3)) * [1.0, 2.0, 0.5] + [5.0, 0.0, -3.0]
    exposure = rng.uniform(1, 20, 20_000)
    y = rng.poisson(exposure * np.exp(-2.0 + X @ [0.3, -0.2, 0.0]))
    # when fitted
    fit = stats.poisson_fit(X, y, exposure, l2=1.0)
    # then
    assert fit.converged and fit.family == "poisson"
    np.testing.assert_allclose(fit.raw_coef, [0.3, -0.2, 0.0], atol=0.02)
    assert fit.raw_intercept == pytest.approx(-2.0, abs=0.1)
    np.testing.assert_allclose(fit.scale, [1.0, 2.0, 0.5], rtol=0.03)
    # the expected counts add up to the observed ones (the intercept's score equation)
    assert stats.predict(fit, X, exposure).sum() == pytest.approx(y.sum(), rel=1e-5)


def test_poisson_fit_without_penalty_solves_the_score_equations():
    # at the unpenalised optimum Z'(μ - y) = 0 for each standardised feature: a wrong analytic
    # gradient would stop the optimiser elsewhere
    rng = np.random.default_rng(32)
    X = rng.standard_normal((500, 2))
    exposure = rng.uniform(1, 5, 500)
    y = rng.poisson(exposure * np.exp(-1 + X @ [0.5, -0.4]))
    fit = stats.poisson_fit(X, y, exposure, l2=0.0)
    resid = stats.predict(fit, X, exposure) - y
    Z = (X - fit.mean) / fit.scale
    np.testing.assert_allclose(Z.T @ resid / y.sum(), 0.0, atol=1e-5)
    # a penalty pulls the standardised coefficients toward 0
    strong = stats.poisson_fit(X, y, exposure, l2=500.0)
    assert np.all(np.abs(strong.coef) < np.abs(fit.coef))


def test_logistic_fit_recovers_known_coefficients():
    rng = np.random.default_rng(33)
    X = rng.standard_normal((20_000, 2))
    y = rng.random(20_000) < 1 / (1 + np.exp(-(-1.0 + X @ [1.0, -0.5])))
    fit = stats.logistic_fit(X, y.astype(float), l2=1.0)
    assert fit.family == "logistic"
    np.testing.assert_allclose(fit.raw_coef, [1.0, -0.5], atol=0.06)
    assert fit.raw_intercept == pytest.approx(-1.0, abs=0.06)
    assert stats.predict(fit, X).mean() == pytest.approx(y.mean(), abs=1e-4)


def test_term_contributions_by_hand():
    # x = [0, 2, 4]: mean 2, sd sqrt(8/3) = 1.63299; coef 0.5 per SD → row x = 4: 0.5·2/1.63299 = 0.61237
    fit = stats.GlmFit("poisson", np.array([0.5]), -1.0, np.array([2.0]), np.array([np.sqrt(8 / 3)]), 1.0, True, 1, 0.0)
    terms = stats.term_contributions(fit, [[0.0], [2.0], [4.0]])
    np.testing.assert_allclose(terms[:, 0], [-0.61237, 0.0, 0.61237], atol=1e-5)
    # and the score is intercept + terms + log exposure
    np.testing.assert_allclose(np.log(stats.predict(fit, [[4.0]], [3.0])), -1.0 + 0.61237 + np.log(3.0), atol=1e-5)


def test_fits_refuse_missing_features():
    with pytest.raises(ValueError):
        stats.poisson_fit([[1.0], [np.nan]], [0, 1], [1.0, 1.0])
    with pytest.raises(ValueError):
        stats.logistic_fit([[1.0], [2.0]], [0, 2])


# --- backtest metrics --------------------------------------------------------------------------


def test_auc_with_a_tie_by_hand():
    # positives 0.4 and 0.8, negatives 0.1 and 0.4: pairs (0.4 > 0.1) 1, (0.4 = 0.4) ½,
    # (0.8 > 0.1) 1, (0.8 > 0.4) 1 → 3.5 / 4 = 0.875
    assert stats.auc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1]) == pytest.approx(0.875)
    assert stats.auc([0.8, 0.4, 0.4, 0.1], [0, 0, 1, 1]) == pytest.approx(0.125)
    assert np.isnan(stats.auc([0.1, 0.2], [1, 1]))
    # an unscored team is left out: same as without it
    assert stats.auc([0.1, np.nan, 0.4, 0.4, 0.8], [0, 1, 0, 1, 1]) == pytest.approx(0.875)


def test_auc_matches_counting_pairs():
    rng = np.random.default_rng(41)
    scores = rng.integers(0, 5, 60).astype(float)
    labels = rng.random(60) < 0.3
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    by_pairs = wins / (pos.size * neg.size)
    assert stats.auc(scores, labels) == pytest.approx(by_pairs)


def test_precision_at_top_by_hand():
    # top 30 % of ten rows = 3: 0.9 (hit) and 0.8 (miss) are in; one of the two tied 0.7 (one
    # hit, one miss) is taken, ½ a hit in expectation → (1 + 0.5) / 3 = 0.5
    scores = [0.9, 0.8, 0.7, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    labels = [1, 0, 1, 0, 1, 1, 1, 1, 1, 1]
    assert stats.precision_at_top(scores, labels, frac=0.3) == pytest.approx(0.5)
    # 10 % of ten = exactly one row, despite 0.1·10 not being exactly 1.0 in floating point
    assert stats.precision_at_top(scores, labels, frac=0.1) == 1.0


def test_observed_expected_by_decile_by_hand():
    # 20 rows, predictions 0.1..2.0: decile 1 holds 0.1 and 0.2 (expected 0.3), observed 0 + 1 = 1
    pred = np.arange(1, 21) / 10
    observed = np.zeros(20)
    observed[[1, 19]] = [1, 3]
    table = stats.observed_expected_by_decile(pred[::-1], observed[::-1])
    assert table.rows.tolist() == [2] * 10
    assert table.expected[0] == pytest.approx(0.3)
    assert table.observed[0] == 1 and table.ratio[0] == pytest.approx(1 / 0.3)
    assert table.expected[9] == pytest.approx(3.9) and table.observed[9] == 3


def test_cluster_bootstrap_resamples_whole_teams():
    # given rows of three teams; every replicate must hold each team's rows equally often
    clusters = np.array(["a", "a", "a", "b", "b", "c"])
    seen = []

    def stat(idx):
        seen.append(np.bincount(idx, minlength=6))
        return float(idx.size)

    out = stats.cluster_bootstrap(stat, clusters, B=200, rng=np.random.default_rng(5))
    for counts in seen[1:]:
        assert counts[0] == counts[1] == counts[2] and counts[3] == counts[4]
        assert (counts[[0, 3, 5]]).sum() == 3  # three teams drawn
    assert out.estimate == 6.0 and out.replicates == 200
    assert 3.0 <= out.low <= out.high <= 9.0


def test_auc_difference_interval_excludes_zero_for_a_better_model():
    # given 300 teams × 4 periods where model A sees the risk and model B is noise
    rng = np.random.default_rng(6)
    team = np.repeat(np.arange(300), 4)
    risk = np.repeat(rng.standard_normal(300), 4)
    labels = rng.random(1200) < 1 / (1 + np.exp(-(risk * 1.5 - 1.5)))
    out = stats.auc_difference(risk + rng.normal(0, 0.3, 1200), rng.standard_normal(1200), labels, team, B=300)
    assert out.low > 0.1
    assert out.low < out.estimate < out.high


def test_the_composite_is_calibrated_within_each_band_of_team_size():
    # given null statistics whose correlation differs with team size, as measured on simulated
    # organisations (big teams' dimensions move together more): 0.6 for teams of 30, 0.1 for 6
    rng = np.random.default_rng(21)
    teams, dims = 6000, 6
    size = np.where(np.arange(teams) % 2 == 0, 30.0, 6.0)

    def correlated(rho: float, n: int) -> np.ndarray:
        shared = rng.standard_normal((n, 1))
        return np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((n, dims))

    z = np.empty((teams, dims))
    z[size == 30] = correlated(0.6, int((size == 30).sum()))
    z[size == 6] = correlated(0.1, int((size == 6).sum()))
    alpha = 0.01

    # when
    pooled = stats.combine_statistics(z)
    banded = stats.combine_statistics_by_size(z, size)

    # then: one pooled matrix (about 0.35) over-flags the big teams and under-flags the small;
    # per band each is near alpha (binomial sd for 3,000 teams at 1 %: 0.18 %)
    big, small = size == 30, size == 6
    assert (pooled.p_decline[big] <= alpha).mean() > 0.016
    assert (pooled.p_decline[small] <= alpha).mean() < 0.006
    assert 0.005 <= (banded.p_decline[big] <= alpha).mean() <= 0.016
    assert 0.005 <= (banded.p_decline[small] <= alpha).mean() <= 0.016
