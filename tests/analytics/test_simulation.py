"""The pure generative model of a simulated organisation (analytics/simulation.py): no database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from analytics.simulation import (
    DEFAULT_QUESTIONS,
    GRADUAL,
    HR,
    INVOLUNTARY,
    MANAGER,
    NO_ANSWER,
    VOLUNTARY,
    SimulatedOrg,
    ground_truth,
    oriented_answers,
    simulate,
    team_wave_dimension_means,
)

START = date(2026, 1, 6)


@cache
def big() -> SimulatedOrg:
    """Large enough for the statistical checks, and still well under a second."""
    return simulate(employees=3000, waves=16, seed=7, start=START)


@cache
def small() -> SimulatedOrg:
    return simulate(employees=60, waves=4, seed=3, start=START)


def test_the_default_questions_are_the_default_surveys():
    from surveys.question_bank import QUESTION_BANK

    core = tuple((q.code, q.dimension, q.scale, q.reverse_scored) for q in QUESTION_BANK if not q.optional)

    assert core == DEFAULT_QUESTIONS


def test_the_module_imports_no_django():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, analytics.simulation; sys.exit('django' in sys.modules)"

    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_the_same_seed_draws_the_same_organisation():
    # given two draws with one seed and one with another
    first, second = (
        simulate(employees=200, waves=6, seed=11, start=START),
        simulate(employees=200, waves=6, seed=11, start=START),
    )
    other = simulate(employees=200, waves=6, seed=12, start=START)

    # then
    assert ground_truth(first) == ground_truth(second)
    assert first.emails == second.emails
    for name in ("latent", "invited", "responded", "answers", "team_of", "tenure_years"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert not np.array_equal(first.answers, other.answers)
    assert ground_truth(first) != ground_truth(other)


def test_the_arrays_are_read_only():
    with pytest.raises(ValueError, match="read-only"):
        small().answers[0, 0, 0] = 3


def test_the_first_wave_date_is_the_start_or_about_a_month_of_waves_before_today():
    assert small().wave_dates == (START, date(2026, 1, 20), date(2026, 2, 3), date(2026, 2, 17))

    ending = simulate(employees=30, waves=3, seed=1, today=date(2026, 12, 1))
    assert ending.wave_dates == (date(2026, 10, 20), date(2026, 11, 3), date(2026, 11, 17))


def test_teams_are_sized_3_to_50_quiet_ones_3_to_4_and_hold_everyone():
    sim = big()
    sizes = np.bincount(sim.team_of)

    assert sizes.sum() == 3000
    assert [team.size for team in sim.teams] == sizes.tolist()
    ordinary = [team.size for team in sim.teams if not team.quiet]
    quiet = [team.size for team in sim.teams if team.quiet]
    assert min(ordinary) >= 3
    assert max(ordinary) <= 50
    assert 8 <= np.median(ordinary) <= 12
    assert quiet
    assert set(quiet) <= {3, 4}


def test_team_paths_are_readable_unique_and_four_levels_deep():
    sim = big()
    paths = [team.path for team in sim.teams]

    assert len(set(paths)) == len(paths)
    for n, team in enumerate(sim.teams):
        assert team.path == f"Org/Division {team.division + 1}/Department {team.department + 1}/Team {n + 1}"
    divisions = {team.division for team in sim.teams}
    departments = {team.department for team in sim.teams}
    assert len(divisions) >= 2
    assert len(departments) > len(divisions)


def test_people_have_a_zone_a_locale_a_tenure_and_one_manager_per_team():
    sim = big()

    assert len(set(sim.emails)) == len(sim.emails)
    assert set(sim.locales) == {"en", "de"}
    assert 0.05 < sim.locales.count("de") / len(sim.locales) < 0.4
    assert {zone.split("/")[0] for zone in sim.timezones} >= {"Europe", "America", "Asia"}
    assert (sim.tenure_years > 0).all()
    assert sim.roles.count(HR) == 1
    assert sim.roles.count(MANAGER) == len(sim.teams)
    assert all(sim.roles[team.manager] == MANAGER and sim.team_of[team.manager] == team.index for team in sim.teams)


def test_a_planted_decline_lowers_its_teams_latent_health_by_about_its_size():
    # The team's change from before the decline to once it is fully in, net of the rest of the
    # organisation's change over the same waves (drift and org-wide shocks).
    sim = big()
    planted = {d.team for d in sim.declines} | {c.team for c in sim.manager_changes}
    rest = ~np.isin(sim.team_of, list(planted))
    errors = []
    for decline in sim.declines:
        full = decline.start_wave + decline.waves_to_full - 1
        if full >= sim.params.waves:
            continue
        columns = [sim.dimensions.index(d) for d in decline.dimensions]

        def change(members: np.ndarray, *, decline=decline, full=full, columns=columns) -> float:
            health = sim.latent[members][:, :, columns].mean(axis=(0, 2))
            return health[full:].mean() - health[: decline.start_wave].mean()

        drop = change(rest) - change(sim.team_of == decline.team)
        errors.append(drop - decline.size)
    assert len(errors) >= 20
    assert abs(np.mean(errors)) < 0.05
    assert np.max(np.abs(errors)) < 0.4
    assert {d.size for d in sim.declines} == {0.3, 0.5, 1.0}
    assert {d.speed for d in sim.declines} == {"abrupt", GRADUAL}
    assert {d.waves_to_full for d in sim.declines if d.speed == GRADUAL} == {3, 4}


def test_a_gradual_decline_comes_in_over_its_waves():
    decline = next(d for d in big().declines if d.speed == GRADUAL and d.waves_to_full == 4)
    start = decline.start_wave

    assert [decline.effect(start + n) for n in range(-1, 5)] == pytest.approx(
        [0, decline.size / 4, decline.size / 2, 3 * decline.size / 4, decline.size, decline.size]
    )


def test_the_org_wide_dip_is_one_wave_about_0_4_down_then_recovers():
    sim = big()
    dip = sim.org_dip_wave
    health = sim.latent.mean(axis=(0, 2))

    assert 1 <= dip <= sim.params.waves - 2
    assert health[dip - 1] - health[dip] == pytest.approx(0.4, abs=0.15)
    assert health[dip + 1] - health[dip] == pytest.approx(0.4, abs=0.15)
    # every team shares it: most teams' answers are lower in the dip wave than the wave before
    means = team_wave_dimension_means(sim)
    answered = (means.respondents[:, [dip - 1, dip], :5] > 0).all(axis=(1, 2))
    before, during = means.mean[answered, dip - 1, :5].mean(axis=1), means.mean[answered, dip, :5].mean(axis=1)
    assert answered.sum() > 200
    assert (during < before).mean() > 0.7


def test_departures_are_more_frequent_with_low_intent_to_stay():
    sim = big()
    intent = sim.latent[:, 0, sim.dimensions.index("intent_to_stay")]
    voluntary = np.zeros(len(intent), dtype=bool)
    voluntary[[d.employee for d in sim.departures if d.reason == VOLUNTARY]] = True
    low, high = np.quantile(intent, [0.25, 0.75])

    assert voluntary[intent < low].mean() > 3 * voluntary[intent > high].mean()
    reasons = [d.reason for d in sim.departures]
    assert 0.05 < len(reasons) / 3000 < 0.25  # a year of two-weekly waves at a usual turnover
    assert 0 < reasons.count(INVOLUNTARY) < reasons.count(VOLUNTARY) / 3


def test_who_left_is_not_invited_again_and_left_between_two_waves():
    sim = big()
    leavers = set()
    for departure in sim.departures:
        leavers.add(departure.employee)
        invited = sim.invited[departure.employee]
        assert invited[: departure.after_wave + 1].all()
        assert not invited[departure.after_wave + 1 :].any()
        opened = sim.wave_dates[departure.after_wave]
        assert opened < departure.left_on < opened + timedelta(days=sim.params.cadence_days)
    stayers = [p for p in range(len(sim.emails)) if p not in leavers]
    assert sim.invited[stayers].all()
    assert len(leavers) == len(sim.departures)
    assert not (sim.responded & ~sim.invited).any()


def test_participation_drops_before_a_voluntary_departure_and_is_low_in_quiet_teams():
    sim = big()
    overall = sim.responded[sim.invited].mean()
    before_leaving = np.mean([sim.responded[d.employee, d.after_wave] for d in sim.departures if d.reason == VOLUNTARY])
    quiet = np.isin(sim.team_of, [team.index for team in sim.teams if team.quiet])

    assert 0.65 < overall < 0.85
    assert before_leaving < overall - 0.2
    assert sim.responded[quiet][sim.invited[quiet]].mean() < overall - 0.25


def test_answers_are_on_their_scales_reverse_items_mirrored_some_skipped():
    sim = big()
    oriented = oriented_answers(sim)
    for q, question in enumerate(sim.questions):
        given = sim.answers[:, :, q][sim.responded]
        given = given[given != NO_ANSWER]
        low, high = (0, 10) if question.scale == "nps11" else (1, 5)
        assert given.min() == low
        assert given.max() == high
        health = sim.latent[:, :, sim.dimensions.index(question.dimension)][sim.responded]
        raw = sim.answers[:, :, q][sim.responded].astype(float)
        answered = raw != NO_ANSWER
        raw_r = np.corrcoef(raw[answered], health[answered])[0, 1]
        oriented_r = np.corrcoef(oriented[:, :, q][sim.responded][answered], health[answered])[0, 1]
        assert oriented_r > 0.4, question.code
        assert (raw_r < -0.4) if question.reverse_scored else (raw_r > 0.4), question.code
    per_response = (sim.answers != NO_ANSWER).sum(axis=2)[sim.responded]
    assert per_response.min() >= 1
    assert 0.02 < 1 - per_response.mean() / len(sim.questions) < 0.1
    assert (sim.answers[~sim.responded] == NO_ANSWER).all()


def test_the_questions_can_be_passed_in_as_plain_tuples():
    questions = [
        ("mission_1", "mission", "likert5", False),
        ("work_life_balance_2", "work_life_balance", "likert5", True),
    ]

    sim = simulate(employees=50, waves=3, seed=1, start=START, questions=questions)

    assert sim.dimensions == ("mission", "work_life_balance")
    assert sim.answers.shape == (50, 3, 2)
    assert all(set(d.dimensions) <= set(sim.dimensions) for d in sim.declines)


def test_team_wave_dimension_means_are_the_means_of_the_respondents_dimension_scores():
    # given
    sim = small()
    means = team_wave_dimension_means(sim)

    # then, recomputed by hand for every team, wave and dimension
    for team in sim.teams:
        members = np.flatnonzero(sim.team_of == team.index)
        for t in range(sim.params.waves):
            assert means.invited[team.index, t] == sim.invited[members, t].sum()
            assert means.responded[team.index, t] == sim.responded[members, t].sum()
            for d, dimension in enumerate(sim.dimensions):
                scores = []
                for person in members:
                    values = []
                    for q, question in enumerate(sim.questions):
                        value = int(sim.answers[person, t, q])
                        if question.dimension != dimension or value == NO_ANSWER:
                            continue
                        low, high = (0, 10) if question.scale == "nps11" else (1, 5)
                        values.append(low + high - value if question.reverse_scored else value)
                    if values:
                        scores.append(sum(values) / len(values))
                assert means.respondents[team.index, t, d] == len(scores)
                if scores:
                    assert means.mean[team.index, t, d] == pytest.approx(sum(scores) / len(scores))
                else:
                    assert np.isnan(means.mean[team.index, t, d])
    assert means.teams == tuple(team.path for team in sim.teams)


def test_ground_truth_is_json_and_names_what_was_planted():
    sim = small()

    truth = json.loads(json.dumps(ground_truth(sim)))

    assert truth["seed"] == 3
    assert truth["parameters"]["employees"] == 60
    assert truth["parameters"]["start"] == "2026-01-06"
    assert [wave["opens_on"] for wave in truth["waves"]] == [day.isoformat() for day in sim.wave_dates]
    assert truth["org_dip"] == {"wave": sim.org_dip_wave, "size": 0.4, "recovers_at": sim.org_dip_wave + 1}
    assert [team["path"] for team in truth["teams"]] == [team.path for team in sim.teams]
    assert sum(team["size"] for team in truth["teams"]) == 60
    declines = [d for team in truth["teams"] for d in team["declines"]]
    assert len(declines) == len(sim.declines) >= 1
    decline = declines[0]
    assert set(decline) == {"dimensions", "start_wave", "size", "speed", "waves_to_full"}
    assert decline["size"] in (0.3, 0.5, 1.0)
    assert sum(team["manager_change"] is not None for team in truth["teams"]) == len(sim.manager_changes)
    assert any(team["quiet"] for team in truth["teams"])
    departures = [d for team in truth["teams"] for d in team["departures"]]
    assert len(departures) == truth["departures"]["total"] == len(sim.departures)
    assert {d["reason"] for d in departures} <= {"voluntary", "involuntary"}
    assert all(date.fromisoformat(d["left_on"]) > START for d in departures)


@pytest.mark.parametrize(("employees", "waves"), [(5, 1), (7, 2), (41, 3), (999, 1)])
def test_small_and_odd_organisations_still_simulate(employees, waves):
    sim = simulate(employees=employees, waves=waves, seed=0, start=START)

    assert len(sim.emails) == employees
    assert min(team.size for team in sim.teams) >= 3
    assert sim.answers.shape == (employees, waves, len(DEFAULT_QUESTIONS))
    json.dumps(ground_truth(sim))


def test_refuses_what_it_cannot_simulate():
    with pytest.raises(ValueError, match="at least 5 employees"):
        simulate(employees=4, waves=3, seed=0)
    with pytest.raises(ValueError, match="root team"):
        simulate(employees=50, waves=3, seed=0, root="A/B")
    with pytest.raises(ValueError, match="unknown scale"):
        simulate(employees=50, waves=3, seed=0, questions=[("x", "workload", "stars7", False)])
