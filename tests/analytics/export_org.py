"""A small organisation with one wave answered, closed, sealed and analysed through the real
services (as tests/analytics/test_results.py builds it), for the export tests.

    Acme (2 direct) ── Eng (6 direct) ── ML (5)
                   └── Sales (3): fewer than k = 5, its answers go to Acme (2 + 3 = 5)

Answers (w1, w2 reverse-scored, e1 on 0–10): ML 4, 2 (→ 4), 10; Eng 2, 4 (→ 2), 5;
Acme and Sales 3, 3 (→ 3), 8.
"""

from __future__ import annotations

import io

from django.core.management import call_command

from surveys.intake import response_record
from surveys.models import Question, SurveyQuestion, Team, Wave
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory

ANSWERS = {"ML": (4, 2, 10), "Eng": (2, 4, 5), "Acme": (3, 3, 8), "Sales": (3, 3, 8)}


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
    for invitation in wave.invitations.select_related("team"):
        w1, w2, e1 = ANSWERS[invitation.team.name]
        response_record(token=token_for(invitation.id), answers={"r_w1": w1, "r_w2": w2, "r_e1": e1})
    return wave


def wave_closed(org: dict[str, Team]) -> Wave:
    """Answered, then ``close_wave`` as HR runs it: sealed and analysed when it returns."""
    wave = wave_answered(org)
    call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return Wave.objects.get(pk=wave.pk)
