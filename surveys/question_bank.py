"""The default question bank and the default survey ``pulse``, as plain data.

Every item below is original wording written for Pulse and released under the project's
licence, free to use, translate and adapt. None of it is taken or paraphrased from
proprietary instruments (Gallup Q12, the Maslach Burnout Inventory); keep it that way when
adding items.

The English text is the stored ``Question.text`` and the gettext msgid: it is marked with
``gettext_noop`` so ``makemessages`` collects it, and shown through :func:`question_text`,
so the bank's questions appear in each employee's language while HR's own questions are
shown as written.

The migration ``0002_question_bank`` installs a frozen copy of this data (a migration must
keep doing what it did when it was written). This module is the living copy, used by
:func:`question_bank_install` (demo seeding, tests, and any later data migration that ships
a changed bank with its own frozen copy).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_noop

from .models import Question, Survey, SurveyQuestion

DEFAULT_SURVEY_SLUG = "pulse"
DEFAULT_SURVEY_NAME = "Pulse"

LIKERT5 = "likert5"
NPS11 = "nps11"


@dataclass(frozen=True)
class BankItem:
    code: str
    dimension: str
    text: str
    scale: str = LIKERT5
    reverse_scored: bool = False  # agreeing is the unhealthy answer
    optional: bool = False  # in the bank, not in the default survey


# In the order the default survey asks them: the everyday dimensions first, the weightier
# intent-to-stay and recommend questions last, so they don't colour the answers before them.
QUESTION_BANK: tuple[BankItem, ...] = (
    BankItem("workload_1", "workload", gettext_noop("I can get my work done within my normal working hours.")),
    BankItem(
        "workload_2",
        "workload",
        gettext_noop("I regularly have more work on my plate than I can handle well."),
        reverse_scored=True,
    ),
    BankItem("workload_3", "workload", gettext_noop("I have enough time to do my work to a standard I am proud of.")),
    BankItem("growth_1", "growth", gettext_noop("My work stretches me and teaches me new skills.")),
    BankItem("growth_2", "growth", gettext_noop("I can see how my career could develop in this organisation.")),
    BankItem("growth_3", "growth", gettext_noop("I feel stuck in my current role."), reverse_scored=True),
    BankItem("connection_1", "connection", gettext_noop("I feel that I belong in my team.")),
    BankItem("connection_2", "connection", gettext_noop("I can ask my colleagues for help without hesitating.")),
    BankItem(
        "connection_3",
        "connection",
        gettext_noop("I often feel left out of what is going on in my team."),
        reverse_scored=True,
    ),
    BankItem("burnout_1", "burnout", gettext_noop("I look forward to most of my working days.")),
    BankItem(
        "burnout_2",
        "burnout",
        gettext_noop("Lately I have been running on empty at work."),
        reverse_scored=True,
    ),
    BankItem("burnout_3", "burnout", gettext_noop("A weekend off is enough for me to recover from a demanding week.")),
    BankItem("intent_to_stay_1", "intent_to_stay", gettext_noop("I see myself still working here in two years' time.")),
    BankItem(
        "intent_to_stay_2",
        "intent_to_stay",
        gettext_noop("I have been thinking about looking for a job somewhere else."),
        reverse_scored=True,
    ),
    BankItem(
        "enps_1",
        "enps",
        gettext_noop("How likely is it that you would recommend this organisation as a place to work to a friend?"),
        scale=NPS11,
    ),
    # Optional dimensions: in the bank for HR to add to a survey, not asked by default.
    BankItem(
        "manager_support_1",
        "manager_support",
        gettext_noop("My manager makes time for me when I need it."),
        optional=True,
    ),
    BankItem(
        "manager_support_2",
        "manager_support",
        gettext_noop("I can raise a problem with my manager without worrying about how it will be received."),
        optional=True,
    ),
    BankItem(
        "work_life_balance_1",
        "work_life_balance",
        gettext_noop("I can take time off when I need it without feeling guilty."),
        optional=True,
    ),
    BankItem(
        "work_life_balance_2",
        "work_life_balance",
        gettext_noop("My job often gets in the way of my personal or family life."),
        reverse_scored=True,
        optional=True,
    ),
    BankItem(
        "mission_1",
        "mission",
        gettext_noop("I understand how my work contributes to what this organisation wants to achieve."),
        optional=True,
    ),
    BankItem(
        "mission_2", "mission", gettext_noop("I believe in what this organisation is trying to do."), optional=True
    ),
)

# Survey positions step by 10 so HR can slot a question in between in the admin without
# renumbering the rest.
POSITION_STEP = 10


@dataclass(frozen=True)
class InstallReport:
    created: int
    updated: int
    survey_created: bool


def question_text(question: Question, language: str) -> str:
    """The question's text in ``language``; HR's own questions (no translation) as written."""
    if not question.text:
        return ""  # gettext("") would return the catalogue's header
    with translation.override(language):
        return translation.gettext(question.text)


def _question_upsert(item: BankItem) -> str:
    """Create or align one bank question; returns "created", "updated" or "unchanged".

    Only the bank's own fields are written, and only when they differ, so a re-run touches no
    row. ``active`` belongs to HR: a question HR switched off stays off.
    """
    wanted = {
        "dimension": item.dimension,
        "text": item.text,
        "scale": item.scale,
        "reverse_scored": item.reverse_scored,
        "optional": item.optional,
    }
    question = Question.objects.filter(code=item.code).first()
    if question is None:
        Question.objects.create(code=item.code, **wanted)
        return "created"
    changed = [field for field, value in wanted.items() if getattr(question, field) != value]
    if not changed:
        return "unchanged"
    for field in changed:
        setattr(question, field, wanted[field])
    question.save(update_fields=changed)
    return "updated"


def _default_survey_install() -> bool:
    """Create the default survey with every core question; an existing one is HR's to edit."""
    survey, created = Survey.objects.get_or_create(
        slug=DEFAULT_SURVEY_SLUG, defaults={"name": DEFAULT_SURVEY_NAME, "comment_enabled": True}
    )
    if not created:
        return False
    by_code = Question.objects.in_bulk([item.code for item in QUESTION_BANK], field_name="code")
    core = [item for item in QUESTION_BANK if not item.optional]
    SurveyQuestion.objects.bulk_create(
        SurveyQuestion(survey=survey, question=by_code[item.code], position=(i + 1) * POSITION_STEP)
        for i, item in enumerate(core)
    )
    return True


@transaction.atomic
def question_bank_install() -> InstallReport:
    """Install or update the default bank and survey; idempotent, never deletes anything."""
    outcomes = [_question_upsert(item) for item in QUESTION_BANK]
    survey_created = _default_survey_install()
    return InstallReport(
        created=outcomes.count("created"), updated=outcomes.count("updated"), survey_created=survey_created
    )
