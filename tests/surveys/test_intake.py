"""surveys/intake.py: token look-up and response_record, the service behind the form and the API."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from surveys import intake
from surveys.intake import (
    AnswersInvalid,
    TokenExpired,
    TokenUnknown,
    TokenUsed,
    invitation_for_token,
    invitation_language,
    response_record,
    survey_questions,
    survey_questions_cache_clear,
    the_one_open_survey,
)
from surveys.models import Answer, Comment, Invitation, Question, Response, Submission, SurveyQuestion, Wave
from tests.factories import EmployeeFactory, InvitationFactory, QuestionFactory, SurveyFactory, TeamFactory, WaveFactory
from tests.sealed import submissions_opened

pytestmark = pytest.mark.django_db

LIKERT, NPS = Question.Scale.LIKERT5, Question.Scale.NPS11


def make_survey(*, comment_enabled: bool = True):
    survey = SurveyFactory(comment_enabled=comment_enabled)
    for position, (code, scale) in enumerate([("t_workload", LIKERT), ("t_growth", LIKERT), ("t_enps", NPS)]):
        question = QuestionFactory(code=code, scale=scale, text=f"Text of {code}")
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def make_invitation(*, comment_enabled: bool = True, **wave_fields) -> Invitation:
    wave = WaveFactory(survey=make_survey(comment_enabled=comment_enabled), **wave_fields)
    return InvitationFactory(wave=wave)


def stored(invitation: Invitation) -> tuple[int, int, int, bool]:
    """(submissions, answers in them, comments in them, invitation answered); and never a
    plaintext response, answer or comment: only the seal writes those."""
    invitation.refresh_from_db()
    assert (Response.objects.count(), Answer.objects.count(), Comment.objects.count()) == (0, 0, 0)
    opened = submissions_opened()
    return len(opened), sum(len(o.answers) for o in opened), sum(bool(o.comment) for o in opened), invitation.responded


def test_invitation_for_token_finds_the_invitation_without_using_it():
    # given
    invitation = make_invitation()

    # when
    found = invitation_for_token(token=invitation.token)

    # then
    assert found.pk == invitation.pk
    assert found.wave.survey.slug == invitation.wave.survey.slug
    assert stored(invitation) == (0, 0, 0, False)


@pytest.mark.parametrize(
    "token",
    ["", "short", "a" * 42, "a" * 44, "a" * 42 + "/", "a" * 42 + "=", "ä" * 43],
    ids=["empty", "short", "42", "44", "slash", "padding", "non-ascii"],
)
def test_a_malformed_token_is_unknown_without_a_query(token, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(TokenUnknown):
        invitation_for_token(token=token)


def test_a_well_formed_token_nobody_was_given_is_unknown():
    make_invitation()

    with pytest.raises(TokenUnknown):
        invitation_for_token(token=secrets.token_urlsafe(32))


def test_an_answered_invitation_is_used():
    invitation = make_invitation()
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    with pytest.raises(TokenUsed):
        invitation_for_token(token=invitation.token)


def test_a_closed_wave_refuses_the_token_as_expired():
    invitation = make_invitation(status=Wave.Status.CLOSED)

    with pytest.raises(TokenExpired):
        invitation_for_token(token=invitation.token)


def test_a_wave_past_its_closing_time_refuses_the_token_even_before_close_wave_runs():
    invitation = make_invitation(closes_at=timezone.now() + timedelta(hours=1))

    with time_machine.travel(invitation.wave.closes_at), pytest.raises(TokenExpired):
        invitation_for_token(token=invitation.token)


def test_a_token_works_until_the_instant_before_closing_time():
    invitation = make_invitation(closes_at=timezone.now() + timedelta(hours=1))

    with time_machine.travel(invitation.wave.closes_at - timedelta(seconds=1)):
        assert invitation_for_token(token=invitation.token).pk == invitation.pk


def test_closed_wins_over_used_when_both_apply():
    # Once a wave is over, every link of it says so, answered or not: a link (read in someone's
    # mail, say) must not tell whether its owner answered.
    invitation = make_invitation(status=Wave.Status.CLOSED)
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    with pytest.raises(TokenExpired):
        invitation_for_token(token=invitation.token)


@pytest.mark.parametrize(
    ("locale", "language"), [("de", "de"), ("de_DE", "de"), ("de-AT", "de"), ("en", "en"), ("fr", "en"), ("", "en")]
)
def test_invitation_language_is_the_employees_if_pulse_speaks_it(locale, language):
    invitation = InvitationFactory(employee=EmployeeFactory(locale=locale))

    assert invitation_language(invitation) == language


def test_response_record_stores_a_sealed_submission_and_marks_the_invitation_answered():
    # given: the employee moved team after the wave was launched
    invitation = make_invitation()
    launch_team = invitation.team
    invitation.employee.team = TeamFactory()
    invitation.employee.save()

    # when
    response_record(
        token=invitation.token, answers={"t_workload": 4, "t_growth": 1, "t_enps": 10}, comment="  More focus time.  "
    )

    # then: one submission in the team at launch, readable only with the seal key
    assert stored(invitation) == (1, 3, 1, True)
    submission = Submission.objects.get()
    assert (submission.wave_id, submission.team_id) == (invitation.wave_id, launch_team.pk)
    assert submission.id.version == 4
    assert b"More focus time" not in bytes(submission.box)
    (opened,) = submissions_opened()
    assert opened.answers == [("t_enps", 10), ("t_growth", 1), ("t_workload", 4)]
    assert opened.comment == "More focus time."


def test_skipped_questions_are_simply_absent():
    invitation = make_invitation()

    response_record(token=invitation.token, answers={"t_enps": 0})

    assert stored(invitation) == (1, 1, 0, True)
    assert submissions_opened()[0].answers == [("t_enps", 0)]


@pytest.mark.parametrize("comment_enabled", [True, False])
def test_a_whitespace_comment_is_no_comment(comment_enabled):
    invitation = make_invitation(comment_enabled=comment_enabled)

    response_record(token=invitation.token, answers={"t_workload": 3}, comment=" \n\t ")

    assert stored(invitation) == (1, 1, 0, True)


def test_a_comment_of_exactly_the_limit_is_kept():
    invitation = make_invitation()

    response_record(token=invitation.token, answers={"t_workload": 3}, comment="x" * intake.COMMENT_MAX_LENGTH)

    assert submissions_opened()[0].comment == "x" * 2000


@pytest.mark.parametrize(
    ("answers", "comment", "errors"),
    [
        ({"t_workload": 0}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_workload": 6}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_workload": True}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_workload": "3"}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_workload": 3.0}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_workload": None}, "", {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"t_enps": 11}, "", {"answers": {"t_enps": "must be an integer from 0 to 10"}}),
        ({"t_enps": -1}, "", {"answers": {"t_enps": "must be an integer from 0 to 10"}}),
        ({"t_workload": 3, "nope": 3}, "", {"answers": {"nope": "unknown question"}}),
        ({}, "", {"answers": "answer at least one question"}),
        ([["t_workload", 3]], "", {"answers": "must be an object mapping question codes to integers"}),
        ({"t_workload": 3}, "x" * 2001, {"comment": "must be at most 2000 characters"}),
        ({"t_workload": 3}, 42, {"comment": "must be text"}),
        (
            {"t_workload": 9, "t_growth": 2, "t_enps": "ten", "other": 1},
            "x" * 2001,
            {
                "answers": {
                    "t_workload": "must be an integer from 1 to 5",
                    "t_enps": "must be an integer from 0 to 10",
                    "other": "unknown question",
                },
                "comment": "must be at most 2000 characters",
            },
        ),
    ],
    ids=[
        "below",
        "above",
        "bool",
        "string",
        "float",
        "null",
        "nps-above",
        "nps-below",
        "unknown-code",
        "empty",
        "not-a-mapping",
        "comment-too-long",
        "comment-not-text",
        "every-bad-field-named",
    ],
)
def test_invalid_answers_are_refused_naming_each_field_and_nothing_is_written(answers, comment, errors):
    invitation = make_invitation()

    with pytest.raises(AnswersInvalid) as refused:
        response_record(token=invitation.token, answers=answers, comment=comment)

    assert refused.value.errors == errors
    assert stored(invitation) == (0, 0, 0, False)


def test_a_comment_is_refused_when_the_survey_has_no_comment_box():
    invitation = make_invitation(comment_enabled=False)

    with pytest.raises(AnswersInvalid) as refused:
        response_record(token=invitation.token, answers={"t_workload": 3}, comment="Hello")

    assert refused.value.errors == {"comment": "this survey has no comment box"}
    assert stored(invitation) == (0, 0, 0, False)


def test_a_token_is_used_once():
    invitation = make_invitation()
    response_record(token=invitation.token, answers={"t_workload": 3}, comment="first")

    with pytest.raises(TokenUsed):
        response_record(token=invitation.token, answers={"t_workload": 5}, comment="second")

    assert stored(invitation) == (1, 1, 1, True)
    assert submissions_opened()[0].answers == [("t_workload", 3)]


def test_a_closed_wave_takes_no_answers():
    invitation = make_invitation(status=Wave.Status.CLOSED)

    with pytest.raises(TokenExpired):
        response_record(token=invitation.token, answers={"t_workload": 3})

    assert stored(invitation) == (0, 0, 0, False)


def test_a_wave_past_its_closing_time_takes_no_answers():
    invitation = make_invitation(closes_at=timezone.now() + timedelta(minutes=5))

    with time_machine.travel(invitation.wave.closes_at + timedelta(seconds=1)), pytest.raises(TokenExpired):
        response_record(token=invitation.token, answers={"t_workload": 3})

    assert stored(invitation) == (0, 0, 0, False)


def test_answers_are_taken_until_the_second_before_closing():
    invitation = make_invitation(closes_at=timezone.now() + timedelta(hours=1))

    with time_machine.travel(invitation.wave.closes_at - timedelta(seconds=1), tick=False):
        response_record(token=invitation.token, answers={"t_workload": 3})

    assert stored(invitation) == (1, 1, 0, True)


def test_answers_are_refused_at_the_closing_instant():
    invitation = make_invitation(closes_at=timezone.now() + timedelta(hours=1))

    with time_machine.travel(invitation.wave.closes_at, tick=False), pytest.raises(TokenExpired):
        response_record(token=invitation.token, answers={"t_workload": 3})

    assert stored(invitation) == (0, 0, 0, False)


def test_an_unknown_token_writes_nothing():
    invitation = make_invitation()

    with pytest.raises(TokenUnknown):
        response_record(token=secrets.token_urlsafe(32), answers={"t_workload": 3})

    assert stored(invitation) == (0, 0, 0, False)


def test_token_problems_never_carry_the_token():
    used, closed = make_invitation(), make_invitation(status=Wave.Status.CLOSED)
    response_record(token=used.token, answers={"t_workload": 3})
    unknown = secrets.token_urlsafe(32)

    for token in (used.token, closed.token, unknown):
        with pytest.raises((TokenUsed, TokenExpired, TokenUnknown)) as refused:
            response_record(token=token, answers={"t_workload": 3})
        assert token not in repr(refused.value)
        assert token not in str(refused.value)
        assert refused.value.args == (type(refused.value).__name__,)


def test_a_successful_submission_takes_a_fixed_number_of_queries(django_assert_num_queries):
    # The questions (and which survey the open waves ask) come from the warm per-process cache
    # and are checked in Python. On PostgreSQL, with one survey open: ONE statement that finds
    # the invitation by its token's hash, checks its wave, marks it answered and inserts the
    # sealed submission (its own transaction). Elsewhere (SQLite): a SELECT for the invitation,
    # then a transaction (a savepoint inside the test's) of UPDATE and INSERT submission.
    invitation = make_invitation()
    survey_questions(survey_id=invitation.wave.survey_id)
    the_one_open_survey()
    on_postgres = connection.vendor == "postgresql"

    with django_assert_num_queries(1 if on_postgres else 5) as captured:
        response_record(token=invitation.token, answers={"t_workload": 4, "t_growth": 2, "t_enps": 9}, comment="Hi")

    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    if on_postgres:
        assert statements == ["WITH"]
    else:
        assert statements == ["SELECT", "SAVEPOINT", "UPDATE", "INSERT", "RELEASE"]
    assert stored(invitation) == (1, 3, 1, True)


def test_with_two_surveys_open_a_submission_looks_its_token_up_first(django_assert_num_queries):
    # Then the answers can only be checked once the invitation's survey is known: a SELECT,
    # then (PostgreSQL) the one writing statement.
    invitation = make_invitation()
    other = make_invitation()
    assert other.wave.survey_id != invitation.wave.survey_id
    survey_questions(survey_id=invitation.wave.survey_id)
    assert the_one_open_survey() is None

    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 5):
        response_record(token=invitation.token, answers={"t_workload": 4})

    assert stored(invitation) == (1, 1, 0, True)


@pytest.mark.parametrize("surveys_open", [1, 2])
def test_no_statement_carries_what_was_answered(django_assert_num_queries, surveys_open):
    # A statement's parameters show in pg_stat_activity and statement logs: which questions
    # someone answered (or skipped), or whether they left a comment, would link their sealed
    # answers back to them. Only the token's hash, ids, times and the opaque box go in.
    invitation = make_invitation()
    if surveys_open == 2:
        make_invitation()
    survey_questions(survey_id=invitation.wave.survey_id)
    the_one_open_survey()
    question_ids = sorted(Question.objects.filter(code__in=["t_workload", "t_enps"]).values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as captured:
        response_record(token=invitation.token, answers={"t_workload": 4, "t_enps": 9}, comment="Secret words")

    assert captured.captured_queries
    for query in captured.captured_queries:
        assert "Secret words" not in query["sql"]
        assert str(question_ids) not in query["sql"]
        assert "{" + ",".join(map(str, question_ids)) + "}" not in query["sql"]
        assert "unnest" not in query["sql"]
    assert stored(invitation) == (1, 2, 1, True)


def test_a_question_of_another_survey_is_unknown_here_and_nothing_is_written():
    # The bank knows the code, but this wave's survey doesn't ask it.
    invitation = make_invitation()
    QuestionFactory(code="elsewhere_1")

    with pytest.raises(AnswersInvalid) as refused:
        response_record(token=invitation.token, answers={"t_workload": 4, "elsewhere_1": 3})

    assert refused.value.errors == {"answers": {"elsewhere_1": "unknown question"}}
    assert stored(invitation) == (0, 0, 0, False)


def test_an_inactive_question_is_unknown_and_nothing_is_written():
    invitation = make_invitation()
    Question.objects.filter(code="t_growth").update(active=False)
    survey_questions_cache_clear()

    with pytest.raises(AnswersInvalid) as refused:
        response_record(token=invitation.token, answers={"t_workload": 4, "t_growth": 3})

    assert refused.value.errors == {"answers": {"t_growth": "unknown question"}}
    assert stored(invitation) == (0, 0, 0, False)


def test_the_survey_questions_come_from_the_cache_once_loaded(django_assert_num_queries):
    survey = make_survey()
    first = survey_questions(survey_id=survey.pk)

    with django_assert_num_queries(0):
        again = survey_questions(survey_id=survey.pk)

    assert again is first
    assert list(again) == ["t_workload", "t_growth", "t_enps"]
    assert (again["t_enps"].min, again["t_enps"].max, again["t_workload"].max) == (0, 10, 5)


def test_a_question_added_in_this_process_is_accepted_at_once():
    # given: the cache holds the survey's three questions
    invitation = make_invitation()
    survey_questions(survey_id=invitation.wave.survey_id)

    # when: the admin (same process) adds a fourth
    added = QuestionFactory(code="t_connection", scale=LIKERT)
    SurveyQuestion.objects.create(survey=invitation.wave.survey, question=added, position=9)

    # then
    response_record(token=invitation.token, answers={"t_connection": 5})
    assert submissions_opened()[0].answers == [("t_connection", 5)]


def test_a_change_made_by_another_process_shows_after_the_cache_ttl(monkeypatch):
    # given: a cached survey; another process changes a question (no signal reaches us)
    survey = make_survey()
    survey_questions(survey_id=survey.pk)
    Question.objects.filter(code="t_workload").update(scale=NPS)

    # then: within the TTL the cached scale still applies, after it the new one
    assert survey_questions(survey_id=survey.pk)["t_workload"].max == 5
    monkeypatch.setattr(intake, "QUESTIONS_CACHE_TTL", 0.0)
    assert survey_questions(survey_id=survey.pk)["t_workload"].max == 10


def test_inactive_questions_are_not_part_of_the_survey():
    invitation = make_invitation()
    Question.objects.filter(code="t_growth").update(active=False)
    intake.survey_questions_cache_clear()

    with pytest.raises(AnswersInvalid) as refused:
        response_record(token=invitation.token, answers={"t_growth": 3})

    assert refused.value.errors == {"answers": {"t_growth": "unknown question"}}
    assert list(survey_questions(survey_id=invitation.wave.survey_id)) == ["t_workload", "t_enps"]
