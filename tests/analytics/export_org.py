"""A small organisation with one wave answered, closed, sealed and analysed through the real
services (as tests/analytics/test_results.py builds it), for the export tests.

    Acme (2 direct) ── Eng (6 direct) ── ML (5)
                   └── Sales (3): fewer than k = 5, its answers go to Acme (2 + 3 = 5)

Answers (w1, w2 reverse-scored, e1 on 0–10) as test_results gives them: each team's members take
its two profiles in turn (A, B, A, ...), so that no group says what each member answered:
ML A 4, 2 (→ 4), 10 and B 5, 1 (→ 5), 8; Eng A 2, 4 (→ 2), 5 and B 3, 3 (→ 3), 9; Acme and
Sales A 3, 3 (→ 3), 8 and B 2, 4 (→ 2), 6.
"""

from __future__ import annotations

import io

from django.core.management import call_command

from surveys.intake import response_record
from surveys.models import Question, SurveyQuestion, Team, Wave
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory

ANSWERS = {
    "ML": ((4, 2, 10), (5, 1, 8)),
    "Eng": ((2, 4, 5), (3, 3, 9)),
    "Acme": ((3, 3, 8), (2, 4, 6)),
    "Sales": ((3, 3, 8), (2, 4, 6)),
}


def org_create() -> dict[str, Team]:
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    for team, count in ((acme, 2), (eng, 6), (ml, 5), (sales, 3)):
        EmployeeFactory.create_batch(count, team=team)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def survey_create():
    survey = SurveyFactory()
    items = [
        QuestionFactory(code="r_w1", dimension="workload"),
        QuestionFactory(code="r_w2", dimension="workload", reverse_scored=True),
        QuestionFactory(code="r_e1", dimension="enps", scale=Question.Scale.NPS11),
    ]
    for position, question in enumerate(items):
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def wave_answered(org: dict[str, Team]) -> Wave:
    wave = wave_launch(survey=survey_create(), teams=[org["acme"]])
    seen: dict[str, int] = {}
    for invitation in wave.invitations.select_related("team"):
        team = invitation.team.name
        w1, w2, e1 = ANSWERS[team][seen.setdefault(team, 0) % 2]
        seen[team] += 1
        response_record(token=token_for(invitation.id), answers={"r_w1": w1, "r_w2": w2, "r_e1": e1})
    return wave


def wave_closed(org: dict[str, Team]) -> Wave:
    """Answered, then ``close_wave`` as HR runs it: sealed and analysed when it returns."""
    wave = wave_answered(org)
    call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return Wave.objects.get(pk=wave.pk)
