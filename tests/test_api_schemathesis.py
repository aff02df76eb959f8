"""The public API against its own OpenAPI document (``/api/schema/``, DESIGN.md "Public API").

schemathesis reads the schema drf-spectacular serves, generates requests from it (valid and
schema-violating ones), sends them in-process to the Django WSGI app on the pytest-django
database, and checks every answer against the same document: no 5xx, only documented status
codes, bodies, headers and content types as documented, invalid input refused with a 4xx,
and authentication enforced wherever the schema asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import werkzeug.test
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from pulse.wsgi import application
from surveys.intake import survey_questions, survey_questions_cache_clear
from surveys.models import Employee, Response, Survey, Team, Wave
from surveys.question_bank import DEFAULT_SURVEY_SLUG, question_bank_install
from tests.factories import EmployeeFactory, InvitationFactory, TeamFactory, UserFactory, WaveFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,  # e.g. Retry-After on a 429
    negative_data_rejection,  # a schema-violating request gets a 4xx
    positive_data_acceptance,  # a schema-valid one is not refused (within the statuses below)
    missing_required_header,
    unsupported_method,  # other methods get 405
    ignored_auth,  # an operation that declares auth refuses requests without it
]

# What the schema cannot say, per operation. No check is switched off; these add to what a
# check accepts where the API is right and a JSON schema cannot express the rule. The bases
# are schemathesis' defaults for positive_data_acceptance and negative_data_rejection (5xx is
# in both because not_a_server_error is the check that fails on it).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
SECURED = [
    "v1_teams_list",
    "v1_waves_list",
    "org_import",
    "v1_teams_results_retrieve",
    "v1_teams_trends_retrieve",
    "v1_risks_list",
    "export_report_csv",
    "export_report_xlsx",
]
TOKEN_OPERATIONS = ["invitation_retrieve", "response_create"]
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                # A schema-valid body can still be refused with 400: org import validates the CSV's
                # content (columns, e-mails, time zones, a team cycle), and a response's answer keys
                # must be the survey's question codes, known only at run time.
                "include-operation-id": ["org_import", "response_create"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400", "410"]}},
            },
            {
                # A schema-valid id can name no closed wave or no team: the export answers 400 naming
                # the filter (which ids exist is known only at run time).
                "include-operation-id": ["export_report_csv", "export_report_xlsx"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            },
            {
                # A schema-valid token can belong to a closed wave: 410 is the documented answer.
                "include-operation-id": ["invitation_retrieve"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "410"]}},
            },
            {
                # The token is looked at first: a used or closed one is refused with 409 / 410
                # whatever else is wrong with the request.
                "include-operation-id": TOKEN_OPERATIONS,
                "checks": {"negative_data_rejection": {"expected-statuses": [*REFUSED, "410"]}},
            },
            {
                # DRF's limit/offset pagination ignores a malformed `limit` or `offset` (the default
                # page is served) instead of refusing it; lists have no other input to violate.
                "include-operation-id": ["v1_teams_list", "v1_waves_list", "v1_risks_list"],
                "checks": {"negative_data_rejection": {"expected-statuses": ["200", *REFUSED]}},
            },
        ]
    }
)

# Loaded at collection, the way an integrator would: the document the app serves, not a copy.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)
# Subsets by exclusion: with `operations` entries in its config, schemathesis 4.32 ORs an
# `include()` with a match-all filter, so `schema.include(...)` would still run everything.
secured_operations = schema.exclude(operation_id=TOKEN_OPERATIONS)
token_operations = schema.exclude(operation_id=SECURED)

# ~50 generated requests per operation keeps the file well under a minute. The seeded data is
# a function-scoped fixture shared by the examples of one test on purpose: they only read it,
# or use tokens up, which turns later "open" draws into 409s, a documented answer too.
FUZZ = hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Chosen by us, so that the auth providers below (classes schemathesis instantiates itself)
# can name them; they exist only inside each test's database.
HR_KEY = "schemathesis-hr".ljust(40, "0")
MANAGER_KEY = "schemathesis-manager".ljust(40, "0")


class _TokenAuth:
    """``Authorization: Token KEY`` through schemathesis' auth hook rather than as a plain header,
    so schemathesis knows the credentials are ours: it drops the session cookie it would
    generate for the other scheme, and ``ignored_auth`` probes the operation without them."""

    key = ""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return self.key

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


class HrAuth(_TokenAuth):
    key = HR_KEY


class ManagerAuth(_TokenAuth):
    key = MANAGER_KEY


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Keep the test's database connection across in-process requests, as Django's test client does.

    The WSGI handler closes "old" connections when a request starts and ends, and inside the
    test's transaction the connection looks old (autocommit off): PostgreSQL would lose it,
    and the test data with it, on the first request.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def seeded(db, settings, in_process_requests) -> dict[str, Any]:
    """A small org, HR and a manager with API tokens, and invitations in every state."""
    # Generated tokens fail by the hundred and the throttle would answer 429 from the 21st on,
    # so the run would stop exercising validation. The 429 is tested on its own below.
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = 1_000_000
    # The two API users never log in with a password: don't spend a second hashing them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    survey_questions_cache_clear()  # per process; the survey's id repeats across tests
    acme = TeamFactory(name="Acme")
    engineering = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML Platform", parent=engineering)
    sales = TeamFactory(name="Sales", parent=acme)
    _api_user(key=HR_KEY, role=Employee.Role.HR, team=acme)
    _api_user(key=MANAGER_KEY, role=Employee.Role.MANAGER, team=engineering, manages=[engineering])

    survey = Survey.objects.filter(slug=DEFAULT_SURVEY_SLUG).first()
    if survey is None:  # the data migration's rows are gone after a transactional test's flush
        question_bank_install()
        survey = Survey.objects.get(slug=DEFAULT_SURVEY_SLUG)
    now = timezone.now()
    wave = WaveFactory(survey=survey)
    closed = WaveFactory(survey=survey, status=Wave.Status.CLOSED, opens_on=now.date() - timedelta(days=30))
    past_closing = WaveFactory(
        survey=survey, opens_on=now.date() - timedelta(days=7), closes_at=now - timedelta(hours=1)
    )
    invited = [engineering, ml, sales]
    return {
        "survey": survey,
        "tokens": {
            # Several, so that the few responses a run records don't use them all up.
            "open": [InvitationFactory(wave=wave, employee__team=invited[i % 3]).token for i in range(8)],
            "answered": [InvitationFactory(wave=wave, employee__team=ml, responded=True).token],
            "closed": [InvitationFactory(wave=closed, employee__team=sales).token],
            "past_closing": [InvitationFactory(wave=past_closing, employee__team=ml).token],
        },
    }


def _api_user(*, key: str, role: str, team: Team, manages: Sequence[Team] = ()) -> None:
    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user, team=team)
    employee.manages.set(manages)
    Token.objects.create(user=user, key=key)


@schema.auth.apply(HrAuth)
@schema.parametrize()
@FUZZ
def test_every_operation_answers_hr_as_documented(case, seeded):
    case.call_and_validate(checks=CHECKS)


@schema.auth.apply(ManagerAuth)
@secured_operations.parametrize()
@FUZZ
def test_every_secured_operation_answers_a_manager_as_documented(case, seeded):
    case.call_and_validate(checks=CHECKS)


@secured_operations.parametrize()
@FUZZ
def test_without_valid_credentials_every_secured_operation_answers_a_documented_403(case, seeded):
    # No auth provider: schemathesis sends no credentials, or ones it made up (a random
    # Authorization header or session cookie). DRF authenticates before anything else.
    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == 403


@token_operations.parametrize()
@schema.given(data=st.data())
@FUZZ
def test_token_endpoints_answer_generated_and_real_tokens_as_documented(case, data, seeded):
    # given: the generated request, its token swapped for a real one in some examples; only
    # in schema-valid ones, as a swap could mend what a schema-violating example violates.
    kind = data.draw(st.sampled_from(["generated", *seeded["tokens"]]), label="token kind")
    if kind != "generated" and case.meta.generation.mode.is_positive:
        token = data.draw(st.sampled_from(seeded["tokens"][kind]), label="token")
        answers = data.draw(st.none() | _valid_answers(seeded["survey"]), label="valid answers")
        _use_token(case, token=token, answers=answers)

    # when / then
    case.call_and_validate(checks=CHECKS)


def _use_token(case: schemathesis.Case, *, token: str, answers: dict[str, int] | None) -> None:
    if case.path_parameters and "token" in case.path_parameters:
        case.path_parameters["token"] = token
    if isinstance(case.body, dict):
        case.body["token"] = token
        if answers is not None:
            case.body["answers"] = answers


def _valid_answers(survey: Survey) -> st.SearchStrategy[dict[str, int]]:
    questions = survey_questions(survey_id=survey.pk)
    return st.lists(st.sampled_from(sorted(questions)), min_size=1, unique=True).flatmap(
        lambda codes: st.fixed_dictionaries(
            {code: st.integers(questions[code].min, questions[code].max) for code in codes}
        )
    )


@pytest.mark.parametrize("path, method", [("/api/v1/invitations/{token}/", "GET"), ("/api/v1/responses/", "POST")])
def test_a_guessing_client_gets_the_documented_429(path, method, seeded, settings):
    # given: one failure allowed per (very long) window, so the window can't roll over mid-test
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = 1
    settings.PULSE_TOKEN_FAILURE_WINDOW = 10 * 365 * 24 * 3600
    operation = schema[path][method]
    guess = "A" * 43  # well-formed, unknown
    if method == "GET":
        case = operation.Case(path_parameters={"token": guess})
    else:
        case = operation.Case(body={"token": guess, "answers": {"workload_1": 3}}, media_type="application/json")

    # when
    first, throttled = case.call(), case.call()

    # then: documented, and body and Retry-After header as the schema says
    assert "429" in operation.definition.raw["responses"]
    assert (first.status_code, throttled.status_code) == (404, 429)
    assert int(throttled.headers["retry-after"][0]) > 0
    case.validate_response(throttled, checks=CHECKS)
    assert Response.objects.count() == 0


def test_a_huge_limit_is_capped_instead_of_failing_in_the_database(seeded):
    # given: a limit beyond any database integer (schemathesis found the 500 it used to cause)
    case = schema["/api/v1/teams/"]["GET"].Case(query={"limit": 10**30})

    # when / then: validated as it answers
    response = case.call_and_validate(headers={"Authorization": f"Token {HR_KEY}"}, checks=CHECKS)
    assert response.status_code == 200
    assert [team["path"] for team in response.json()["results"]] == [
        "Acme",
        "Acme/Engineering",
        "Acme/Engineering/ML Platform",
        "Acme/Sales",
    ]


@pytest.mark.parametrize(
    "path, content_type, body, status",
    [
        ("/api/v1/org/import/", "multipart/form-data", b"no boundary, no parts", 400),
        ("/api/v1/org/import/", "application/json", b"{}", 415),
        ("/api/v1/responses/", "application/json", b"{", 400),
        ("/api/v1/responses/", "text/plain", b"token=x", 415),
    ],
)
def test_a_body_drf_cannot_parse_is_refused_as_documented(path, content_type, body, status, seeded):
    # schemathesis sends only bodies it can serialise, and skips its checks on its own probes
    # with an undeclared media type: these are DRF's parser refusals, checked by hand.
    client = werkzeug.test.Client(application)

    response = client.post(path, data=body, content_type=content_type, headers={"Authorization": f"Token {HR_KEY}"})

    assert response.status_code == status
    assert list(response.json) == ["detail"]
    schema[path]["POST"].Case().validate_response(
        response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
    )


def test_the_runs_above_cover_every_operation_in_the_schema():
    def labels(subset: schemathesis.BaseSchema) -> set[str]:
        return {result.ok().label for result in subset.get_all_operations()}

    # A new operation joins the HR run, and the manager and no-credentials runs unless it is
    # another token endpoint.
    assert labels(token_operations) == {"GET /api/v1/invitations/{token}/", "POST /api/v1/responses/"}
    assert labels(secured_operations) >= {"GET /api/v1/teams/", "GET /api/v1/waves/", "POST /api/v1/org/import/"}
    assert labels(secured_operations) | labels(token_operations) == labels(schema)
    assert not labels(secured_operations) & labels(token_operations)
