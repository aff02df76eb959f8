"""POST /api/v1/responses/ (DESIGN.md, Public API)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from surveys.intake import survey_questions, the_one_open_survey
from surveys.models import Wave
from tests.sealed import submissions_opened
from tests.surveys.test_intake import make_invitation, stored

pytestmark = pytest.mark.django_db

URL = "/api/v1/responses/"


@pytest.fixture
def client() -> APIClient:
    # Strict CSRF like a browser session would get: the API must not need it.
    return APIClient(enforce_csrf_checks=True)


def test_a_submission_is_recorded(client):
    # given
    invitation = make_invitation()

    # when
    response = client.post(
        URL,
        {"token": invitation.token, "answers": {"t_workload": 5, "t_growth": 3, "t_enps": 7}, "comment": "Thanks"},
        format="json",
    )

    # then
    assert response.status_code == 201
    assert response.json() == {"status": "recorded"}
    assert stored(invitation) == (1, 3, 1, True)
    (opened,) = submissions_opened()
    assert opened.answers == [("t_enps", 7), ("t_growth", 3), ("t_workload", 5)]
    assert opened.comment == "Thanks"
    assert "no-store" in response["Cache-Control"]


def test_questions_may_be_skipped_and_the_comment_left_out(client):
    invitation = make_invitation()

    response = client.post(URL, {"token": invitation.token, "answers": {"t_growth": 1}}, format="json")

    assert response.status_code == 201
    assert stored(invitation) == (1, 1, 0, True)


def test_a_second_submission_is_409_and_changes_nothing(client):
    invitation = make_invitation()
    first = client.post(URL, {"token": invitation.token, "answers": {"t_workload": 1}}, format="json")

    second = client.post(URL, {"token": invitation.token, "answers": {"t_workload": 5}, "comment": "x"}, format="json")

    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json() == {"code": "used", "detail": "This survey link has been used already."}
    assert stored(invitation) == (1, 1, 0, True)
    assert submissions_opened()[0].answers == [("t_workload", 1)]


def test_a_closed_wave_is_410_and_nothing_is_stored(client):
    invitation = make_invitation(status=Wave.Status.CLOSED)

    response = client.post(URL, {"token": invitation.token, "answers": {"t_workload": 1}}, format="json")

    assert response.status_code == 410
    assert response.json() == {"code": "expired", "detail": "This survey has closed."}
    assert stored(invitation) == (0, 0, 0, False)


def test_after_the_closing_time_is_410_and_nothing_is_stored(client):
    invitation = make_invitation(closes_at=timezone.now() + timedelta(hours=2))

    with time_machine.travel(invitation.wave.closes_at):
        response = client.post(URL, {"token": invitation.token, "answers": {"t_workload": 1}}, format="json")

    assert response.status_code == 410
    assert stored(invitation) == (0, 0, 0, False)


@pytest.mark.parametrize("token", [secrets.token_urlsafe(32), "nope"], ids=["unknown", "malformed"])
def test_an_unknown_token_is_404_and_nothing_is_stored(client, token):
    invitation = make_invitation()

    response = client.post(URL, {"token": token, "answers": {"t_workload": 1}}, format="json")

    assert response.status_code == 404
    assert response.json() == {"code": "unknown", "detail": "This survey link is not known."}
    assert stored(invitation) == (0, 0, 0, False)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"answers": {"t_workload": 9}}, {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"answers": {"t_workload": True}}, {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"answers": {"t_workload": "4"}}, {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"answers": {"t_workload": 4.5}}, {"answers": {"t_workload": "must be an integer from 1 to 5"}}),
        ({"answers": {"t_enps": 11}}, {"answers": {"t_enps": "must be an integer from 0 to 10"}}),
        ({"answers": {"t_workload": 3, "made_up": 3}}, {"answers": {"made_up": "unknown question"}}),
        ({"answers": {}}, {"answers": "answer at least one question"}),
        ({"answers": {"t_workload": 3}, "comment": "x" * 2001}, {"comment": "must be at most 2000 characters"}),
        (
            {"answers": {"t_workload": 0, "t_growth": 6, "t_enps": 5}, "comment": "y" * 2001},
            {
                "answers": {
                    "t_workload": "must be an integer from 1 to 5",
                    "t_growth": "must be an integer from 1 to 5",
                },
                "comment": "must be at most 2000 characters",
            },
        ),
    ],
    ids=["range", "bool", "string", "float", "nps-range", "unknown-code", "empty", "long-comment", "several"],
)
def test_a_bad_submission_is_400_naming_each_bad_field(client, body, errors):
    invitation = make_invitation()

    response = client.post(URL, {"token": invitation.token, **body}, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert stored(invitation) == (0, 0, 0, False)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"answers": {"t_workload": 3}}, {"token": "This field is required."}),
        ({"token": "", "answers": {"t_workload": 3}}, {"token": "This field may not be blank."}),
        ({"token": None, "answers": {"t_workload": 3}}, {"token": "This field may not be null."}),
        ({"token": "T"}, {"answers": "This field is required."}),
        ({"token": "T", "answers": [3]}, {"answers": "must be an object mapping question codes to integers"}),
        ({"token": "T", "answers": None}, {"answers": "This field may not be null."}),
        ({"token": "T", "answers": {"t_workload": 3}, "comment": ["a"]}, {"comment": "must be text"}),
        (
            {"token": "T", "answers": {"t_workload": "x"}, "comment": 7},
            {"answers": {"t_workload": "must be an integer from 1 to 5"}, "comment": "must be text"},
        ),
        ({}, {"token": "This field is required.", "answers": "This field is required."}),
    ],
    ids=[
        "no-token",
        "blank-token",
        "null-token",
        "no-answers",
        "answers-list",
        "answers-null",
        "comment-list",
        "both-wrong-types",
        "empty-body",
    ],
)
def test_a_malformed_body_is_400_naming_each_bad_field(client, body, errors):
    invitation = make_invitation()
    if body.get("token") == "T":
        body["token"] = invitation.token

    response = client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert stored(invitation) == (0, 0, 0, False)


def test_a_body_that_is_not_an_object_is_400(client):
    response = client.post(URL, [1, 2], format="json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": "Invalid data. Expected a dictionary, but got list."}


def test_a_form_encoded_body_is_415(client):
    invitation = make_invitation()

    response = client.post(URL, {"token": invitation.token, "answers": "t_workload=3"})

    assert response.status_code == 415
    assert stored(invitation) == (0, 0, 0, False)


def test_a_comment_is_400_when_the_survey_has_no_comment_box(client):
    invitation = make_invitation(comment_enabled=False)

    response = client.post(
        URL, {"token": invitation.token, "answers": {"t_workload": 3}, "comment": "Hi"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"comment": "this survey has no comment box"}
    assert stored(invitation) == (0, 0, 0, False)


def test_a_blank_comment_is_fine_without_comment_box(client):
    invitation = make_invitation(comment_enabled=False)

    response = client.post(
        URL, {"token": invitation.token, "answers": {"t_workload": 3}, "comment": "   "}, format="json"
    )

    assert response.status_code == 201
    assert stored(invitation) == (1, 1, 0, True)


def test_a_submission_takes_a_fixed_number_of_queries(client, django_assert_num_queries):
    # The intake hot path, benchmarked against a one-row insert. On PostgreSQL with one survey
    # open, one round trip: one statement that finds the invitation, checks it and does all the
    # writing (its own transaction). On SQLite: SELECT, then UPDATE + INSERT submission in a
    # transaction (here a savepoint inside the test's transaction).
    invitation = make_invitation()
    survey_questions(survey_id=invitation.wave.survey_id)
    the_one_open_survey()
    body = {"token": invitation.token, "answers": {"t_workload": 4, "t_growth": 2, "t_enps": 9}}

    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 5):
        response = client.post(URL, body, format="json")

    assert response.status_code == 201
    assert stored(invitation) == (1, 3, 0, True)


def test_the_schema_describes_both_survey_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    invitation = schema["paths"]["/api/v1/invitations/{token}/"]["get"]
    submit = schema["paths"]["/api/v1/responses/"]["post"]
    assert sorted(invitation["responses"]) == ["200", "404", "409", "410", "429"]
    assert sorted(submit["responses"]) == ["201", "400", "404", "409", "410", "415", "429"]
    assert invitation["security"] == [{}]
    assert submit["security"] == [{}]
    assert list(submit["requestBody"]["content"]) == ["application/json"]
    components = schema["components"]["schemas"]
    body = components["ResponseSubmit"]
    assert sorted(body["required"]) == ["answers", "token"]
    assert body["properties"]["answers"]["additionalProperties"] == {"type": "integer"}
    assert body["properties"]["answers"]["minProperties"] == 1
    assert body["properties"]["comment"]["maxLength"] == 2000
    assert sorted(components["Invitation"]["properties"]) == [
        "closes_at",
        "comment_enabled",
        "language",
        "questions",
        "survey",
    ]
    assert sorted(components["InvitationQuestion"]["properties"]) == [
        "code",
        "dimension",
        "max",
        "min",
        "reverse_scored",
        "scale",
        "text",
    ]
    assert "Retry-After" in submit["responses"]["429"]["headers"]


@pytest.mark.parametrize("token", [5, True, ["x"], {"a": 1}], ids=["int", "bool", "list", "object"])
def test_a_token_that_is_not_a_string_is_a_bad_request_not_a_failed_guess(client, token):
    invitation = make_invitation()

    response = client.post(URL, {"token": token, "answers": {"t_workload": 3}}, format="json")

    assert (response.status_code, response.json()) == (400, {"token": "Not a valid string."})
    assert stored(invitation) == (0, 0, 0, False)


def test_an_integer_of_too_many_digits_is_named_plainly(client):
    invitation = make_invitation()
    body = '{"token": "%s", "answers": {"t_workload": %s}}' % (invitation.token, "9" * 5000)  # noqa: UP031

    response = client.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - an integer of more than 20 digits"}
    assert stored(invitation) == (0, 0, 0, False)


def test_a_refusal_of_a_known_link_says_its_language(client):
    invitation = make_invitation(status=Wave.Status.CLOSED)
    invitation.employee.locale = "de"
    invitation.employee.save()

    response = client.post(URL, {"token": invitation.token, "answers": {"t_workload": 3}}, format="json")

    assert response.status_code == 410
    assert response["Content-Language"] == "de"
