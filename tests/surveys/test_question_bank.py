from __future__ import annotations

import importlib

import pytest

from surveys.models import Question, Survey, SurveyQuestion
from surveys.question_bank import QUESTION_BANK, InstallReport, question_bank_install
from tests.factories import QuestionFactory

CORE = ["workload", "growth", "connection", "burnout", "intent_to_stay", "enps"]
OPTIONAL = ["manager_support", "work_life_balance", "mission"]

pytestmark = pytest.mark.django_db


def _bank_rows() -> list[tuple]:
    return list(
        Question.objects.order_by("code").values_list(
            "code", "dimension", "text", "scale", "reverse_scored", "optional"
        )
    )


def test_migration_installed_the_living_bank_exactly():
    # given the test database, built by the migrations (0002 holds a frozen copy)
    # when the living installer runs over it
    report = question_bank_install()

    # then the two copies agree: nothing to create or update
    assert report == InstallReport(created=0, updated=0, survey_created=False)
    assert _bank_rows() == sorted(
        (i.code, i.dimension, i.text, i.scale, i.reverse_scored, i.optional) for i in QUESTION_BANK
    )


def test_migration_copy_matches_module_data():
    migration = importlib.import_module("surveys.migrations.0002_question_bank")

    frozen = migration.BANK

    assert frozen == [(i.code, i.dimension, i.text, i.scale, i.reverse_scored, i.optional) for i in QUESTION_BANK]


def test_bank_covers_every_dimension_with_stable_codes():
    per_dimension: dict[str, list[str]] = {}
    for item in QUESTION_BANK:
        per_dimension.setdefault(item.dimension, []).append(item.code)

    assert set(per_dimension) == {choice.value for choice in Question.Dimension}
    for dimension, codes in per_dimension.items():
        assert codes == [f"{dimension}_{n}" for n in range(1, len(codes) + 1)]
    for dimension in ["workload", "growth", "connection", "burnout", "intent_to_stay"]:
        assert 2 <= len(per_dimension[dimension]) <= 3
    for dimension in OPTIONAL:
        assert len(per_dimension[dimension]) == 2
    assert per_dimension["enps"] == ["enps_1"]


def test_scales_optional_flags_and_directions():
    by_code = {item.code: item for item in QUESTION_BANK}

    assert [i.code for i in QUESTION_BANK if i.scale == Question.Scale.NPS11] == ["enps_1"]
    assert {i.dimension for i in QUESTION_BANK if i.optional} == set(OPTIONAL)
    assert {i.dimension for i in QUESTION_BANK if not i.optional} == set(CORE)
    # agreeing with these is the unhealthy answer
    assert {i.code for i in QUESTION_BANK if i.reverse_scored} == {
        "workload_2",
        "growth_3",
        "connection_3",
        "burnout_2",
        "intent_to_stay_2",
        "work_life_balance_2",
    }
    assert by_code["enps_1"].reverse_scored is False


def test_wording_avoids_proprietary_instruments():
    # a few tell-tale phrases of Gallup Q12 and the Maslach Burnout Inventory
    banned = [
        "best friend",
        "emotionally drained",
        "used up",
        "burned out",
        "recognition or praise",
        "materials and equipment",
        "opportunity to do what i do best",
        "end of my rope",
        "seems to care about me as a person",
    ]

    for item in QUESTION_BANK:
        assert not [phrase for phrase in banned if phrase in item.text.lower()], item.code


def test_default_survey_asks_core_questions_in_order(default_survey):
    # when
    items = list(SurveyQuestion.objects.filter(survey=default_survey).select_related("question"))

    # then
    assert default_survey.name == "Pulse"
    assert default_survey.comment_enabled is True
    assert [sq.question.code for sq in items] == [i.code for i in QUESTION_BANK if not i.optional]
    assert [sq.question.dimension for sq in items][-3:] == ["intent_to_stay", "intent_to_stay", "enps"]
    assert [sq.position for sq in items] == list(range(10, 10 * len(items) + 1, 10))


def test_reinstall_changes_nothing():
    # given
    before = _bank_rows()
    survey_before = list(SurveyQuestion.objects.values_list("survey__slug", "question__code", "position"))

    # when
    report = question_bank_install()

    # then
    assert report == InstallReport(created=0, updated=0, survey_created=False)
    assert _bank_rows() == before
    assert list(SurveyQuestion.objects.values_list("survey__slug", "question__code", "position")) == survey_before


def test_install_on_empty_database_creates_bank_and_survey():
    # given a database without the bank (as after a flush)
    SurveyQuestion.objects.all().delete()
    Survey.objects.all().delete()
    Question.objects.all().delete()

    # when
    report = question_bank_install()

    # then
    assert report == InstallReport(created=len(QUESTION_BANK), updated=0, survey_created=True)
    assert Question.objects.count() == len(QUESTION_BANK)
    assert Survey.objects.get(slug="pulse").items.count() == len([i for i in QUESTION_BANK if not i.optional])


def test_install_restores_bank_fields_but_keeps_hr_choices():
    # given HR switched a bank question off, and an older bank text is stored
    Question.objects.filter(code="growth_1").update(active=False, text="Old wording")

    # when
    report = question_bank_install()

    # then the text follows the bank, the switch stays HR's
    growth_1 = Question.objects.get(code="growth_1")
    assert report == InstallReport(created=0, updated=1, survey_created=False)
    assert growth_1.text == "My work stretches me and teaches me new skills."
    assert growth_1.active is False


def test_install_never_deletes_hr_questions_or_edits_hr_survey(default_survey):
    # given HR's own question, added to the default survey, and a bank question removed from it
    own = QuestionFactory(code="hybrid_1", dimension=Question.Dimension.CONNECTION, text="Our office days work for me.")
    SurveyQuestion.objects.create(survey=default_survey, question=own, position=5)
    SurveyQuestion.objects.filter(survey=default_survey, question__code="growth_3").delete()
    survey_before = list(default_survey.items.values_list("question__code", "position"))

    # when
    report = question_bank_install()

    # then
    assert report == InstallReport(created=0, updated=0, survey_created=False)
    assert Question.objects.filter(code="hybrid_1", text="Our office days work for me.").exists()
    assert list(default_survey.items.values_list("question__code", "position")) == survey_before
    assert survey_before[0] == ("hybrid_1", 5)
