"""analytics/risk.py, GET /api/v1/risks/ and manage.py backtest_risk: churn risk from released
values and recorded voluntary departures.

The history is seeded as the gate's stored releases (its output) plus employees who left, so a
year of monthly waves takes no answering; departures are planted to follow low intent to stay."""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone, translation

from analytics import risk
from analytics.models import DimensionRelease, GroupRelease, TeamRisk
from analytics.panel import released_panel
from surveys import selectors as surveys
from surveys.models import Employee
from tests.factories import EmployeeFactory, SealedWaveFactory, TeamFactory, api_for

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)
STEP = 28  # days between waves
TODAY = date(2026, 6, 1)  # every wave's 90-day horizon has passed
DIMENSIONS = ("intent_to_stay", "growth", "connection", "burnout", "workload")


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield TODAY


def seed_history(*, teams: int = 40, waves: int = 14, seed: int = 0, departures: bool = True):
    """A root with two departments of leaf teams (8..30 people), ``waves`` waves every 28 days.

    Intent to stay drifts per team (AR(1), 0.5 from one wave to the next) around a team level;
    the other dimensions are noise around 3.5; eNPS detractors follow intent, with noise. After
    each wave, each member leaves within 28 days with a probability that rises as the team's
    intent falls (0.4 % a month at 3.6, × e^{-2·(intent - 3.6)}), so that low intent to stay is
    what predicts departures. Returns (root, departments, leaf teams, waves)."""
    rng = np.random.default_rng(seed)
    root = TeamFactory(name="Org")
    departments = [TeamFactory(name="Eng", parent=root), TeamFactory(name="Sales", parent=root)]
    leaves = [TeamFactory(name=f"Team {i}", parent=departments[i % 2]) for i in range(teams)]
    size = rng.integers(8, 31, teams)
    wave_rows = [SealedWaveFactory(opens_on=START + timedelta(days=STEP * w)) for w in range(waves)]
    level = rng.normal(0, 0.2, teams)
    drift = rng.normal(0, 0.5, teams)
    releases, groups, leavers = [], [], []

    def release(wave, team, members, invited, responded, values, promoters, detractors):
        n = int(responded[members].sum())
        path = team.path if team else ""
        groups.append(
            GroupRelease(wave=wave, team=team, path=path, state="results", group=team, invited=invited, responded=n)
        )
        for d in DIMENSIONS:
            mean = round(float(np.average(values[d][members], weights=responded[members])), 2)
            releases.append(
                DimensionRelease(wave=wave, team=team, dimension=d, respondents=n, mean=mean, favorable=0.5)
            )
        pro, det = float(np.average(promoters[members])), float(np.average(detractors[members]))
        enps = round(100 * (pro - det), 1)
        releases.append(
            DimensionRelease(
                wave=wave, team=team, dimension="enps", respondents=n, mean=6.5, favorable=round(pro, 3), enps=enps
            )
        )

    for wave in wave_rows:
        drift = 0.7 * drift + rng.normal(0, 0.5 * np.sqrt(1 - 0.49), teams)
        intent = np.clip(3.6 + level + drift, 1.2, 4.9)
        values = {"intent_to_stay": intent + rng.normal(0, 0.1, teams)}
        for d in DIMENSIONS[1:]:
            values[d] = 3.5 + rng.normal(0, 0.25, teams)
        promoters = np.clip(0.35 + 0.15 * (intent - 3.6) + rng.normal(0, 0.05, teams), 0.02, 0.9)
        detractors = np.clip(0.3 - 0.15 * (intent - 3.6) + rng.normal(0, 0.05, teams), 0.02, 0.9)
        responded = np.maximum(5, np.round(size * rng.uniform(0.7, 0.95, teams))).astype(int)
        parts = [(team, [i]) for i, team in enumerate(leaves)]
        parts += [(dep, list(range(j, teams, 2))) for j, dep in enumerate(departments)]
        parts += [(root, list(range(teams))), (None, list(range(teams)))]
        for team, members in parts:
            release(wave, team, members, int(size[members].sum()), responded, values, promoters, detractors)
        if departures:
            rate = 0.005 * np.exp(-2.5 * (intent - 3.6))
            for i, team in enumerate(leaves):
                for _ in range(rng.binomial(size[i], min(rate[i], 0.5))):
                    left = wave.opens_on + timedelta(days=int(rng.integers(1, STEP + 1)))
                    leavers.append((team, left))
    GroupRelease.objects.bulk_create(groups)
    DimensionRelease.objects.bulk_create(releases)
    Employee.objects.bulk_create(
        EmployeeFactory.build(team=team, active=False, left_on=left, left_reason=Employee.LeftReason.VOLUNTARY)
        for team, left in leavers
    )
    return root, departments, leaves, wave_rows


# --- reasons, levels, the gate ------------------------------------------------------------------


def rendered(team) -> list[str]:
    """The team's stored reasons in words, in the active language, as every reader gets them."""
    return [risk.reason_render(reason) for reason in TeamRisk.objects.get(team=team).reasons]


def expected_reasons(team, waves) -> set[str]:
    """Every reason the team's latest wave could give, written out from the stored releases."""
    latest, before = waves[-1], waves[-5:-1]
    org = {r.dimension: r for r in DimensionRelease.objects.filter(team=None, wave=latest)}
    mine = {r.dimension: r for r in DimensionRelease.objects.filter(team=team, wave=latest)}
    first = {r.dimension: r for r in DimensionRelease.objects.filter(team=team, wave=before[0])}
    group = GroupRelease.objects.get(team=team, wave=latest)
    first_group = GroupRelease.objects.get(team=team, wave=before[0])
    org_group = GroupRelease.objects.get(team=None, wave=latest)
    out = set()
    for d in DIMENSIONS:
        label = d.replace("_", " ")
        x, o = mine[d].mean, org[d].mean
        strain = d in ("burnout", "workload")
        side = ("worse than" if strain else "below") if x < o else ("better than" if strain else "above")
        out.add(f"{label} {side} the whole organisation ({x:.1f} against {o:.1f})")
        change = x - first[d].mean
        if strain:
            out.add(f"{label} {'worse' if change < 0 else 'better'} by {abs(change):.1f} points over 4 waves")
        else:
            out.add(f"{label} {'down' if change < 0 else 'up'} {abs(change):.1f} points over 4 waves")

    def detractors(r):
        return r.favorable - r.enps / 100

    def pct(x):
        return f"{round(100 * x)} %"

    now, then = detractors(mine["enps"]), detractors(first["enps"])
    out.add(f"{pct(now)} eNPS detractors (whole organisation {pct(detractors(org['enps']))})")
    out.add(f"eNPS detractors {'up' if now > then else 'down'} from {pct(then)} to {pct(now)} over 4 waves")
    rate, first_rate = group.responded / group.invited, first_group.responded / first_group.invited
    out.add(f"participation {pct(rate)} (whole organisation {pct(org_group.responded / org_group.invited)})")
    out.add(f"participation {'fell' if rate < first_rate else 'rose'} from {pct(first_rate)} to {pct(rate)}")
    recent = sum(
        1
        for t, left in surveys.departures_by_team()
        if t == team.pk and latest.opens_on - timedelta(days=90) < left <= latest.opens_on
    )
    out.add(
        f"{recent} voluntary departure{'s' if recent != 1 else ''} in 90 days"
        if recent
        else "no voluntary departures in 90 days"
    )
    out.add(f"{group.invited} people invited")
    return out


def test_reasons_are_built_from_the_released_values():
    # given a year of history, and one team whose latest intent to stay and eNPS are far below
    # the org's and that lost three people in the last 90 days
    _, _, leaves, waves = seed_history()
    team = leaves[3]
    DimensionRelease.objects.filter(team=team, dimension="intent_to_stay", wave=waves[-1]).update(mean=1.9)
    DimensionRelease.objects.filter(team=team, dimension="enps", wave=waves[-1]).update(favorable=0.05, enps=-60.0)
    Employee.objects.bulk_create(
        EmployeeFactory.build(
            team=team,
            active=False,
            left_on=waves[-1].opens_on - timedelta(days=d),
            left_reason=Employee.LeftReason.VOLUNTARY,
        )
        for d in (5, 30, 60)
    )

    # when
    count = risk.risks_refresh()

    # then it is flagged high, and each of its reasons is a released number in words
    assert count == TeamRisk.objects.count() == len(leaves) + 3
    flag = TeamRisk.objects.get(team=team)
    assert (flag.level, flag.wave) == ("high", waves[-1])
    assert 1 <= len(flag.reasons) <= risk.MAX_REASONS
    assert set(rendered(team)) <= expected_reasons(team, waves)
    org = DimensionRelease.objects.get(team=None, wave=waves[-1], dimension="intent_to_stay").mean
    # stored as data, the released numbers behind it, and put into words when read
    assert flag.reasons[0] == {"code": "intent_to_stay", "value": 1.9, "org": pytest.approx(org)}
    assert rendered(team)[0] == f"intent to stay below the whole organisation (1.9 against {org:.1f})"
    # and so is every other team's
    for other in leaves[:10]:
        assert set(rendered(other)) <= expected_reasons(other, waves)
    # the score is the expected voluntary departures per person over 90 days
    assert 0 < flag.score < 1


def test_levels_follow_the_cut_offs_of_the_fitted_distribution():
    seed_history(seed=1)
    features = risk.features_build(released_panel(), surveys.departures_by_team(), as_of=TODAY)

    scores = risk.risk_compute(features)

    model = scores.model
    train = features.finest & features.known[None, :]
    fitted = model.rate(features.values[train])
    assert model.high == pytest.approx(np.quantile(fitted, 0.9))
    assert model.elevated == pytest.approx(np.quantile(fitted, 0.7))
    assert model.rows == int(train.sum())
    scored = np.isfinite(scores.score)
    expected = np.where(scores.score > model.high, "high", np.where(scores.score > model.elevated, "elevated", "low"))
    np.testing.assert_array_equal(scores.level[scored], expected[scored])
    assert scored.all()  # every team released its values in the latest wave
    assert {"high", "elevated", "low"} == set(scores.level)


def test_a_team_whose_latest_wave_is_suppressed_is_insufficient_data():
    # given a team whose every dimension was suppressed in the latest wave (few answers)
    _, _, leaves, waves = seed_history(seed=2)
    team = leaves[5]
    DimensionRelease.objects.filter(team=team, wave=waves[-1]).update(
        mean=None, favorable=None, enps=None, reason="few_answers"
    )

    # when
    risk.risks_refresh()

    # then no score: a risk flag is a release too
    flag = TeamRisk.objects.get(team=team)
    assert (flag.level, flag.score, flag.wave) == ("insufficient_data", None, waves[-1])
    assert flag.reasons == [{"code": "not_released", "opens_on": f"{waves[-1].opens_on:%Y-%m-%d}"}]
    assert rendered(team) == [f"no values released for this team in the latest wave ({waves[-1].opens_on:%Y-%m-%d})"]
    # while a team with one dimension hidden is scored, and never reasoned about it
    DimensionRelease.objects.filter(team=leaves[6], wave=waves[-1], dimension="intent_to_stay").update(
        mean=None, favorable=None, reason="audit"
    )
    risk.risks_refresh()
    other = TeamRisk.objects.get(team=leaves[6])
    assert other.level != "insufficient_data" and other.score is not None
    assert not any(
        reason.startswith("intent to stay below") or "intent to stay above" in reason for reason in rendered(leaves[6])
    )
    assert "intent_to_stay" not in {reason["code"] for reason in other.reasons}


def test_too_little_history_gives_no_score_and_says_why():
    # given waves but no recorded departure at all
    seed_history(waves=6, seed=3, departures=False)

    risk.risks_refresh()

    flags = TeamRisk.objects.exclude(wave=None)
    assert flags.count() == 43 and set(flags.values_list("level", flat=True)) == {"insufficient_data"}
    assert set(flags.values_list("score", flat=True)) == {None}
    for flag in flags:
        why = risk.reason_render(flag.reasons[0])
        assert why.startswith("not enough history to score yet: ")
        assert why.endswith(
            "team-waves with a known 90-day outcome (30 needed) and 0 voluntary departures within them (1 needed)"
        )


def text(name: str, **kw) -> str:
    """A term of a score as the reader sees it: stored as data, rendered in the active language."""
    return risk.reason_render(risk.reason_data(name, **kw))


def test_reason_texts():
    kw = {"value": 0.0, "base": np.nan, "lag": 0, "org": np.nan, "past": 0.0, "exposure": 12.0}
    assert text("intent_to_stay_change", **{**kw, "value": -0.6, "base": 4.1, "lag": 4}) == (
        "intent to stay down 0.6 points over 4 waves"
    )
    assert (
        text("burnout_change", **{**kw, "value": -0.4, "base": 3.9, "lag": 1})
        == "burnout worse by 0.4 points over 1 wave"
    )
    assert (
        text("participation_change", **{**kw, "value": -0.25, "base": 0.85}) == "participation fell from 85 % to 60 %"
    )
    assert text("departures", **{**kw, "past": 3.0}) == "3 voluntary departures in 90 days"
    assert text("departures", **{**kw, "past": 1.0}) == "1 voluntary departure in 90 days"
    assert (
        text("growth", **{**kw, "value": 2.94, "org": 3.61}) == "growth below the whole organisation (2.9 against 3.6)"
    )
    assert (
        text("workload", **{**kw, "value": 2.5, "org": 3.0})
        == "workload worse than the whole organisation (2.5 against 3.0)"
    )
    assert (
        text("enps_detractors", **{**kw, "value": 0.45, "org": 0.3}) == "45 % eNPS detractors (whole organisation 30 %)"
    )
    assert text("enps_detractors_change", **{**kw, "value": 0.25, "base": 0.2, "lag": 3}) == (
        "eNPS detractors up from 20 % to 45 % over 3 waves"
    )
    assert text("participation", **{**kw, "value": 0.55, "org": 0.78}) == "participation 55 % (whole organisation 78 %)"
    assert text("size", **kw) == "12 people invited"


# The same stored reasons, as data, and what an English and a German reader get from them.
STORED = [
    {"code": "intent_to_stay_change", "value": -0.6, "base": 4.1, "lag": 4},
    {"code": "burnout_change", "value": -0.4, "base": 3.9, "lag": 1},
    {"code": "participation_change", "value": -0.25, "base": 0.85, "lag": 4},
    {"code": "departures", "count": 3, "days": 90},
    {"code": "departures", "count": 1, "days": 90},
    {"code": "departures", "count": 0, "days": 90},
    {"code": "growth", "value": 2.94, "org": 3.61},
    {"code": "workload", "value": 2.5, "org": 3.0},
    {"code": "connection", "value": 3.26, "org": None},
    {"code": "enps_detractors", "value": 0.45, "org": 0.3},
    {"code": "enps_detractors_change", "value": 0.25, "base": 0.2, "lag": 3},
    {"code": "participation", "value": 0.55, "org": 0.78},
    {"code": "no_results"},
    {"code": "not_released", "opens_on": "2026-05-04"},
    {
        "code": "no_history",
        "rows": 12,
        "horizon": 90,
        "rows_needed": 30,
        "departures": 0,
        "departures_needed": 1,
    },
    "intent to stay down 0.6 points",  # stored as words before reasons were data: shown as it is
]
ENGLISH = [
    "intent to stay down 0.6 points over 4 waves",
    "burnout worse by 0.4 points over 1 wave",
    "participation fell from 85 % to 60 %",
    "3 voluntary departures in 90 days",
    "1 voluntary departure in 90 days",
    "no voluntary departures in 90 days",
    "growth below the whole organisation (2.9 against 3.6)",
    "workload worse than the whole organisation (2.5 against 3.0)",
    "connection 3.3",
    "45 % eNPS detractors (whole organisation 30 %)",
    "eNPS detractors up from 20 % to 45 % over 3 waves",
    "participation 55 % (whole organisation 78 %)",
    "no released results yet",
    "no values released for this team in the latest wave (2026-05-04)",
    "not enough history to score yet: 12 team-waves with a known 90-day outcome (30 needed) and 0 voluntary "
    "departures within them (1 needed)",
    "intent to stay down 0.6 points",
]
GERMAN = [
    "Bleibeabsicht über 4 Runden um 0,6 Punkte gesunken",
    "Burnout über 1 Runde um 0,4 Punkte schlechter",
    "Beteiligung von 85 % auf 60 % gesunken",
    "3 freiwillige Austritte in 90 Tagen",
    "1 freiwilliger Austritt in 90 Tagen",
    "keine freiwilligen Austritte in 90 Tagen",
    "Entwicklung unter dem Wert der gesamten Organisation (2,9 gegenüber 3,6)",
    "Arbeitslast schlechter als in der gesamten Organisation (2,5 gegenüber 3,0)",
    "Verbundenheit 3,3",
    "45 % eNPS-Kritiker (gesamte Organisation 30 %)",
    "eNPS-Kritiker über 3 Runden von 20 % auf 45 % gestiegen",
    "Beteiligung 55 % (gesamte Organisation 78 %)",
    "noch keine veröffentlichten Ergebnisse",
    "in der letzten Runde wurden für dieses Team keine Werte veröffentlicht (2026-05-04)",
    "noch zu wenig Verlauf für eine Bewertung: 12 Team-Runden mit bekanntem Ausgang nach 90 Tagen (30 nötig) "
    "und darin 0 freiwillige Austritte (1 nötig)",
    "intent to stay down 0.6 points",
]


def test_the_same_stored_reasons_read_in_english_and_in_german():
    with translation.override("en"):
        english = [risk.reason_render(reason) for reason in STORED]
    with translation.override("de"):
        german = [risk.reason_render(reason) for reason in STORED]

    assert english == ENGLISH
    assert german == GERMAN


def test_stored_reasons_are_json_data_without_nan():
    # a feature with no whole-organisation value (NaN) is stored as null, which JSON can hold
    reason = risk.reason_data("growth", value=2.94, base=np.nan, lag=0, org=np.nan, past=0.0, exposure=12.0)

    assert reason == {"code": "growth", "value": 2.94, "org": None}
    assert risk.reason_render(reason) == "growth 2.9"


def stored_risk(team, reasons) -> TeamRisk:
    return TeamRisk.objects.create(team=team, level="high", score=0.05, reasons=reasons, computed_at=timezone.now())


def test_the_api_gives_the_reasons_in_the_requested_language():
    # given one team's stored risk, its reasons as data
    team = TeamFactory(name="Eng")
    stored_risk(team, STORED[:3])
    client = api_for(role=Employee.Role.HR)

    # when an English and a German integrator ask
    english = client.get("/api/v1/risks/", HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    german = client.get("/api/v1/risks/", HTTP_ACCEPT_LANGUAGE="de").json()["results"]
    default = client.get("/api/v1/risks/").json()["results"]

    # then each gets the same reasons, in their own words
    assert [r["reasons"] for r in english] == [r["reasons"] for r in default] == [ENGLISH[:3]]
    assert [r["reasons"] for r in german] == [GERMAN[:3]]
    assert german[0] | {"reasons": None} == english[0] | {"reasons": None}  # nothing else differs


# --- the API ------------------------------------------------------------------------------------


def test_hr_sees_every_team_highest_risk_first():
    root, departments, leaves, _ = seed_history(seed=4)
    risk.risks_refresh()
    client = api_for(role=Employee.Role.HR)

    body = client.get("/api/v1/risks/").json()

    results = body["results"]
    assert body["count"] == len(results) == TeamRisk.objects.count()
    assert {r["team"] for r in results} >= {t.pk for t in [root, *departments, *leaves]}
    rank = {"high": 0, "elevated": 1, "low": 2, "insufficient_data": 3}
    keys = [(rank[r["level"]], -(r["score"] or 0)) for r in results]
    assert keys == sorted(keys)
    assert results[0]["level"] == "high" and results[0]["reasons"]
    first = TeamRisk.objects.get(team_id=results[0]["team"])
    assert results[0] == {
        "team": first.team_id,
        "path": first.team.path,
        "level": "high",
        "score": first.score,
        "reasons": [risk.reason_render(reason) for reason in first.reasons],
    }
    assert all(isinstance(reason, str) for r in results for reason in r["reasons"])


def test_a_manager_sees_the_risks_of_their_subtree_only():
    _, departments, leaves, _ = seed_history(seed=5)
    risk.risks_refresh()
    client = api_for(role=Employee.Role.MANAGER, manages=[departments[0]])

    results = client.get("/api/v1/risks/").json()["results"]

    assert {r["team"] for r in results} == {departments[0].pk} | {t.pk for t in leaves[0::2]}


def test_the_risk_list_pages_in_its_order_ties_by_path_in_code_point_order():
    # given: ties in level and score; a missing score counts as 0; "B" sorts before "b"
    org = TeamFactory(name="Org")
    rows = [("b", "low", 0.1), ("B", "low", 0.1), ("a", "high", 0.05), ("c", "insufficient_data", None)]
    rows += [("d", "elevated", 0.0), ("e", "elevated", 0.02)]
    now = timezone.now()
    TeamRisk.objects.create(team=org, level="insufficient_data", score=None, reasons=[], computed_at=now)
    for name, level, score in rows:
        team = TeamFactory(name=name, parent=org)
        TeamRisk.objects.create(team=team, level=level, score=score, reasons=[f"{name} reason"], computed_at=now)
    client = api_for(role=Employee.Role.HR)

    # when
    pages = [client.get("/api/v1/risks/", {"limit": 3, "offset": offset}).json() for offset in (0, 3, 6)]

    # then
    assert [page["count"] for page in pages] == [7, 7, 7]
    assert [[r["path"] for r in page["results"]] for page in pages] == [
        ["Org/a", "Org/e", "Org/d"],
        ["Org/B", "Org/b", "Org"],
        ["Org/c"],
    ]
    assert pages[1]["results"][0]["reasons"] == ["B reason"]


# --- the backtest -------------------------------------------------------------------------------


def test_backtest_beats_the_baseline_where_departures_follow_intent_to_stay():
    # given a year of releases and departures planted to follow low intent to stay
    seed_history(teams=60, waves=16, seed=6)

    # when
    result = risk.risk_backtest(folds=4, seed=1, bootstrap=300)

    # then the score ranks the team-waves that lose someone better than size + past turnover
    assert len(result.folds) == 4
    assert result.model.auc > result.baseline.auc
    assert result.auc_difference.low > 0
    assert result.model.precision_top_decile >= result.baseline.precision_top_decile
    assert result.model.auc > 0.7
    assert sum(result.model.calibration.rows) == result.rows
    assert result.model.departures_flagged > 0 and result.model.lead_days_median > 0
    assert result.model.departures_flagged + result.model.departures_missed + result.model.departures_unscored == (
        result.departures
    )
    # each fold was fitted only on what was known at its origin
    for fold in result.folds:
        assert fold.train_rows >= risk.MIN_FIT_ROWS and fold.test_rows > 0


def test_backtest_risk_command_prints_the_figures():
    seed_history(teams=40, waves=14, seed=7)
    out = io.StringIO()

    call_command("backtest_risk", "--folds", "3", "--seed", "2", stdout=out)

    text = out.getvalue()
    assert "Rolling-origin backtest of the churn-risk score: 3 folds, 90-day horizon" in text
    for label in ("AUC", "Precision in the top decile", "Lead time, median (days)", "Departures flagged ahead"):
        assert label in text
    assert "AUC difference (risk score − baseline): " in text and "team-cluster bootstrap interval" in text
    assert text.count("Observed / expected departures by decile") == 2
    assert "\x1b" not in text and "folds:" not in text  # no progress bar when not on a terminal


def test_backtest_risk_without_history_is_a_clear_error():
    seed_history(waves=3, seed=8)

    with pytest.raises(Exception, match="not enough history for a backtest"):
        call_command("backtest_risk", stdout=io.StringIO())


def test_a_team_never_surveyed_is_insufficient_data_and_nothing_breaks_without_waves():
    # given teams, no wave yet
    team = TeamFactory()

    # when
    count = risk.risks_refresh()

    # then
    assert count == 1
    flag = TeamRisk.objects.get(team=team)
    assert (flag.level, flag.score, flag.wave, flag.reasons) == (
        "insufficient_data",
        None,
        None,
        [{"code": "no_results"}],
    )
    assert rendered(team) == ["no released results yet"]


@pytest.mark.parametrize(
    ("name", "value", "org", "named"),
    [
        ("intent_to_stay", 3.0, 3.0, False),  # "3.0 against 3.0" is no reason to worry
        ("intent_to_stay", 3.04, 2.96, False),  # nor is it once rounded as the words show it
        ("intent_to_stay", 2.9, 3.0, True),
        ("intent_to_stay", 3.2, 3.0, False),  # above the organisation: healthy
        ("burnout", 2.5, 3.1, True),  # oriented: lower is worse
        ("enps_detractors", 0.35, 0.30, True),  # more detractors than the organisation
        ("participation", 0.41, 0.42, True),
        ("participation", 0.424, 0.42, False),  # 42 % against 42 %
        ("intent_to_stay_change", -0.04, float("nan"), False),  # "down 0.0 points"
        ("intent_to_stay_change", -0.6, float("nan"), True),
        ("participation_change", 0.05, float("nan"), False),  # participation rose
        ("departures", 1.0, float("nan"), True),
    ],
)
def test_a_term_is_named_only_where_its_words_read_as_a_worry(name, value, org, named):
    assert risk._a_worry(name, value=value, org=org) is named
