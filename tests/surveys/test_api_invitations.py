"""GET /api/v1/invitations/<token>/ (DESIGN.md, Public API)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from surveys.intake import survey_questions
from surveys.models import Invitation, Question, Submission, SurveyQuestion, Wave
from tests.factories import EmployeeFactory, InvitationFactory, QuestionFactory, WaveFactory
from tests.surveys.test_intake import make_invitation, make_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def url(token: str) -> str:
    return f"/api/v1/invitations/{token}/"


def test_an_open_invitation_describes_its_survey(client):
    # given
    closes_at = datetime(2031, 3, 4, 17, 0, tzinfo=UTC)
    invitation = make_invitation(closes_at=closes_at)
    Question.objects.filter(code="t_growth").update(reverse_scored=True, dimension=Question.Dimension.GROWTH)

    # when
    response = client.get(url(invitation.token))

    # then
    assert response.status_code == 200
    assert response.json() == {
        "survey": invitation.wave.survey.slug,
        "closes_at": "2031-03-04T17:00:00Z",
        "language": "en",
        "questions": [
            {
                "code": "t_workload",
                "text": "Text of t_workload",
                "dimension": "workload",
                "scale": "likert5",
                "min": 1,
                "max": 5,
                "reverse_scored": False,
            },
            {
                "code": "t_growth",
                "text": "Text of t_growth",
                "dimension": "growth",
                "scale": "likert5",
                "min": 1,
                "max": 5,
                "reverse_scored": True,
            },
            {
                "code": "t_enps",
                "text": "Text of t_enps",
                "dimension": "workload",
                "scale": "nps11",
                "min": 0,
                "max": 10,
                "reverse_scored": False,
            },
        ],
        "comment_enabled": True,
    }
    assert "no-store" in response["Cache-Control"]


def test_question_texts_come_in_the_employees_language(client):
    # The stored English text goes through gettext in the employee's language. A text that
    # Django's bundled German catalogue has ("Yes" → "Ja") keeps this independent of the
    # wording in Pulse's own catalogue; a text no catalogue has stays as written.
    survey = make_survey()
    SurveyQuestion.objects.create(survey=survey, question=QuestionFactory(code="t_yes", text="Yes"), position=9)
    invitation = InvitationFactory(wave=WaveFactory(survey=survey), employee=EmployeeFactory(locale="de_DE"))

    response = client.get(url(invitation.token), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response.json()["language"] == "de"
    assert [q["text"] for q in response.json()["questions"]] == [
        "Text of t_workload",
        "Text of t_growth",
        "Text of t_enps",
        "Ja",
    ]


def test_the_text_stays_english_for_an_english_speaker(client):
    survey = make_survey()
    SurveyQuestion.objects.create(survey=survey, question=QuestionFactory(code="t_yes", text="Yes"), position=9)
    invitation = InvitationFactory(wave=WaveFactory(survey=survey), employee=EmployeeFactory(locale="en"))

    response = client.get(url(invitation.token), HTTP_ACCEPT_LANGUAGE="de")

    assert response.json()["questions"][-1]["text"] == "Yes"


def test_a_survey_without_comment_box_says_so(client):
    invitation = make_invitation(comment_enabled=False)

    assert client.get(url(invitation.token)).json()["comment_enabled"] is False


def test_reading_never_uses_the_token(client):
    # given: a mail scanner and then the employee open the link
    invitation = make_invitation()
    assert client.get(url(invitation.token)).status_code == 200
    assert client.get(url(invitation.token)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.responded is False

    # when
    response = client.post("/api/v1/responses/", {"token": invitation.token, "answers": {"t_workload": 2}}, "json")

    # then
    assert response.status_code == 201
    assert Submission.objects.count() == 1


@pytest.mark.parametrize(
    "token", [secrets.token_urlsafe(32), "not-a-token", "x" * 300], ids=["unknown", "short", "long"]
)
def test_an_unknown_token_is_404(client, token):
    make_invitation()

    response = client.get(url(token))

    assert response.status_code == 404
    assert response.json() == {"code": "unknown", "detail": "This survey link is not known."}


def test_an_answered_invitation_is_409(client):
    invitation = make_invitation()
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    response = client.get(url(invitation.token))

    assert response.status_code == 409
    assert response.json() == {"code": "used", "detail": "This survey link has been used already."}


def test_a_closed_wave_is_410(client):
    invitation = make_invitation(status=Wave.Status.CLOSED)

    response = client.get(url(invitation.token))

    assert response.status_code == 410
    assert response.json() == {"code": "expired", "detail": "This survey has closed."}


@pytest.mark.parametrize("answered", [True, False], ids=["used", "unused"])
def test_a_closed_wave_is_410_in_the_employees_language_whether_the_link_was_used_or_not(client, answered):
    # given a German employee's link of a closed wave
    invitation = make_invitation(status=Wave.Status.CLOSED)
    Invitation.objects.filter(pk=invitation.pk).update(responded=answered)
    invitation.employee.locale = "de"
    invitation.employee.save()

    # when it is read, and answered, from a client that asks for English
    read = client.get(url(invitation.token), HTTP_ACCEPT_LANGUAGE="en")
    body = {"token": invitation.token, "answers": {"t_workload": 3}}
    sent = client.post("/api/v1/responses/", body, "json", HTTP_ACCEPT_LANGUAGE="en")

    # then the same answer either way, in German
    for response in (read, sent):
        assert response.status_code == 410
        assert response.json() == {"code": "expired", "detail": "Diese Umfrage ist beendet."}


def test_a_used_link_is_409_in_the_employees_language_while_the_wave_is_open(client):
    invitation = make_invitation()
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)
    invitation.employee.locale = "de"
    invitation.employee.save()

    response = client.get(url(invitation.token))

    assert response.status_code == 409
    assert response.json() == {"code": "used", "detail": "Dieser Umfragelink wurde schon verwendet."}


def test_a_wave_past_its_closing_time_is_410(client):
    invitation = make_invitation(closes_at=timezone.now() + timedelta(days=1))

    with time_machine.travel(invitation.wave.closes_at + timedelta(minutes=1)):
        response = client.get(url(invitation.token))

    assert response.status_code == 410
    assert response.json()["code"] == "expired"


def test_no_login_is_needed_and_a_session_changes_nothing(client, django_user_model):
    invitation = make_invitation()
    client.force_login(django_user_model.objects.create_user("hr@example.com", password="x" * 20))

    assert client.get(url(invitation.token)).status_code == 200


def test_reading_an_invitation_takes_one_query_once_questions_are_cached(client, django_assert_num_queries):
    invitation = make_invitation()
    survey_questions(survey_id=invitation.wave.survey_id)

    with django_assert_num_queries(1):
        assert client.get(url(invitation.token)).status_code == 200
