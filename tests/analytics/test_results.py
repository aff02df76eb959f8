"""Rollups, the gate's stored release and GET /api/v1/teams/<id>/results/, end to end through the
real services (launch, record, close, seal, analyse), with values computed by hand."""

from __future__ import annotations

import io
from collections import defaultdict

import pytest
from django.core.management import call_command

from analytics.models import DimensionRelease, DimensionRollup, GroupRelease, QuestionRollup, WaveAnalysis
from analytics.rollups import wave_rollup
from analytics.services import waves_analyse
from surveys.intake import response_record
from surveys.models import Employee, Question, SurveyQuestion, Wave
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory, api_for

pytestmark = pytest.mark.django_db

# Acme (2 direct) ── Eng (6 direct) ── ML (5)
#                └── Sales (3): fewer than k = 5, its answers go to Acme (2 + 3 = 5)
# Answers (w1, w2 reverse-scored, e1 on 0–10): each team's members take its two profiles in turn
# (A, B, A, B, ...), so that no group says what each of its members answered:
#   ML (3 A, 2 B):       A 4, 2 (→ 4), 10   score 4, promoter;  B 5, 1 (→ 5), 8   score 5, passive
#   Eng direct (3 + 3):  A 2, 4 (→ 2),  5   score 2, detractor; B 3, 3 (→ 3), 9   score 3, promoter
#   Acme (1 A, 1 B) and Sales (2 A, 1 B), all counted with Acme:
#                        A 3, 3 (→ 3),  8   score 3, passive;   B 2, 4 (→ 2), 6   score 2, detractor
# Workload: ML 5 people, sum 22, every item favourable; Eng's own 6 sum 15, none favourable; Acme
# and Sales 5 sum 13, none favourable. eNPS: ML 46 (3 promoters), Eng's own 42 (3 promoters, 3
# detractors), Acme and Sales 36 (2 detractors).
ANSWERS = {
    "ML": ((4, 2, 10), (5, 1, 8)),
    "Eng": ((2, 4, 5), (3, 3, 9)),
    "Acme": ((3, 3, 8), (2, 4, 6)),
    "Sales": ((3, 3, 8), (2, 4, 6)),
}


@pytest.fixture
def org():
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    for team, count in ((acme, 2), (eng, 6), (ml, 5), (sales, 3)):
        EmployeeFactory.create_batch(count, team=team)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def _survey():
    survey = SurveyFactory()
    items = [
        QuestionFactory(code="r_w1", dimension="workload"),
        QuestionFactory(code="r_w2", dimension="workload", reverse_scored=True),
        QuestionFactory(code="r_e1", dimension="enps", scale=Question.Scale.NPS11),
    ]
    for position, question in enumerate(items):
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def _answered_wave(org, *, skip=lambda invitation: set()) -> Wave:
    wave = wave_launch(survey=_survey(), teams=[org["acme"]])
    seen: dict[str, int] = defaultdict(int)
    for invitation in wave.invitations.select_related("team"):
        team = invitation.team.name
        w1, w2, e1 = ANSWERS[team][seen[team] % 2]
        seen[team] += 1
        answers = {"r_w1": w1, "r_w2": w2, "r_e1": e1}
        for code in skip(invitation):
            answers.pop(code)
        response_record(token=token_for(invitation.id), answers=answers)
    return wave


def close(wave: Wave) -> Wave:
    """close_wave, as HR runs it: it seals and runs the analysis before it returns."""
    call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return Wave.objects.get(pk=wave.pk)


def test_rollups_compose_up_the_frozen_tree_with_reverse_scoring(org):
    # given
    wave = close(_answered_wave(org))

    # then: close ran the analysis (eager Celery)
    rollups = {(r.team_id, r.dimension): r for r in DimensionRollup.objects.filter(wave=wave)}
    ml, eng, acme = (rollups[(org[t].pk, "workload")] for t in ("ml", "eng", "acme"))
    assert (ml.respondents, ml.score_sum, ml.items, ml.favorable) == (5, 22.0, 10, 10)  # 3 × 4 + 2 × 5
    # Eng's subtree: its own 6 (3 × 2 + 3 × 3) and ML's 5; squares 3 × 4 + 3 × 9 + 3 × 16 + 2 × 25
    assert (eng.respondents, eng.score_sum, eng.score_sumsq, eng.items, eng.favorable) == (11, 37.0, 137.0, 22, 10)
    # Acme: its own 2, Sales' 3 (attributed to Acme: 3 × 3 + 2 × 2), and Eng's 11
    assert (acme.respondents, acme.score_sum, acme.favorable) == (16, 50.0, 10)
    assert (org["sales"].pk, "workload") not in rollups  # Sales holds no group of its own
    assert rollups[(None, "workload")].respondents == 16
    enps = rollups[(org["eng"].pk, "enps")]
    # promoters: ML's 3 tens and Eng's 3 nines; detractors Eng's 3 fives; 46 + 42
    assert (enps.respondents, enps.favorable, enps.detractors, enps.score_sum) == (11, 6, 3, 88.0)
    # question level: w2 is oriented (6 - 2 = 4 and 6 - 1 = 5 for ML, 6 - 4 = 2 and 6 - 3 = 3 for Eng)
    w2 = QuestionRollup.objects.get(wave=wave, team=org["eng"], question__code="r_w2")
    assert (w2.respondents, w2.total, w2.favorable, w2.distribution) == (11, 37.0, 5, [0, 3, 3, 3, 2])


def test_results_api_for_hr(org):
    wave = close(_answered_wave(org))
    client = api_for(role=Employee.Role.HR)

    body = client.get(f"/api/v1/teams/{org['eng'].pk}/results/", {"wave": wave.pk}).json()

    assert (body["team"], body["wave"], body["invited"], body["responded"]) == (org["eng"].pk, wave.pk, 11, 11)
    assert body["suppressed"] is False and body["reason"] is None
    dims = {d["dimension"]: d for d in body["dimensions"]}
    assert dims["workload"] == {
        "dimension": "workload",
        "respondents": 11,
        "mean": 3.36,  # 37 / 11
        "favorable": 0.455,  # 10 / 22
        "suppressed": False,
        "reason": None,
    }
    assert dims["enps"]["mean"] == 8.0  # 88 / 11, on 0–10
    assert dims["enps"]["enps"] == 27.3  # (6 promoters - 3 detractors) / 11
    assert dims["enps"]["favorable"] == 0.545  # promoters 6 / 11


def test_a_team_whose_answers_went_to_its_parent_has_no_results_of_its_own(org):
    wave = close(_answered_wave(org))
    client = api_for(role=Employee.Role.HR)

    body = client.get(f"/api/v1/teams/{org['sales'].pk}/results/", {"wave": wave.pk}).json()

    assert body["suppressed"] is True
    assert (body["invited"], body["responded"]) == (None, None)
    assert "counted with Acme" in body["reason"]
    # every dimension of the survey is listed, hidden, with that reason (as while a wave is open)
    assert [
        (d["dimension"], d["respondents"], d["mean"], d["favorable"], d["suppressed"], d["reason"])
        for d in body["dimensions"]
    ] == [
        ("workload", None, None, None, True, body["reason"]),
        ("enps", None, None, None, True, body["reason"]),
    ]


def test_a_dimension_most_of_a_team_skipped_is_hidden_and_the_parent_still_shown(org):
    # given 2 of ML's 5 skip both workload items: ML's workload has 3 respondents < k
    skipped = {"count": 0}

    def skip(invitation):
        if invitation.team.name == "ML" and skipped["count"] < 2:
            skipped["count"] += 1
            return {"r_w1", "r_w2"}
        return set()

    wave = close(_answered_wave(org, skip=skip))

    ml = DimensionRelease.objects.get(wave=wave, team=org["ml"], dimension="workload")
    eng = DimensionRelease.objects.get(wave=wave, team=org["eng"], dimension="workload")
    assert (ml.mean, ml.favorable, ml.reason, ml.respondents) == (None, None, "few_answers", 3)
    # Eng (9 = 6 + 3) stays: its own 6 give its values a wide range of ML's mean (ML's three
    # left are the profiles A, B, A: 4 + 5 + 4)
    assert eng.respondents == 9 and eng.mean == round((15 + 13) / 9, 2)
    # ML's eNPS is shown: 3 promoters and 2 passives leave each of them anywhere in 7–10
    enps = DimensionRelease.objects.get(wave=wave, team=org["ml"], dimension="enps")
    assert (enps.mean, enps.reason, enps.respondents) == (9.2, "", 5)


def test_while_a_wave_is_open_only_participation_is_shown(org):
    wave = _answered_wave(org, skip=lambda invitation: set())
    client = api_for(role=Employee.Role.HR)

    eng = client.get(f"/api/v1/teams/{org['eng'].pk}/results/", {"wave": wave.pk}).json()
    sales = client.get(f"/api/v1/teams/{org['sales'].pk}/results/", {"wave": wave.pk}).json()

    assert (eng["invited"], eng["responded"], eng["wave_status"]) == (11, 11, "open")
    assert {d["dimension"] for d in eng["dimensions"]} == {"workload", "enps"}
    assert all(d["mean"] is None and d["favorable"] is None and d["suppressed"] for d in eng["dimensions"])
    assert eng["reason"] == "results appear when the wave closes"
    # Sales: 3 invited < k; nothing about it
    assert (sales["invited"], sales["responded"]) == (None, None)
    assert sales["participation_reason"] == "fewer than 5 people invited"
    assert not DimensionRollup.objects.filter(wave=wave).exists()


def test_a_manager_sees_their_subtree_and_nothing_else(org):
    wave = close(_answered_wave(org))
    client = api_for(role=Employee.Role.MANAGER, manages=[org["eng"]])

    assert client.get(f"/api/v1/teams/{org['ml'].pk}/results/", {"wave": wave.pk}).status_code == 200
    assert client.get(f"/api/v1/teams/{org['acme'].pk}/results/", {"wave": wave.pk}).status_code == 404
    assert client.get(f"/api/v1/teams/{org['sales'].pk}/results/", {"wave": wave.pk}).status_code == 404
    assert client.get("/api/v1/teams/999999/results/", {"wave": wave.pk}).status_code == 404


@pytest.mark.parametrize("query", [{}, {"wave": "abc"}, {"wave": "0"}, {"wave": str(10**30)}])
def test_a_missing_or_bad_wave_is_a_400_naming_the_field(org, query):
    client = api_for(role=Employee.Role.HR)

    response = client.get(f"/api/v1/teams/{org['eng'].pk}/results/", query)

    assert response.status_code == 400
    assert "wave" in response.json()


def test_an_unknown_wave_is_a_404(org):
    client = api_for(role=Employee.Role.HR)

    assert client.get(f"/api/v1/teams/{org['eng'].pk}/results/", {"wave": 424242}).status_code == 404


def test_released_values_never_change_and_a_stale_recompute_does_nothing(org):
    # given a closed, analysed wave
    wave = close(_answered_wave(org))
    before = list(DimensionRelease.objects.filter(wave=wave).order_by("pk").values())
    released_at = WaveAnalysis.objects.get(wave=wave).released_at

    # when the rollups are asked for again, and the whole analysis re-run (twice)
    assert wave_rollup(wave_id=wave.pk) is False
    waves_analyse()
    call_command("analyse", "--wave", str(wave.pk), stdout=io.StringIO())

    # then nothing published changed
    assert list(DimensionRelease.objects.filter(wave=wave).order_by("pk").values()) == before
    assert WaveAnalysis.objects.get(wave=wave).released_at == released_at
    assert GroupRelease.objects.filter(wave=wave, team__isnull=True).count() == 1


def test_a_wave_answered_by_fewer_than_k_has_no_results(org):
    wave = wave_launch(survey=_survey(), teams=[org["acme"]])
    for invitation in list(wave.invitations.all())[:3]:
        response_record(token=token_for(invitation.id), answers={"r_w1": 5})
    wave = close(wave)
    client = api_for(role=Employee.Role.HR)

    body = client.get(f"/api/v1/teams/{org['acme'].pk}/results/", {"wave": wave.pk}).json()

    assert body["suppressed"] is True
    assert not DimensionRelease.objects.filter(wave=wave).exists()
    assert body["reason"] == "fewer than 5 answered the whole wave, so no results are kept"
    assert {d["dimension"]: (d["mean"], d["reason"]) for d in body["dimensions"]} == {
        "workload": (None, body["reason"]),
        "enps": (None, body["reason"]),
    }
    assert GroupRelease.objects.get(wave=wave, team=None).responded == 3  # the wave's participation is kept


def test_one_person_at_the_root_costs_the_fewest_team_results_and_the_root_shows_the_wave(org_lone_root):
    # given (the outside tester's organisation) Acme holds one person of its own (HR); everyone
    # answers, with ordinary, varied values
    teams = org_lone_root
    wave = wave_launch(survey=_survey(), teams=[teams["acme"]])
    for n, invitation in enumerate(wave.invitations.order_by("employee_id")):
        response_record(token=token_for(invitation.id), answers={"r_w1": 1 + n % 5, "r_w2": 1 + (n * 2) % 5})
    wave = close(wave)
    client = api_for(role=Employee.Role.HR)

    def results(name):
        return client.get(f"/api/v1/teams/{teams[name].pk}/results/", {"wave": wave.pk}).json()

    # then Acme's one goes to the wave as a whole, which takes the group nearest the top (Eng,
    # 10 with Data) to hold k; Platform (with Infra) and Sales (with East) keep their results
    assert results("platform")["responded"] == 7 and not results("platform")["suppressed"]
    assert results("sales")["responded"] == 12 and not results("sales")["suppressed"]
    eng = results("eng")
    assert "counted with the whole wave" in eng["reason"]
    assert eng["dimensions"] and all(d["mean"] is None and d["reason"] == eng["reason"] for d in eng["dimensions"])
    assert "counted with Acme/Eng/Platform" in results("infra")["reason"]
    # Acme holds the whole audience: its results are the wave's, all 30
    acme = results("acme")
    assert (acme["invited"], acme["responded"]) == (30, 30)
    (workload,) = [d for d in acme["dimensions"] if d["dimension"] == "workload"]
    assert workload["respondents"] == 30 and workload["mean"] is not None


@pytest.fixture
def org_lone_root():
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    platform = TeamFactory(name="Platform", parent=eng)
    infra = TeamFactory(name="Infra", parent=platform)
    data = TeamFactory(name="Data", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    east = TeamFactory(name="East", parent=sales)
    teams = {"acme": acme, "eng": eng, "platform": platform, "infra": infra, "data": data, "sales": sales, "east": east}
    for name, count in (("acme", 1), ("eng", 6), ("platform", 6), ("infra", 1), ("data", 4), ("sales", 9), ("east", 3)):
        EmployeeFactory.create_batch(count, team=teams[name])
    return teams


def test_the_trends_of_a_team_whose_answers_went_upward_list_its_waves_as_hidden_points(org):
    wave = close(_answered_wave(org))
    client = api_for(role=Employee.Role.HR)

    body = client.get(f"/api/v1/teams/{org['sales'].pk}/trends/").json()

    assert [d["dimension"] for d in body["dimensions"]] == ["workload", "enps"]
    for dimension in body["dimensions"]:
        (point,) = dimension["points"]
        assert (point["wave"], point["mean"], point["suppressed"]) == (wave.pk, None, True)
        assert dimension["trend"]["direction"] == "insufficient_data"


def test_a_team_whose_values_would_say_what_each_member_answered_is_hidden_and_says_so(org):
    # given (the outside tester's case) everyone answers 4 and 2 (→ 4) on workload and 8 on eNPS
    wave = wave_launch(survey=_survey(), teams=[org["acme"]])
    for invitation in wave.invitations.all():
        response_record(token=token_for(invitation.id), answers={"r_w1": 4, "r_w2": 2, "r_e1": 8})
    wave = close(wave)
    client = api_for(role=Employee.Role.HR)

    body = client.get(f"/api/v1/teams/{org['acme'].pk}/results/", {"wave": wave.pk}).json()

    # then neither is released: "mean 4.0, all favourable" and "eNPS 0, nobody a promoter or a
    # detractor" say each answer
    assert {d["dimension"]: (d["mean"], d["favorable"], d["reason"]) for d in body["dimensions"]} == {
        "workload": (None, None, "hidden: it would say what each of its members answered"),
        "enps": (None, None, "hidden: it would say what each of its members answered"),
    }
    assert not DimensionRelease.objects.filter(wave=wave, mean__isnull=False).exists()
