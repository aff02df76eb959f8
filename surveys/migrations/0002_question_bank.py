"""Install the default question bank and the default survey ``pulse``.

The data below is a frozen copy of ``surveys/question_bank.py`` as of this migration, and the
code uses only the historical models from ``apps``. A migration must do tomorrow exactly what
it did today: importing the living module (whose data and models will change) could make an
old migration write a future bank into a schema that can't hold it yet. A later change to the
bank ships as a new data migration with its own frozen copy.

The wording is original to Pulse and released under the project's licence (see
``surveys/question_bank.py``).
"""

from __future__ import annotations

from django.db import migrations

# (code, dimension, English text = gettext msgid, scale, reverse_scored, optional), in the
# default survey's order.
BANK = [
    ("workload_1", "workload", "I can get my work done within my normal working hours.", "likert5", False, False),
    (
        "workload_2",
        "workload",
        "I regularly have more work on my plate than I can handle well.",
        "likert5",
        True,
        False,
    ),
    (
        "workload_3",
        "workload",
        "I have enough time to do my work to a standard I am proud of.",
        "likert5",
        False,
        False,
    ),
    ("growth_1", "growth", "My work stretches me and teaches me new skills.", "likert5", False, False),
    ("growth_2", "growth", "I can see how my career could develop in this organisation.", "likert5", False, False),
    ("growth_3", "growth", "I feel stuck in my current role.", "likert5", True, False),
    ("connection_1", "connection", "I feel that I belong in my team.", "likert5", False, False),
    ("connection_2", "connection", "I can ask my colleagues for help without hesitating.", "likert5", False, False),
    ("connection_3", "connection", "I often feel left out of what is going on in my team.", "likert5", True, False),
    ("burnout_1", "burnout", "I look forward to most of my working days.", "likert5", False, False),
    ("burnout_2", "burnout", "Lately I have been running on empty at work.", "likert5", True, False),
    (
        "burnout_3",
        "burnout",
        "A weekend off is enough for me to recover from a demanding week.",
        "likert5",
        False,
        False,
    ),
    (
        "intent_to_stay_1",
        "intent_to_stay",
        "I see myself still working here in two years' time.",
        "likert5",
        False,
        False,
    ),
    (
        "intent_to_stay_2",
        "intent_to_stay",
        "I have been thinking about looking for a job somewhere else.",
        "likert5",
        True,
        False,
    ),
    (
        "enps_1",
        "enps",
        "How likely is it that you would recommend this organisation as a place to work to a friend?",
        "nps11",
        False,
        False,
    ),
    ("manager_support_1", "manager_support", "My manager makes time for me when I need it.", "likert5", False, True),
    (
        "manager_support_2",
        "manager_support",
        "I can raise a problem with my manager without worrying about how it will be received.",
        "likert5",
        False,
        True,
    ),
    (
        "work_life_balance_1",
        "work_life_balance",
        "I can take time off when I need it without feeling guilty.",
        "likert5",
        False,
        True,
    ),
    (
        "work_life_balance_2",
        "work_life_balance",
        "My job often gets in the way of my personal or family life.",
        "likert5",
        True,
        True,
    ),
    (
        "mission_1",
        "mission",
        "I understand how my work contributes to what this organisation wants to achieve.",
        "likert5",
        False,
        True,
    ),
    ("mission_2", "mission", "I believe in what this organisation is trying to do.", "likert5", False, True),
]
POSITION_STEP = 10


def install(apps, schema_editor):
    Question = apps.get_model("surveys", "Question")
    Survey = apps.get_model("surveys", "Survey")
    SurveyQuestion = apps.get_model("surveys", "SurveyQuestion")

    questions = {}
    for code, dimension, text, scale, reverse_scored, optional in BANK:
        questions[code], _ = Question.objects.update_or_create(
            code=code,
            defaults={
                "dimension": dimension,
                "text": text,
                "scale": scale,
                "reverse_scored": reverse_scored,
                "optional": optional,
            },
        )
    # An existing `pulse` survey belongs to HR; only a new one is filled.
    survey, created = Survey.objects.get_or_create(slug="pulse", defaults={"name": "Pulse", "comment_enabled": True})
    if created:
        core = [row for row in BANK if not row[5]]
        SurveyQuestion.objects.bulk_create(
            SurveyQuestion(survey=survey, question=questions[row[0]], position=(i + 1) * POSITION_STEP)
            for i, row in enumerate(core)
        )


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    # Unapplying keeps the rows: they may already carry answers and HR's edits.
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
