"""``manage.py simulate_org``: a simulated organisation built through the product's own services."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from io import StringIO

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.models import TeamRisk, TeamTrend, WaveAnalysis
from analytics.simulated_org import survey_sim_questions
from analytics.simulation import NO_ANSWER, ground_truth, simulate
from surveys.models import Answer, Employee, Invitation, Response, Submission, Team, Wave, WaveParticipation

pytestmark = pytest.mark.django_db
START = "2026-01-06"
ARGS = ("--employees", "60", "--waves", "4", "--seed", "3", "--start", START)


def _simulate_org(*args: str) -> list[str]:
    out = StringIO()
    call_command("simulate_org", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def built(default_survey, tmp_path):
    """The small organisation, built once per test, and the simulation it came from."""
    truth_path = tmp_path / "truth.json"
    output = _simulate_org(*ARGS, "--truth", str(truth_path))
    sim = simulate(
        employees=60,
        waves=4,
        seed=3,
        start=date.fromisoformat(START),
        questions=survey_sim_questions(survey=default_survey),
    )
    return {"output": output, "truth": json.loads(truth_path.read_text()), "sim": sim}


def test_it_writes_the_ground_truth_and_says_so_in_one_line(built):
    truth, sim = built["truth"], built["sim"]

    assert truth == json.loads(json.dumps(ground_truth(sim)))
    [line] = built["output"]  # no progress bar: the output is not a terminal
    assert line.startswith(
        f"Simulated Org: 60 employees in {Team.objects.filter(path__startswith='Org').count()} teams, 4 sealed waves "
        "(2026-01-06 to 2026-02-17), "
        f"{sim.responded.sum()} responses, {len(sim.departures)} departures; ground truth in "
    )


def test_the_database_holds_the_teams_and_people_of_the_truth(built):
    truth = built["truth"]

    leaves = {team["path"]: team for team in truth["teams"]}
    ancestors = {path.rsplit("/", n)[0] for path in leaves for n in (1, 2, 3)}
    assert set(Team.objects.values_list("path", flat=True)) == set(leaves) | ancestors
    assert Employee.objects.count() == truth["employees"] == 60
    per_team = Counter(Employee.objects.values_list("team__path", flat=True))
    assert per_team == {path: team["size"] for path, team in leaves.items()}
    # the managers of today (after any manager change), and HR, with their logins
    for path, team in leaves.items():
        manager = team["manager_change"]["new_manager"] if team["manager_change"] else team["manager"]
        assert list(Team.objects.get(path=path).managers.values_list("email", flat=True)) == [manager]
    assert Employee.objects.get(email=truth["hr"]).role == Employee.Role.HR
    assert get_user_model().objects.filter(username=truth["hr"]).exists()
    changed = [team for team in leaves.values() if team["manager_change"]]
    assert changed
    for team in changed:
        assert Employee.objects.get(email=team["manager"]).role == Employee.Role.EMPLOYEE


def test_departures_are_recorded_with_their_dates_and_reasons(built):
    truth = built["truth"]

    expected = {
        (d["email"], date.fromisoformat(d["left_on"]), d["reason"])
        for team in truth["teams"]
        for d in team["departures"]
    }
    recorded = set(Employee.objects.exclude(left_on=None).values_list("email", "left_on", "left_reason"))
    assert expected
    assert recorded == expected
    assert not Employee.objects.filter(left_on__isnull=False, active=True).exists()
    assert Employee.objects.filter(active=True).count() == 60 - len(expected)


def test_every_wave_is_closed_and_sealed_with_exactly_the_simulated_answers(built):
    truth, sim = built["truth"], built["sim"]
    root = Team.objects.get(path="Org")
    codes = [q.code for q in sim.questions]

    waves = list(Wave.objects.order_by("opens_on"))
    assert [wave.opens_on.isoformat() for wave in waves] == [w["opens_on"] for w in truth["waves"]]
    assert not Submission.objects.exists()  # the seal deleted every box
    for t, wave in enumerate(waves):
        assert (wave.status, wave.sealed, wave.responses_discarded) == (Wave.Status.CLOSED, True, 0)
        assert list(wave.teams.all()) == [root]
        assert wave.invitations.count() == truth["waves"][t]["invited"] == sim.invited[:, t].sum()
        assert not wave.invitations.filter(responded=True).exists()  # forgotten by the seal
        invited = set(wave.invitations.values_list("employee__email", flat=True))
        assert invited == {sim.emails[p] for p in np.flatnonzero(sim.invited[:, t])}
        participation = wave.participation.all()
        assert sum(p.invited for p in participation) == truth["waves"][t]["invited"]
        assert sum(p.responded for p in participation) == truth["waves"][t]["responded"]
        assert wave.responses.count() == truth["waves"][t]["responded"]
        stored = Counter(Answer.objects.filter(response__wave=wave).values_list("question__code", "value"))
        given = sim.answers[:, t][sim.responded[:, t]]
        simulated = Counter((codes[q], int(v)) for row in given for q, v in enumerate(row) if v != NO_ANSWER)
        assert stored == simulated
    assert Response.objects.count() == sim.responded.sum()
    assert WaveParticipation.objects.filter(wave__in=waves).exists()


def test_every_wave_is_analysed_once_the_command_returns_with_or_without_a_broker(built):
    waves = Wave.objects.filter(teams__path="Org")

    analyses = WaveAnalysis.objects.filter(wave__in=waves, released_at__isnull=False, analysed_at__isnull=False)
    assert analyses.count() == waves.count() == 4
    assert TeamTrend.objects.filter(team__path="Org", dimension="composite").exists()
    assert TeamRisk.objects.filter(team__path="Org").exists()


def test_a_second_run_is_refused_and_changes_nothing(built, tmp_path):
    before = (Employee.objects.count(), Wave.objects.count(), Invitation.objects.count(), Response.objects.count())

    with pytest.raises(CommandError, match="the team 'Org' exists already"):
        _simulate_org(*ARGS, "--truth", str(tmp_path / "again.json"))
    assert _simulate_org(*ARGS, "--skip-existing", "--truth", str(tmp_path / "again.json"))[0].startswith(
        "Nothing simulated: the team 'Org' exists already"
    )

    after = (Employee.objects.count(), Wave.objects.count(), Invitation.objects.count(), Response.objects.count())
    assert after == before
    assert not (tmp_path / "again.json").exists()


def test_another_root_lives_beside_the_first(built, tmp_path):
    _simulate_org("--employees", "20", "--waves", "2", "--seed", "1", "--root", "Twin", "--truth", str(tmp_path / "t"))

    assert Employee.objects.filter(team__path__startswith="Twin/").count() == 20
    twin_waves = Wave.objects.filter(teams__path="Twin")
    assert twin_waves.count() == 2
    assert not Invitation.objects.filter(wave__in=twin_waves, employee__team__path__startswith="Org/").exists()


def test_without_the_seal_key_it_refuses_before_writing_anything(default_survey, settings, tmp_path):
    settings.PULSE_SEAL_KEY = ""
    settings.PULSE_SEAL_KEY_FALLBACKS = []

    with pytest.raises(CommandError, match=r"needs the seal key.*PULSE_SEAL_KEY"):
        _simulate_org(*ARGS, "--truth", str(tmp_path / "truth.json"))

    assert not Employee.objects.exists()
    assert not Team.objects.exists()


def test_a_start_that_puts_waves_in_the_future_is_refused(default_survey, tmp_path):
    with pytest.raises(CommandError, match="would open in the future"):
        _simulate_org("--employees", "20", "--waves", "3", "--seed", "1", "--start", "2999-01-01")

    assert not Employee.objects.exists()
