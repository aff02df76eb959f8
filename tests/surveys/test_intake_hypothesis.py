"""Arbitrary input to both ways of answering never gets a 5xx, and only a 201 (API) or the
redirect to the thanks page (form) writes anything: then exactly one Submission, and the
invitation is marked answered.

Companion of test_bad_input.py, which pins the cases outside testers found; here Hypothesis
looks for the ones nobody thought of. Every example gets a fresh invitation (counts are taken
as deltas on the one wave). The failed-look-up throttle is raised out of reach rather than
reset by clearing the cache: with REDIS_URL set the cache shares its Redis with Celery's broker.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils.crypto import constant_time_compare
from hypothesis import HealthCheck, event, find, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from surveys.crypto import MAX_ANSWERS
from surveys.intake import COMMENT_MAX_LENGTH
from surveys.models import Submission, Wave
from surveys.web.survey_views import ANSWER_PREFIX, COOKIE_NAME, FORM_KEY_FIELD, form_key
from tests.factories import InvitationFactory
from tests.surveys.test_intake import make_invitation

pytestmark = pytest.mark.django_db

URL = "/api/v1/responses/"
# The survey of make_invitation(): code -> (lowest, highest) answer.
RANGES = {"t_workload": (1, 5), "t_growth": (1, 5), "t_enps": (0, 10)}
CODES = sorted(RANGES)
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any code point at all: NUL, controls, lone surrogates (which st.characters() leaves out by default).
ANY_CHARACTER = st.characters(exclude_categories=())
AWKWARD = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d\ude00", "", " ", "\u2028", "\ufeff", "\U0010ffff"])
TEXT = st.one_of(st.text(ANY_CHARACTER, max_size=20), AWKWARD, st.lists(AWKWARD, max_size=6).map("".join))
KEYS = st.one_of(TEXT, st.sampled_from(CODES), st.sampled_from(CODES).map(lambda code: code + "\x00"))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    # huge: up to 4,000 digits, within what json.dumps writes (Python refuses ints over 4,300 digits)
    st.tuples(st.sampled_from([1, -1]), st.integers(min_value=19, max_value=4000)).map(
        lambda p: p[0] * (10 ** p[1] - 1)
    ),
    st.integers(min_value=-2, max_value=12),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
ANSWERS = st.one_of(
    JSON_VALUES,
    st.dictionaries(KEYS, st.one_of(st.integers(min_value=-2, max_value=12), SCALARS), max_size=4),
    # plainly valid ones, so that 201s are common too
    st.dictionaries(st.sampled_from(CODES), st.integers(min_value=1, max_value=5), min_size=1),
)
COMMENTS = st.one_of(
    TEXT,
    JSON_VALUES,
    st.text(ANY_CHARACTER, max_size=200),
    st.text(st.sampled_from("ab \n\t\x00"), min_size=COMMENT_MAX_LENGTH - 3, max_size=COMMENT_MAX_LENGTH + 3),
)


@pytest.fixture(autouse=True)
def throttle_out_of_reach(settings):  # pytest-django's settings fixture
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = 10**9


@pytest.fixture
def wave(db) -> Wave:
    return make_invitation().wave


def submissions(wave: Wave) -> int:
    return Submission.objects.filter(wave=wave).count()


def has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(character) <= 0xDFFF for character in text)


def wire(value: Any, *, ascii_only: bool) -> bytes:
    """The value as a client would send it: escaped to ASCII (lone surrogates as \\uXXXX), or as
    raw text where a lone surrogate becomes the invalid UTF-8 bytes a careless encoder writes."""
    if ascii_only:
        return json.dumps(value, ensure_ascii=True).encode("ascii")
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def reply_is_json(response) -> bool:
    try:
        json.loads(response.content.decode("utf-8"))  # strict: UTF-8, and JSON
    except ValueError:
        return False
    return True


def api_post(body: bytes):
    return APIClient().generic("POST", URL, body, content_type="application/json")


def answers_acceptable(answers: Any) -> bool:
    """The contract (DESIGN.md, Answer): an object of 1..MAX_ANSWERS known codes, each an integer
    (not a bool) on its question's scale."""
    if not isinstance(answers, dict) or not 1 <= len(answers) <= MAX_ANSWERS:
        return False
    for code, value in answers.items():
        if code not in RANGES or isinstance(value, bool) or not isinstance(value, int):
            return False
        low, high = RANGES[code]
        if not low <= value <= high:
            return False
    return True


def comment_acceptable(comment: Any) -> bool:
    return (
        isinstance(comment, str)
        and "\x00" not in comment
        and not has_lone_surrogate(comment)
        and len(comment.strip()) <= COMMENT_MAX_LENGTH
    )


# --- the API ------------------------------------------------------------------------------------


@HYPOTHESIS
@given(body=JSON_VALUES, ascii_only=st.booleans())
def test_any_json_body_is_never_a_5xx_and_records_nothing(wave, body, ascii_only):
    # given
    before = submissions(wave)

    # when
    response = api_post(wire(body, ascii_only=ascii_only))

    # then: no token of ours, so it is refused, in JSON, and nothing is written
    event(f"status {response.status_code}")
    assert response.status_code in {400, 404}
    assert reply_is_json(response)
    assert submissions(wave) == before


@HYPOTHESIS
@given(
    answers=ANSWERS,
    comment=st.one_of(st.just(None), COMMENTS),
    comment_sent=st.booleans(),
    ascii_only=st.booleans(),
)
def test_any_answers_and_comment_with_a_real_token_record_once_exactly_when_201(
    wave, answers, comment, comment_sent, ascii_only
):
    # given: a fresh invitation of the wave, and a realistic envelope around arbitrary values
    invitation = InvitationFactory(wave=wave)
    body: dict[str, Any] = {"token": invitation.token, "answers": answers}
    if comment_sent:
        body["comment"] = comment
    raw = wire(body, ascii_only=ascii_only)
    before = submissions(wave)

    # when
    response = api_post(raw)

    # then
    event(f"status {response.status_code}")
    assert response.status_code < 500
    assert reply_is_json(response)
    invitation.refresh_from_db()
    if response.status_code == 201:
        assert response.json() == {"status": "recorded"}
        assert submissions(wave) == before + 1
        assert invitation.responded
    else:
        assert response.status_code == 400
        assert submissions(wave) == before
        assert not invitation.responded
    # and it is 201 exactly when what the bytes say, read as standard JSON, keeps the contract
    # (on the wire "\ud800\udc00" is one character, U+10000, not two lone halves)
    try:
        sent = json.loads(raw.decode("utf-8"))
    except ValueError:
        acceptable = False
    else:
        acceptable = answers_acceptable(sent["answers"]) and comment_acceptable(sent.get("comment", ""))
    assert (response.status_code == 201) == acceptable


# --- the HTML form ------------------------------------------------------------------------------

FIELD_NAMES = st.one_of(
    st.sampled_from([f"{ANSWER_PREFIX}{code}" for code in CODES] + ["comment", FORM_KEY_FIELD]),
    TEXT.map(lambda text: ANSWER_PREFIX + text),
    TEXT,
)
FIELD_VALUES = st.one_of(
    st.integers(min_value=-2, max_value=12).map(str),
    st.just(""),
    TEXT,
    st.text(ANY_CHARACTER, max_size=100),
)
BOUNDARY = "pulseboundary7b3f"


@st.composite
def form_fields(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Answers a browser would send (often all fine), mixed in any order with arbitrary fields."""
    chosen = draw(st.dictionaries(st.sampled_from(CODES), st.integers(min_value=1, max_value=5), max_size=3))
    fields = [(f"{ANSWER_PREFIX}{code}", str(value)) for code, value in chosen.items()]
    if draw(st.booleans()):
        fields.append(("comment", draw(st.one_of(TEXT, st.text(max_size=50)))))
    fields += draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=6 if not fields else 2))
    return draw(st.permutations(fields))


def form_body(fields: list[tuple[str, str]], *, multipart: bool) -> tuple[bytes, str]:
    """The fields as a (possibly careless) browser sends them: a lone surrogate becomes the invalid
    UTF-8 bytes it encodes to, which the test client, being careful, would refuse to send."""
    encoded = [
        (name.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass")) for name, value in fields
    ]
    if not multipart:
        body = "&".join(f"{quote(name)}={quote(value)}" for name, value in encoded).encode("ascii")
        return body, "application/x-www-form-urlencoded"
    separator = b"--" + BOUNDARY.encode()
    parts = [
        separator + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
        for name, value in encoded
    ]
    return b"".join(parts) + separator + b"--\r\n", f"multipart/form-data; boundary={BOUNDARY}"


def form_outcome_expected(post: Any, token: str, *, sent: list[tuple[str, str]], multipart: bool) -> int:
    """What the form must answer for the fields as Django decoded them: 403 without this link's
    form key, else 302 (recorded) for acceptable answers and comment, else 400. A comment sent
    as bytes that aren't UTF-8 (Django reads them as U+FFFD; in a multipart body any U+FFFD
    counts as such) is refused rather than stored as something other than what was typed."""
    if not constant_time_compare(post.get(FORM_KEY_FIELD, ""), form_key(token)):
        return 403
    # A browser sends the chosen radio button's value; a skipped question is absent or blank.
    answers: dict[str, Any] = {}
    for name, raw in post.items():  # the last value of each name, as the form reads it
        if name.startswith(ANSWER_PREFIX) and raw != "":
            try:
                answers[name.removeprefix(ANSWER_PREFIX)] = int(raw)
            except ValueError:
                answers[name.removeprefix(ANSWER_PREFIX)] = raw
    comment = post.get("comment", "")
    # the form reads the last value of a field sent twice
    sent_comments = [value for name, value in sent if name == "comment"]
    unreadable = (bool(sent_comments) and has_lone_surrogate(sent_comments[-1])) or (multipart and "\ufffd" in comment)
    return 302 if answers_acceptable(answers) and comment_acceptable(comment) and not unreadable else 400


@HYPOTHESIS
@given(
    fields=form_fields(),
    key=st.sampled_from(["valid", "valid", "valid-last", "none", "tampered"]),
    multipart=st.booleans(),
)
def test_any_form_fields_are_never_a_5xx_and_record_once_exactly_on_the_redirect(wave, fields, key, multipart):
    # given: a fresh invitation, its link opened (the cookie), and the form's key
    invitation = InvitationFactory(wave=wave)
    client = Client()
    client.cookies[COOKIE_NAME] = invitation.token
    good_key = form_key(invitation.token)
    if key == "valid":
        fields = [(FORM_KEY_FIELD, good_key), *fields]
    elif key == "valid-last":
        fields = [*fields, (FORM_KEY_FIELD, good_key)]
    elif key == "tampered":
        fields = [(FORM_KEY_FIELD, good_key[:-1] + "\x00"), *fields]
    body, content_type = form_body(fields, multipart=multipart)
    before = submissions(wave)

    # when
    response = client.generic("POST", "/s/", body, content_type=content_type)

    # then
    event(f"status {response.status_code}")
    assert response.status_code < 500
    invitation.refresh_from_db()
    if response.status_code == 302:
        assert response["Location"] == "/s/thanks/?lang=en"
        assert submissions(wave) == before + 1
        assert invitation.responded
    else:
        assert response.status_code in {400, 403}
        assert submissions(wave) == before
        assert not invitation.responded
    assert response.status_code == form_outcome_expected(
        response.wsgi_request.POST, invitation.token, sent=fields, multipart=multipart
    )


def test_the_strategies_reach_lone_surrogates_and_nul():
    # A guard against a Hypothesis default quietly leaving them out (st.characters() drops Cs).
    # Searched for in TEXT, what the tests draw from: a single ANY_CHARACTER is a lone surrogate
    # once in hundreds of draws at best, so a search there failed now and then (CI, 2026-12-01).
    wide = settings(max_examples=5000, database=None)
    assert has_lone_surrogate(find(TEXT, has_lone_surrogate, settings=wide))
    assert "\x00" in find(TEXT, lambda text: "\x00" in text, settings=wide)
    assert has_lone_surrogate(
        find(ANY_CHARACTER, has_lone_surrogate, settings=settings(max_examples=100_000, database=None))
    )
