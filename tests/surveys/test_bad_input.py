"""Hostile and broken input to the answer endpoints: always a 4xx naming the problem, never a 5xx,
and a refused submission changes nothing (no Submission row, the invitation still unanswered).

Outside testers found HTTP 500s for a NUL in a comment, a lone surrogate ("\\ud800") in a comment
or as an answer key, and 50,000-deep JSON; and the form lost the employee's answers on a paste
that carried a NUL. Each case is pinned here, for the API (POST /api/v1/responses/) and for the
HTML form (POST /s/).
"""

from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import quote

import pytest
from django.test import Client
from rest_framework.test import APIClient

from surveys.crypto import ballot_decrypt, seal_private_keys
from surveys.models import Invitation, Submission, Wave
from surveys.web.api_survey import SUBMISSION_MAX_BYTES
from surveys.web.survey_views import FORM_KEY_FIELD, form_key
from tests.surveys.test_intake import make_invitation
from tests.surveys.test_survey_views import COOKIE, Page

pytestmark = pytest.mark.django_db

URL = "/api/v1/responses/"
NUL_MESSAGE = "must not contain the NUL character (U+0000)"
SURROGATE_MESSAGE = "must be valid Unicode text (it contains a lone surrogate)"
FORM_NUL_MESSAGE = (
    "Your comment contained an invisible character (U+0000) that can't be saved. "
    "It has been removed: please check your comment and send the form again."
)


@pytest.fixture(autouse=True)
def throttle_out_of_reach(settings):
    # Failed look-ups from the test client's address add up over the whole run (the cache outlives
    # each test): a 404 here must not turn into a 429 because other tests failed look-ups first.
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = 10**9


@pytest.fixture
def api() -> APIClient:
    return APIClient(enforce_csrf_checks=True)


def unchanged(invitation: Invitation) -> bool:
    """Nothing was recorded for the invitation: no submission in its wave, not marked answered."""
    invitation.refresh_from_db()
    return Submission.objects.filter(wave_id=invitation.wave_id).count() == 0 and not invitation.responded


def recorded_once(invitation: Invitation) -> bool:
    invitation.refresh_from_db()
    return Submission.objects.filter(wave_id=invitation.wave_id).count() == 1 and invitation.responded


def post_raw(api: APIClient, body: bytes | str, content_type: str = "application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


def reply_json(response) -> object:
    """The reply body, decoded strictly: it must be UTF-8, and JSON."""
    return json.loads(response.content.decode("utf-8"))


def nested(depth: int, *, kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


# --- the API: the comment -----------------------------------------------------------------------


@pytest.mark.parametrize("comment", ["Good\x00 week", "\x00", "   \x00   "], ids=["inside", "alone", "in-blanks"])
def test_api_a_nul_in_the_comment_is_400_naming_the_comment(api, comment):
    # given
    invitation = make_invitation()

    # when
    response = api.post(
        URL, {"token": invitation.token, "answers": {"t_workload": 3}, "comment": comment}, format="json"
    )

    # then
    assert response.status_code == 400
    assert reply_json(response) == {"comment": NUL_MESSAGE}
    assert unchanged(invitation)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udc00b", "\\udbff\\udbff"])
def test_api_a_lone_surrogate_in_the_comment_is_400_naming_the_comment(api, escape):
    # JSON's \\uXXXX escapes can spell a surrogate that no UTF-8 text can hold.
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": 3}}, "comment": "{escape}"}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {"comment": SURROGATE_MESSAGE}
    assert unchanged(invitation)


def test_api_a_lone_surrogate_as_an_answer_key_is_400_and_the_reply_is_utf8_json(api):
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": 3, "x\\ud800": 3}}}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    # The key is named as sent, with the surrogate written out as an escape.
    assert reply_json(response) == {"answers": {"x\\ud800": "unknown question"}}
    assert unchanged(invitation)


def test_api_a_nul_as_an_answer_key_is_400_naming_it(api):
    invitation = make_invitation()

    response = api.post(URL, {"token": invitation.token, "answers": {"t_\x00workload": 3}}, format="json")

    assert response.status_code == 400
    assert reply_json(response) == {"answers": {"t_\x00workload": "unknown question"}}
    assert unchanged(invitation)


def test_api_a_surrogate_in_the_comment_and_a_bad_answer_are_both_named(api):
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": 9, "\\udfff": 1}}, "comment": "\\ud800"}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {
        "answers": {"t_workload": "must be an integer from 1 to 5", "\\udfff": "unknown question"},
        "comment": SURROGATE_MESSAGE,
    }
    assert unchanged(invitation)


def test_api_a_proper_surrogate_pair_is_ordinary_text(api):
    # "\ud83d\ude00" is one emoji, not two lone halves: it is accepted.
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": 3}}, "comment": "ok \\ud83d\\ude00"}}'

    response = post_raw(api, body)

    assert response.status_code == 201
    assert recorded_once(invitation)
    (key, box) = Submission.objects.values_list("key", "box").get(wave_id=invitation.wave_id)
    assert ballot_decrypt(key=key, box=box, boxes=seal_private_keys()).comment == "ok \U0001f600"


# --- the API: the body as a whole ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["array", "object"])
def test_api_a_50000_deep_body_is_400(api, kind):
    invitation = make_invitation()

    response = post_raw(api, nested(50_000, kind=kind))

    assert response.status_code == 400
    assert set(reply_json(response)) == {"detail"}
    assert unchanged(invitation)


@pytest.mark.parametrize("kind", ["array", "object"])
def test_api_50000_deep_answers_are_400(api, kind):
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {nested(50_000, kind=kind)}}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert set(reply_json(response)) == {"detail"}
    assert unchanged(invitation)


@pytest.mark.parametrize("where", ["body", "answers", "answer-value", "comment"])
def test_api_nesting_too_deep_to_decode_but_within_the_size_limit_is_400(api, where):
    # 20,000 levels take 40 KB: under the size limit, so it is the depth that is refused.
    invitation = make_invitation()
    deep = nested(20_000)
    assert len(deep) < SUBMISSION_MAX_BYTES
    body = {
        "body": deep,
        "answers": f'{{"token": "{invitation.token}", "answers": {deep}}}',
        "answer-value": f'{{"token": "{invitation.token}", "answers": {{"t_workload": {deep}}}}}',
        "comment": f'{{"token": "{invitation.token}", "answers": {{"t_workload": 3}}, "comment": {deep}}}',
    }[where]

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {"detail": "JSON parse error - nested too deeply."}
    assert unchanged(invitation)


@pytest.mark.parametrize("depth", [2, 50, 500])
def test_api_moderately_nested_answers_are_named_as_bad_fields(api, depth):
    # Shallow enough to decode: the service names the fields, and echoes none of the nesting.
    invitation = make_invitation()
    deep = nested(depth)
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": {deep}}}, "comment": {deep}}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {
        "answers": {"t_workload": "must be an integer from 1 to 5"},
        "comment": "must be text",
    }
    assert unchanged(invitation)


def test_api_a_body_larger_than_the_limit_is_400(api):
    invitation = make_invitation()
    body = json.dumps({"token": invitation.token, "answers": {"t_workload": 3}, "comment": "x" * SUBMISSION_MAX_BYTES})

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {"detail": f"The body is larger than {SUBMISSION_MAX_BYTES} bytes."}
    assert unchanged(invitation)


def test_api_a_body_past_djangos_own_ceiling_gets_the_same_json_answer_and_logs_no_error(api, caplog, settings):
    # given a body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default): the outside tester's
    # 5 MB body got Django's HTML error page and an ERROR traceback in the log for each request
    invitation = make_invitation()
    body = json.dumps({"token": invitation.token, "answers": {"t_workload": 3}, "comment": "x" * 5_000_000})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    with caplog.at_level(logging.WARNING):
        response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {"detail": f"The body is larger than {SUBMISSION_MAX_BYTES} bytes."}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert unchanged(invitation)


def test_api_a_body_of_exactly_the_limit_is_read_whole_and_one_byte_more_is_not(api):
    # given: a valid submission padded with whitespace (which JSON allows) to the limit
    invitation = make_invitation()
    valid = json.dumps({"token": invitation.token, "answers": {"t_workload": 3}})
    at_limit = valid + " " * (SUBMISSION_MAX_BYTES - len(valid))

    # when
    over = post_raw(api, at_limit + " ")
    exact = post_raw(api, at_limit)

    # then
    assert over.status_code == 400
    assert reply_json(over) == {"detail": f"The body is larger than {SUBMISSION_MAX_BYTES} bytes."}
    assert exact.status_code == 201
    assert recorded_once(invitation)


@pytest.mark.parametrize(
    "body",
    [
        b'{"token": "\xff", "answers": {"t_workload": 3}}',
        b'{"token": "T", "answers": {"t_workload": 3}, "comment": "\xc3("}',
        b'{"token": "T", "answers": {"t_workload": 3}, "comment": "\xed\xa0\x80"}',  # a surrogate, UTF-8-encoded
        b'{"token": "T", "answers": {"t_workload": 3}, "comment": "\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        b'{"token": "T", "answers": {"t\xe9": 3}}',  # Latin-1
        b"\xef\xbb\xbf{}",  # a byte order mark
        '{"token": "T", "answers": {"t_workload": 3}}'.encode("utf-16"),
    ],
    ids=["ff", "truncated", "encoded-surrogate", "too-high", "latin1", "bom", "utf16"],
)
def test_api_a_body_that_is_not_utf8_json_is_400(api, body):
    invitation = make_invitation()
    body = body.replace(b'"T"', f'"{invitation.token}"'.encode())

    response = post_raw(api, body)

    assert response.status_code == 400
    assert set(reply_json(response)) == {"detail"}
    assert reply_json(response)["detail"].startswith("JSON parse error - ")
    assert unchanged(invitation)


def test_api_an_integer_of_thousands_of_digits_is_400(api):
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": {"9" * 5000}}}}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert set(reply_json(response)) == {"detail"}
    assert unchanged(invitation)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "3.0", "3e0"])
def test_api_non_integer_numbers_are_named_as_bad_answers(api, value):
    invitation = make_invitation()
    body = f'{{"token": "{invitation.token}", "answers": {{"t_workload": {value}}}}}'

    response = post_raw(api, body)

    assert response.status_code == 400
    assert reply_json(response) == {"answers": {"t_workload": "must be an integer from 1 to 5"}}
    assert unchanged(invitation)


# --- the API: the token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "\\u0000",
        "\\u0000" * 43,
        "TOKEN\\u0000",
        "\\u0000TOKEN",
        "\\ud800",
        "TOKEN\\ud800",
        "\\udfff" * 43,
        "TOKEN\\n",
        "TOKEN ",
    ],
    ids=[
        "nul",
        "43-nuls",
        "nul-after",
        "nul-before",
        "surrogate",
        "surrogate-after",
        "43-surrogates",
        "newline",
        "space",
    ],
)
def test_api_a_token_with_nul_or_lone_surrogates_is_refused_without_a_5xx(api, token):
    invitation = make_invitation()
    sent = token.replace("TOKEN", invitation.token)
    body = f'{{"token": "{sent}", "answers": {{"t_workload": 3}}}}'

    response = post_raw(api, body)

    assert response.status_code in {400, 404}
    reply = reply_json(response)
    assert set(reply) == ({"token"} if response.status_code == 400 else {"code", "detail"})
    assert unchanged(invitation)


# --- the form: a NUL in the comment -------------------------------------------------------------


def open_link(client: Client, invitation: Invitation):
    return client.get(f"/s/{invitation.token}/")


def submit(client: Client, data: dict, **extra):
    return client.post("/s/", {FORM_KEY_FIELD: form_key(client.cookies[COOKIE].value), **data}, **extra)


def test_form_a_nul_in_the_comment_keeps_the_answers_and_the_comment_without_it_then_a_resend_works():
    # given: the employee chose two answers and pasted a comment carrying a NUL
    client = Client(enforce_csrf_checks=True)
    invitation = make_invitation()
    open_link(client, invitation)

    # when
    response = submit(client, {"answer-t_workload": "2", "answer-t_enps": "9", "comment": "Good\x00 week"})

    # then: the form again, with the choices kept, the comment cleaned and a message by it
    assert response.status_code == 400
    page = Page(response.content.decode())
    assert page.text("#comment-error") == [FORM_NUL_MESSAGE]
    assert FORM_NUL_MESSAGE in page.text("li")  # the error summary links to the box
    assert page.all("a", href="#comment")
    assert page.all("textarea", name="comment")[0]["aria-describedby"] == "comment-note comment-error"
    assert [r["id"] for r in page.all("input", type="radio") if "checked" in r] == ["t_workload-2", "t_enps-9"]
    assert page.text("textarea") == ["Good week"]
    assert unchanged(invitation)

    # when: sent again as shown
    key = page.all("input", name=FORM_KEY_FIELD)[0]["value"]
    again = client.post(
        "/s/",
        {FORM_KEY_FIELD: key, "answer-t_workload": "2", "answer-t_enps": "9", "comment": page.text("textarea")[0]},
    )

    # then
    assert again.status_code == 302
    assert again["Location"] == "/s/thanks/?lang=en"
    assert recorded_once(invitation)
    (key_id, box) = Submission.objects.values_list("key", "box").get(wave_id=invitation.wave_id)
    assert ballot_decrypt(key=key_id, box=box, boxes=seal_private_keys()).comment == "Good week"


def test_form_a_nul_in_the_comment_next_to_a_bad_answer_names_both(client):
    invitation = make_invitation()
    open_link(client, invitation)

    response = submit(client, {"answer-t_workload": "7", "answer-t_growth": "4", "comment": "\x00x"})

    assert response.status_code == 400
    page = Page(response.content.decode())
    assert page.text("#t_workload-error") == ["must be an integer from 1 to 5"]
    assert page.text("#comment-error") == [FORM_NUL_MESSAGE]
    assert [r["id"] for r in page.all("input", type="radio") if "checked" in r] == ["t_growth-4"]
    assert page.text("textarea") == ["x"]
    assert unchanged(invitation)


# --- the form: NUL and broken text in every field, url-encoded and multipart ----------------------


def urlencoded(fields: list[tuple[bytes, bytes]]) -> bytes:
    return "&".join(f"{quote(name)}={quote(value)}" for name, value in fields).encode("ascii")


BOUNDARY = "pulseboundary7b3f"


def multipart(fields: list[tuple[bytes, bytes]]) -> bytes:
    parts = [
        b"--"
        + BOUNDARY.encode()
        + b'\r\nContent-Disposition: form-data; name="'
        + name
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


def post_form(client: Client, fields: list[tuple[bytes, bytes]], encoding: str):
    if encoding == "urlencoded":
        return client.generic("POST", "/s/", urlencoded(fields), content_type="application/x-www-form-urlencoded")
    return client.generic("POST", "/s/", multipart(fields), content_type=f"multipart/form-data; boundary={BOUNDARY}")


def b(text: str) -> bytes:
    # surrogatepass: a lone surrogate as the (invalid) three bytes a careless encoder sends
    return text.encode("utf-8", "surrogatepass")


BROKEN = {
    "nul": b"\x00",
    "surrogate": b("\ud800"),
    "ff": b"\xff",
    "latin1": b"caf\xe9",
    "nul-digit": b"3\x00",
}


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("field", ["answer-value", "answer-key", "comment", "form-key", "field-name"])
def test_form_broken_text_in_any_field_is_never_a_5xx_and_writes_nothing(client, encoding, broken, field):
    # given
    invitation = make_invitation()
    open_link(client, invitation)
    bad = BROKEN[broken]
    fields = {
        FORM_KEY_FIELD.encode(): form_key(invitation.token).encode(),
        b"answer-t_workload": b"3",
        b"comment": b"fine",
    }
    if field == "answer-value":
        fields[b"answer-t_growth"] = bad
    elif field == "answer-key":
        fields[b"answer-t_" + bad] = b"4"
    elif field == "comment":
        fields[b"comment"] = b"Good " + bad + b" week"
    elif field == "form-key":
        fields[FORM_KEY_FIELD.encode()] = fields[FORM_KEY_FIELD.encode()][:10] + bad
    else:
        fields[bad] = b"x"

    # when
    response = post_form(client, list(fields.items()), encoding)

    # then: refused (and nothing written), or taken as Django decoded it; never a 5xx
    expected = _expected_form_outcome(field=field, broken=broken, encoding=encoding)
    assert response.status_code == expected
    if expected == 302:
        assert recorded_once(invitation)
        (key_id, box) = Submission.objects.values_list("key", "box").get(wave_id=invitation.wave_id)
        ballot = ballot_decrypt(key=key_id, box=box, boxes=seal_private_keys())
        assert [value for _question, value in ballot.answers] == [3]  # t_workload alone
    else:
        assert unchanged(invitation)


def _expected_form_outcome(*, field: str, broken: str, encoding: str) -> int:
    if field == "form-key":
        return 403
    if field == "field-name":
        return 302  # a field the form doesn't have is ignored
    if field == "comment":
        # A NUL can't be stored, and bytes that aren't UTF-8 would be stored as U+FFFD, not as
        # typed: the form again (400), answers kept, the problem named.
        return 400
    if field == "answer-key" and encoding == "multipart" and broken not in {"nul", "nul-digit"}:
        # Django drops a part whose Content-Disposition isn't UTF-8 (its header line fails to
        # decode and is skipped), so that answer never arrives: the rest is a valid form.
        return 302
    return 400  # an unknown question, or a value that is no integer


FORM_UNREADABLE_MESSAGE = (
    "Your comment contained characters that could not be read (they are shown as \ufffd). "
    "Please check your comment and send the form again."
)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize("broken", ["surrogate", "ff", "latin1"])
def test_form_bytes_that_are_not_utf8_in_the_comment_give_the_form_back_with_the_answers(client, encoding, broken):
    # given: the outside tester's case, a UTF-8-encoded lone surrogate (or 0xFF) in the comment
    invitation = make_invitation()
    open_link(client, invitation)
    fields = [
        (FORM_KEY_FIELD.encode(), form_key(invitation.token).encode()),
        (b"answer-t_growth", b"5"),
        (b"comment", b"Good " + BROKEN[broken] + b" week"),
    ]

    response = post_form(client, fields, encoding)

    # then: nothing stored, the link still unused, the form again with the problem named
    assert response.status_code == 400
    page = Page(response.content.decode())
    assert page.text("#comment-error") == [FORM_UNREADABLE_MESSAGE]
    assert page.text("textarea")[0].startswith("Good ") and "\ufffd" in page.text("textarea")[0]
    assert [r["id"] for r in page.all("input", type="radio") if "checked" in r] == ["t_growth-5"]
    assert unchanged(invitation)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_form_a_nul_in_the_comment_is_handled_alike_in_both_encodings(client, encoding):
    invitation = make_invitation()
    open_link(client, invitation)
    fields = [
        (FORM_KEY_FIELD.encode(), form_key(invitation.token).encode()),
        (b"answer-t_growth", b"5"),
        (b"comment", b"\x00pasted\x00 text\x00"),
    ]

    response = post_form(client, fields, encoding)

    assert response.status_code == 400
    page = Page(response.content.decode())
    assert page.text("#comment-error") == [FORM_NUL_MESSAGE]
    assert page.text("textarea") == ["pasted text"]
    assert [r["id"] for r in page.all("input", type="radio") if "checked" in r] == ["t_growth-5"]
    assert unchanged(invitation)


# --- the link: the cookie only for a token that exists -----------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/s/{secrets.token_urlsafe(32)}/",  # well-formed, nobody's
        "/s/not-a-token/",
        "/s/%00/",
        "/s/" + "%00" * 43 + "/",
        "/s/%ED%A0%80/",  # a UTF-8-encoded surrogate
        "/s/%FF%FE/",
        f"/s/{secrets.token_urlsafe(32)}%0A/",  # a trailing newline, which the token pattern's $ lets through
    ],
    ids=["unknown", "malformed", "nul", "43-nuls", "surrogate", "bad-utf8", "newline"],
)
def test_an_unknown_link_is_404_and_leaves_the_survey_cookie_alone(client, path):
    # given: the browser holds the cookie of another, working link
    invitation = make_invitation()
    open_link(client, invitation)

    # when
    response = client.get(path)

    # then: no Set-Cookie for it, and the other survey still opens
    assert response.status_code == 404
    assert COOKIE not in response.cookies
    assert client.cookies[COOKIE].value == invitation.token
    assert client.get("/s/").status_code == 200
    assert unchanged(invitation)


@pytest.mark.parametrize("state", ["used", "closed"])
def test_a_link_that_cannot_be_answered_leaves_the_survey_cookie_alone(client, state):
    invitation, other = make_invitation(), make_invitation()
    if state == "used":
        Invitation.objects.filter(pk=other.pk).update(responded=True)
    else:
        Wave.objects.filter(pk=other.wave_id).update(status=Wave.Status.CLOSED)
    open_link(client, invitation)

    response = open_link(client, other)

    assert response.status_code == (409 if state == "used" else 410)
    assert COOKIE not in response.cookies
    assert client.get("/s/").status_code == 200
    assert unchanged(invitation)


def test_a_known_link_sets_the_cookie(client):
    invitation = make_invitation()

    response = open_link(client, invitation)

    assert response.status_code == 302
    assert response.cookies[COOKIE].value == invitation.token


@pytest.mark.parametrize("value", ["\x00", "\x00" * 43, "caf\xe9", "x" * 5000, '"quoted"', "a;b=c"])
def test_a_survey_cookie_holding_junk_is_the_unknown_page_and_is_forgotten(client, value):
    client.cookies[COOKIE] = value
    invitation = make_invitation()

    shown = client.get("/s/")
    client.cookies[COOKIE] = value
    posted = client.post("/s/", {FORM_KEY_FIELD: form_key(value), "answer-t_workload": "3"})

    for response in (shown, posted):
        assert response.status_code == 404
        assert Page(response.content.decode()).text("h1") == ["We don't recognise this link"]
        assert response.cookies[COOKIE]["max-age"] == 0
    assert unchanged(invitation)


@pytest.mark.parametrize("path", ["%00", "%00" * 43, "%ED%A0%80", "%FF", "a" * 43 + "%0A"])
def test_reading_an_invitation_by_a_broken_token_is_404(api, path):
    response = api.get(f"/api/v1/invitations/{path}/")

    assert response.status_code == 404
    assert reply_json(response) == {"code": "unknown", "detail": "This survey link is not known."}


@pytest.mark.parametrize("lang", ["%00", "%ED%A0%80", "%FF", "de%00", "x" * 3000])
def test_the_thank_you_page_takes_any_lang_without_a_5xx(client, lang):
    response = client.get(f"/s/thanks/?lang={lang}", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response["Content-Language"] == "en"


def test_form_a_comment_sent_twice_counts_by_its_last_value(client):
    # given an unreadable comment followed by a good one (hypothesis found it): the form reads
    # the last value, so the unreadable one is not what would be stored
    invitation = make_invitation()
    open_link(client, invitation)
    fields = [
        (FORM_KEY_FIELD.encode(), form_key(invitation.token).encode()),
        (b"answer-t_growth", b"5"),
        (b"comment", b"Good " + BROKEN["surrogate"]),
        (b"comment", b"fine"),
    ]

    response = post_form(client, fields, "urlencoded")

    assert response.status_code == 302
    assert recorded_once(invitation)
