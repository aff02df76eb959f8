"""analytics/trends.py and GET /api/v1/teams/<id>/trends/: trends over released points only.

One test goes through the real services (launch, answer, close_wave, which runs the analysis);
the statistics-heavy ones seed the gate's stored releases directly (they are its output)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
import pytest
from django.core.management import call_command

from analytics import stats, trends
from analytics.models import DimensionRelease, TeamTrend
from analytics.panel import ROOT, panel_build, released_panel
from surveys.intake import response_record
from surveys.models import Employee, SurveyQuestion, Wave
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.factories import (
    DimensionReleaseFactory,
    EmployeeFactory,
    GroupReleaseFactory,
    QuestionFactory,
    SealedWaveFactory,
    SurveyFactory,
    TeamFactory,
    api_for,
)

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)


def trend_of(body: dict, dimension: str) -> dict:
    return next(d for d in body["dimensions"] if d["dimension"] == dimension)


# --- through the real services ----------------------------------------------------------------


def test_a_planted_decline_through_the_real_services_is_declining_with_the_results_means():
    # given an org of 12 teams of 5 (k = 5: each keeps its own results) and a survey of one
    # intent-to-stay item; 11 teams answer around 4 every wave, Ops slides from 4.8 to 1.8
    acme = TeamFactory(name="Acme")
    teams = [TeamFactory(name=f"T{i}", parent=acme) for i in range(11)]
    ops = TeamFactory(name="Ops", parent=acme)
    for team in [*teams, ops]:
        EmployeeFactory.create_batch(5, team=team)
    survey = SurveyFactory()
    question = QuestionFactory(code="t_stay", dimension="intent_to_stay")
    SurveyQuestion.objects.create(survey=survey, question=question, position=0)
    rng = np.random.default_rng(5)
    # (never five of one answer: a mean of 3.0 with no favourable answer would say each answered 3)
    ops_answers = [[5, 5, 5, 5, 4], [5, 4, 4, 4, 4], [4, 4, 4, 3, 3], [3, 3, 3, 4, 2], [3, 3, 2, 2, 2], [2, 2, 2, 2, 1]]
    waves = []
    for w in range(6):
        wave = wave_launch(survey=survey, teams=[acme], opens_on=START + timedelta(weeks=2 * w))
        for i, invitation in enumerate(wave.invitations.select_related("team").order_by("employee__email")):
            value = ops_answers[w][i % 5] if invitation.team == ops else int(rng.choice([3, 4, 4, 5]))
            response_record(token=token_for(invitation.id), answers={"t_stay": value})
        # when each wave is closed (close_wave runs the analysis before it returns)
        call_command("close_wave", str(wave.pk), stdout=io.StringIO())
        waves.append(Wave.objects.get(pk=wave.pk))
    client = api_for(role=Employee.Role.HR)

    # then Ops is declining, its points are the results' means, and no other team is flagged
    body = client.get(f"/api/v1/teams/{ops.pk}/trends/").json()
    stay = trend_of(body, "intent_to_stay")
    assert stay["trend"]["direction"] == "declining"
    assert stay["trend"]["slope"] < 0 and stay["trend"]["p_value"] <= 0.01
    results = [
        client.get(f"/api/v1/teams/{ops.pk}/results/", {"wave": wave.pk}).json()["dimensions"][0]["mean"]
        for wave in waves
    ]
    assert [p["mean"] for p in stay["points"]] == results == [4.8, 4.2, 3.6, 3.0, 2.4, 1.8]
    assert [p["wave"] for p in stay["points"]] == [w.pk for w in waves]
    assert all(p["shrunk_mean"] is not None for p in stay["points"])
    others = TeamTrend.objects.filter(dimension="intent_to_stay").exclude(team=ops)
    assert not others.filter(direction="declining").exists()


# --- seeded releases ----------------------------------------------------------------------------


def seed_org(*, teams: int = 40, waves: int = 8, seed: int = 1, dimensions=("intent_to_stay",), shift=None):
    """``teams`` teams of 5..30 under one root, ``waves`` sealed waves two weeks apart, released
    means 3.6 + team level + noise of 0.8/√n per dimension, the root and the wave as a whole as
    the respondent-weighted means. ``shift(team_index, wave_index)`` adds to a team's points."""
    rng = np.random.default_rng(seed)
    root = TeamFactory(name="Org")
    members = [TeamFactory(name=f"Team {i}", parent=root) for i in range(teams)]
    sizes = rng.integers(5, 31, teams)
    level = rng.normal(0, 0.3, teams)
    wave_rows = [SealedWaveFactory(opens_on=START + timedelta(weeks=2 * w)) for w in range(waves)]
    rows = []
    for w, wave in enumerate(wave_rows):
        for dimension in dimensions:
            means = 3.6 + level + rng.standard_normal(teams) * 0.8 / np.sqrt(sizes)
            if shift is not None:
                means += np.array([shift(i, w) for i in range(teams)])
            means = np.round(np.clip(means, 1, 5), 2)
            whole = round(float(np.average(means, weights=sizes)), 2)
            for team, n, m in zip(members, sizes, means, strict=True):
                rows.append(
                    DimensionRelease(wave=wave, team=team, dimension=dimension, respondents=int(n), mean=float(m))
                )
            for team in (root, None):
                rows.append(
                    DimensionRelease(
                        wave=wave, team=team, dimension=dimension, respondents=int(sizes.sum()), mean=whole
                    )
                )
        invited = sizes + rng.integers(0, 4, teams)
        for team, n, i in [
            *zip(members, sizes, invited, strict=True),
            (root, sizes.sum(), invited.sum()),
            (None, sizes.sum(), invited.sum()),
        ]:
            GroupReleaseFactory(wave=wave, team=team, invited=int(i), responded=int(n))
    DimensionRelease.objects.bulk_create(rows)
    return root, members, wave_rows


def test_an_org_wide_dip_flags_no_team_while_a_real_decline_is_flagged():
    # given every team down 0.8 in the last wave (the whole org dips), and team 0 sliding 1.5
    # points over the last 6 waves on top
    def shift(team: int, wave: int) -> float:
        return (-0.8 if wave == 7 else 0.0) + (-0.3 * max(0, wave - 2) if team == 0 else 0.0)

    _, members, _ = seed_org(shift=shift)

    # when
    count = trends.trends_refresh()

    # then the dip is removed as the org's movement: only team 0 declines
    declining = set(
        TeamTrend.objects.filter(dimension="intent_to_stay", direction="declining").values_list("team", flat=True)
    )
    assert declining == {members[0].pk}
    assert count == TeamTrend.objects.count() == 2 * 41  # 40 teams and the root × (dimension, composite)


def test_the_composite_reaches_a_team_whose_every_dimension_slips_a_little():
    # given 40 teams, three dimensions; team 0 slips 0.12 a wave in each over the last 6 waves
    def shift(team: int, wave: int) -> float:
        return -0.12 * max(0, wave - 2) if team == 0 else 0.0

    _, members, _ = seed_org(dimensions=("growth", "connection", "intent_to_stay"), shift=shift, seed=2)

    # when
    trends.trends_refresh()

    # then the engagement index flags it, with a q-value across teams × dimensions, and no slope
    composite = TeamTrend.objects.get(team=members[0], dimension="composite")
    assert composite.direction == "declining"
    assert composite.slope is None and composite.q_value is not None and composite.p_value <= 0.01
    assert not TeamTrend.objects.filter(dimension="composite", direction="declining").exclude(team=members[0]).exists()


def test_the_trend_is_the_calibrated_test_on_the_released_arrays():
    # given a seeded org
    _, members, waves = seed_org(teams=30, waves=6, seed=3)

    # when
    trends.trends_refresh()

    # then each stored trend is stats.trend_test on the released points, with the seed of the data
    panel = released_panel()
    test = stats.trend_test(
        panel.mean["intent_to_stay"],
        panel.n["intent_to_stay"],
        panel.org_mean["intent_to_stay"],
        alpha=0.01,
        sims=trends.simulations_for(0.01),
        seed=trends.seed_for(waves=6, name="intent_to_stay"),
    )
    row = int(panel.rows([members[4].pk])[0])
    stored = TeamTrend.objects.get(team=members[4], dimension="intent_to_stay")
    assert stored.direction == test.direction[row]
    assert stored.slope == pytest.approx(test.slope[row])
    assert stored.p_value == pytest.approx(test.p_value[row])
    assert stored.points == 6
    assert set(stored.shrunk) == {str(w.pk) for w in waves}


def test_recomputing_gives_the_same_flags_and_rows():
    seed_org(teams=30, waves=6, seed=4)
    trends.trends_refresh()
    first = list(
        TeamTrend.objects.order_by("team", "dimension").values_list(
            "team", "dimension", "direction", "p_value", "q_value"
        )
    )

    trends.trends_refresh()

    again = list(
        TeamTrend.objects.order_by("team", "dimension").values_list(
            "team", "dimension", "direction", "p_value", "q_value"
        )
    )
    assert again == first
    assert len(first) == 62


def test_a_suppressed_point_is_shown_null_and_left_out_of_the_trend():
    # given an org whose team 0 had its fourth wave suppressed (few answers)
    _, members, waves = seed_org(teams=30, waves=6, seed=6)
    DimensionRelease.objects.filter(wave=waves[3], team=members[0]).update(
        mean=None, favorable=None, reason="few_answers"
    )
    trends.trends_refresh()
    client = api_for(role=Employee.Role.HR)

    # when
    body = client.get(f"/api/v1/teams/{members[0].pk}/trends/").json()

    # then the point is there, null and suppressed with its reason, and the trend used five points
    stay = trend_of(body, "intent_to_stay")
    point = stay["points"][3]
    assert point == {
        "wave": waves[3].pk,
        "opens_on": waves[3].opens_on.isoformat(),
        "mean": None,
        "suppressed": True,
        "reason": "fewer than 5 answers",
        "shrunk_mean": None,
    }
    assert [p["mean"] is None for p in stay["points"]] == [False, False, False, True, False, False]
    stored = TeamTrend.objects.get(team=members[0], dimension="intent_to_stay")
    assert stored.points == 5
    assert str(waves[3].pk) not in stored.shrunk
    assert stay["trend"]["slope"] == stored.slope


def test_fewer_than_three_released_points_is_insufficient_data():
    # given a team with three waves of which one is suppressed
    root = TeamFactory(name="Org")
    small = TeamFactory(name="Small", parent=root)
    waves = [SealedWaveFactory(opens_on=START + timedelta(weeks=2 * w)) for w in range(3)]
    for w, wave in enumerate(waves):
        mean = None if w == 1 else 3.0 + w / 10
        DimensionReleaseFactory(wave=wave, team=small, mean=mean, reason="few_answers" if mean is None else "")
        DimensionReleaseFactory(wave=wave, team=None, mean=3.5)
        GroupReleaseFactory(wave=wave, team=small)
    trends.trends_refresh()
    client = api_for(role=Employee.Role.HR)

    # when
    body = client.get(f"/api/v1/teams/{small.pk}/trends/").json()

    # then
    stay = trend_of(body, "intent_to_stay")
    assert [p["mean"] for p in stay["points"]] == [3.0, None, 3.2]
    assert stay["trend"] == {
        "direction": "insufficient_data",
        "slope": None,
        "p_value": None,
        "q_value": None,
        "min_detectable_change": None,
    }


def test_the_shrunk_display_value_lies_between_the_team_and_its_parent():
    # given a small team well above its parent in every wave
    root, _, waves = seed_org(teams=30, waves=4, seed=7)
    small = TeamFactory(name="Tiny", parent=root)
    for wave in waves:
        DimensionReleaseFactory(wave=wave, team=small, respondents=5, mean=4.9)
        GroupReleaseFactory(wave=wave, team=small, invited=5, responded=5)
    trends.trends_refresh()
    client = api_for(role=Employee.Role.HR)

    # when
    stay = trend_of(client.get(f"/api/v1/teams/{small.pk}/trends/").json(), "intent_to_stay")

    # then the display value is pulled toward the root's released value of the same wave
    for point, wave in zip(stay["points"], waves, strict=True):
        parent = DimensionRelease.objects.get(wave=wave, team=root).mean
        assert parent < point["shrunk_mean"] < 4.9
        assert point["mean"] == 4.9


def test_a_manager_sees_the_trends_of_their_subtree_only():
    root, members, _ = seed_org(teams=30, waves=4, seed=8)
    trends.trends_refresh()
    client = api_for(role=Employee.Role.MANAGER, manages=[members[1]])

    assert client.get(f"/api/v1/teams/{members[1].pk}/trends/").status_code == 200
    assert client.get(f"/api/v1/teams/{members[2].pk}/trends/").status_code == 404
    assert client.get(f"/api/v1/teams/{root.pk}/trends/").status_code == 404


# --- the arrays, by hand ------------------------------------------------------------------------


def test_the_arrays_hold_released_values_only():
    # given two teams (B under A) and three waves:
    #   wave 10: A 3.0 (n 12), B 4.0 (n 6); the wave as a whole 3.2
    #   wave 11: A 3.5 (n 11), B suppressed (n 4 recorded, not released)
    #   wave 12: A only; B was not in the wave; A's participation hidden
    waves = [(10, date(2025, 1, 1)), (11, date(2025, 2, 1)), (12, date(2025, 3, 1))]
    tree = [(1, None, "A"), (2, 1, "A/B")]
    frozen = [(10, 1, None), (10, 2, 1), (11, 1, None), (11, 2, 1), (12, 1, None)]
    groups = [
        (10, 1, 15, 12),
        (10, 2, 7, 6),
        (10, None, 15, 12),
        (11, 1, 15, 11),
        (11, 2, None, None),
        (12, 1, None, None),
        (12, None, 15, 9),
    ]
    releases = {
        "growth": [
            (10, 1, 12, 3.0, 0.4, None),
            (10, 2, 6, 4.0, 0.8, None),
            (10, None, 12, 3.2, 0.5, None),
            (11, 1, 11, 3.5, 0.5, None),
            (11, 2, 4, None, None, None),
            (12, 1, 9, 2.5, 0.3, None),
        ]
    }

    # when
    panel = panel_build(waves=waves, tree=tree, frozen=frozen, groups=groups, releases=releases)

    # then
    nan = np.nan
    assert panel.waves == (10, 11, 12) and list(panel.teams) == [1, 2]
    np.testing.assert_array_equal(panel.mean["growth"], [[3.0, 3.5, 2.5], [4.0, nan, nan]])
    np.testing.assert_array_equal(panel.n["growth"], [[12, 11, 9], [6, 0, 0]])
    np.testing.assert_array_equal(panel.listed["growth"], [[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(panel.org_mean["growth"], [3.2, nan, nan])
    np.testing.assert_array_equal(panel.invited, [[15, 15, nan], [7, nan, nan]])
    np.testing.assert_array_equal(panel.responded, [[12, 11, nan], [6, nan, nan]])
    np.testing.assert_array_equal(panel.org_invited, [15, nan, 15])
    np.testing.assert_array_equal(panel.surveyed, [[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(panel.counted, [[12, 11, 9], [6, 4, 0]])
    # B's parent is A in the frozen trees, and today's tree where B was not in the wave
    np.testing.assert_array_equal(panel.parent, [[ROOT, ROOT, ROOT], [0, 0, 0]])
    # so B's shrinkage target is A's released value of the same wave
    target = trends.parent_values(panel, panel.mean["growth"], panel.org_mean["growth"])
    np.testing.assert_array_equal(target, [[3.2, nan, nan], [3.0, 3.5, 2.5]])


def test_a_hidden_parent_value_shrinks_toward_the_nearest_released_ancestor():
    # A (released) > B (hidden) > C (released), one wave
    panel = panel_build(
        waves=[(1, date(2025, 1, 1))],
        tree=[(1, None, "A"), (2, 1, "A/B"), (3, 2, "A/B/C")],
        frozen=[(1, 1, None), (1, 2, 1), (1, 3, 2)],
        groups=[],
        releases={"growth": [(1, 1, 30, 3.0, None, None), (1, 2, 12, None, None, None), (1, 3, 6, 4.0, None, None)]},
    )

    target = trends.parent_values(panel, panel.mean["growth"], np.array([np.nan]))

    np.testing.assert_array_equal(target[:, 0], [np.nan, 3.0, 3.0])


def test_rows_no_release_supports_any_more_are_removed():
    # given stored trends of a seeded org
    seed_org(teams=30, waves=4, seed=9)
    trends.trends_refresh()
    assert TeamTrend.objects.filter(dimension="intent_to_stay").count() == 31

    # when the dimension's releases are gone (a test database's reset, a dimension dropped)
    DimensionRelease.objects.all().delete()
    count = trends.trends_refresh()

    # then only the composite rows of the surveyed teams remain (on participation alone)
    assert count == TeamTrend.objects.count() == 31
    assert set(TeamTrend.objects.values_list("dimension", flat=True)) == {"composite"}
