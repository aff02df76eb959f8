"""The answer form: /s/<token>/ → /s/ → /s/thanks/, and the pages for links that don't work."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import translation

from surveys.models import Invitation, SurveyQuestion, Wave
from surveys.web.survey_views import ANSWERED_COOKIE_NAME, FORM_KEY_FIELD, form_key
from tests.factories import (
    EmployeeFactory,
    InvitationFactory,
    QuestionFactory,
    TeamFactory,
    UserFactory,
    WaveFactory,
)
from tests.sealed import submissions_opened
from tests.surveys.test_intake import make_invitation, make_survey, stored

pytestmark = pytest.mark.django_db

COOKIE = "pulse_survey"
ANSWERED_COOKIE = ANSWERED_COOKIE_NAME


class Page(HTMLParser):
    """The parts of a page the tests look at: start tags with attributes, and element texts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"input", "meta", "link", "br"}:
            self._open.append((tag, dict(attrs), []))

    def handle_data(self, data: str) -> None:
        for _tag, _attrs, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            opened, attrs, parts = self._open.pop()
            text = " ".join("".join(parts).split())
            self.texts.setdefault(opened, []).append(text)
            if attrs.get("id"):
                self.texts.setdefault(f"#{attrs['id']}", []).append(text)
            if opened == tag:
                break

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def text(self, tag: str) -> list[str]:
        return self.texts.get(tag, [])


def open_link(client: Client, invitation: Invitation):
    return client.get(f"/s/{invitation.token}/")


def assert_survey_headers(response) -> None:
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def submit(client: Client, data: dict, **extra):
    """POST the form as the browser does: with the form key the form page carries."""
    key = form_key(client.cookies[COOKIE].value)
    return client.post("/s/", {FORM_KEY_FIELD: key, **data}, **extra)


def test_the_link_moves_the_token_into_a_cookie_and_redirects_to_the_clean_url(client, django_assert_num_queries):
    invitation = make_invitation()

    # one query: only a link that can still be answered gets the cookie
    with django_assert_num_queries(1):
        response = open_link(client, invitation)

    assert response.status_code == 302
    assert response["Location"] == "/s/"
    cookie = response.cookies[COOKIE]
    assert cookie.value == invitation.token
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/s/"
    assert cookie["max-age"] == 7200
    assert cookie["secure"] == ""  # plain HTTP in tests (PULSE_HTTPS off)
    assert_survey_headers(response)
    assert stored(invitation) == (0, 0, 0, False)


def test_the_cookie_is_secure_when_pulse_runs_on_https(client, settings):
    settings.PULSE_HTTPS = True
    invitation = make_invitation()

    response = open_link(client, invitation)

    assert response.cookies[COOKIE]["secure"] is True


def test_the_form_has_a_fieldset_and_legend_per_question_and_a_label_per_scale_point(client):
    # given
    invitation = make_invitation(min_respondents=7, min_comment_respondents=12)
    open_link(client, invitation)

    # when
    response = client.get("/s/")

    # then
    assert response.status_code == 200
    assert_survey_headers(response)
    page = Page(response.content.decode())
    assert page.all("html")[0]["lang"] == "en"
    # each legend says where in the form it is, which screen readers read out with the group
    assert page.text("legend") == [
        "Question 1 of 3 Text of t_workload",
        "Question 2 of 3 Text of t_growth",
        "Question 3 of 3 Text of t_enps",
    ]
    assert len(page.all("fieldset")) == 3
    radios = page.all("input", type="radio")
    assert [(r["name"], r["value"]) for r in radios] == (
        [("answer-t_workload", str(v)) for v in range(1, 6)]
        + [("answer-t_growth", str(v)) for v in range(1, 6)]
        + [("answer-t_enps", str(v)) for v in range(0, 11)]
    )
    labels = {label["for"] for label in page.all("label")}
    assert {radio["id"] for radio in radios} <= labels
    assert len({radio["id"] for radio in radios}) == 21
    label_texts = page.text("label")
    assert label_texts[:5] == ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
    assert label_texts[10:21] == [str(v) for v in range(11)]
    # the ends of the 0..10 scale describe its first and last point
    assert page.all("input", id="t_enps-0")[0]["aria-describedby"] == "t_enps-low"
    assert page.all("input", id="t_enps-10")[0]["aria-describedby"] == "t_enps-high"
    assert page.text("#t_enps-low") == ["0 = Not at all likely"]
    assert page.text("#t_enps-high") == ["10 = Extremely likely"]
    # anonymity statement with this wave's thresholds, and the comment box with its note
    html = " ".join(response.content.decode().split())
    assert "Your answers are stored without your name or this link" in html
    assert "groups of at least 7 people" in html
    assert page.all("textarea", name="comment")[0]["aria-describedby"] == "comment-note"
    assert page.text("#comment-note") == [
        "Comments are shown only for groups of at least 12 people, without any scores and in random order. "
        "Please leave out anything that could identify you."
    ]
    assert page.all("form", method="post", action="/s/")
    assert page.all("input", type="hidden", name=FORM_KEY_FIELD, value=form_key(invitation.token))
    assert stored(invitation) == (0, 0, 0, False)


def test_every_survey_page_sends_no_referer_the_form_included(client):
    invitation = make_invitation()
    link = open_link(client, invitation)

    form = client.get("/s/")

    assert link["Referrer-Policy"] == "no-referrer"  # the URL with the token
    assert form["Referrer-Policy"] == "no-referrer"
    assert form.request["PATH_INFO"] == "/s/"


def test_the_form_shows_no_comment_box_when_the_survey_has_none(client):
    invitation = make_invitation(comment_enabled=False)
    open_link(client, invitation)

    page = Page(client.get("/s/").content.decode())

    assert page.all("textarea") == []


def test_the_survey_pages_hide_the_staff_navigation(client):
    client.force_login(UserFactory(is_staff=True))
    invitation = make_invitation()
    open_link(client, invitation)

    page = Page(client.get("/s/").content.decode())

    assert page.all("nav") == []
    assert page.all("a", href="/admin/") == []


def german(text: str) -> str:
    with translation.override("de"):
        return translation.gettext(text)


def test_the_form_is_in_the_employees_language_and_time_zone(client):
    # given: a German-speaking employee in Berlin, a browser that asks for English
    survey = make_survey()
    SurveyQuestion.objects.create(survey=survey, question=QuestionFactory(code="t_yes", text="Yes"), position=9)
    wave = WaveFactory(survey=survey, closes_at=datetime(2030, 6, 5, 8, 0, tzinfo=UTC))
    invitation = InvitationFactory(wave=wave, employee=EmployeeFactory(locale="de", timezone="Europe/Berlin"))
    open_link(client, invitation)

    # when
    response = client.get("/s/", HTTP_ACCEPT_LANGUAGE="en")

    # then: <html lang>, Pulse's own strings from its German catalogue (compared with the
    # catalogue, not with one translator's wording), the closing time in Berlin time with
    # Django's German month name, and a question text through gettext ("Yes" → "Ja").
    assert response.status_code == 200
    assert response["Content-Language"] == "de"
    page = Page(response.content.decode())
    assert page.all("html")[0]["lang"] == "de"
    for english in ("How are things at work?", "Your answers are anonymous", "Strongly agree", "Send my answers"):
        assert german(english) != english, f"no German for {english!r} in locale/de"
    assert page.text("h1") == [german("How are things at work?")]
    assert page.text("#anonymity-title") == [german("Your answers are anonymous")]
    assert page.text("label")[4] == german("Strongly agree")
    assert page.text("button") == [german("Send my answers")]
    assert "Mittwoch, 5. Juni 2030, 10:00 CEST (Europe/Berlin)" in " ".join(response.content.decode().split())
    assert page.text("legend")[-1] == "Frage 4 von 4 Ja"


def test_errors_are_in_the_employees_language(client):
    invitation = InvitationFactory(
        wave=WaveFactory(survey=make_survey()), employee=EmployeeFactory(locale="de", timezone="Europe/Berlin")
    )
    open_link(client, invitation)

    response = submit(client, {"answer-t_workload": "9"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    expected = german("must be an integer from {low} to {high}").format(low=1, high=5)
    assert expected != "must be an integer from 1 to 5"
    assert Page(response.content.decode()).text("#t_workload-error") == [expected]
    assert stored(invitation) == (0, 0, 0, False)


def test_submitting_needs_the_form_key_of_this_link():
    # The survey form's CSRF token (Django's needs a Referer/Origin that no-referrer withholds).
    client = Client(enforce_csrf_checks=True)
    invitation, other = make_invitation(), make_invitation()
    open_link(client, invitation)

    missing = client.post("/s/", {"answer-t_workload": "3"})
    foreign = client.post("/s/", {FORM_KEY_FIELD: form_key(other.token), "answer-t_workload": "3"})

    for response in (missing, foreign):
        assert response.status_code == 403
        assert_survey_headers(response)
        assert Page(response.content.decode()).text("h1") == ["Please send the form again"]
    assert stored(invitation) == (0, 0, 0, False)
    assert stored(other) == (0, 0, 0, False)


def test_submitting_the_form_records_the_answers_and_says_thank_you():
    # given
    client = Client(enforce_csrf_checks=True)
    invitation = make_invitation()
    open_link(client, invitation)
    form = Page(client.get("/s/").content.decode())
    key = form.all("input", name=FORM_KEY_FIELD)[0]["value"]

    # when: the second question skipped
    response = client.post(
        "/s/",
        {FORM_KEY_FIELD: key, "answer-t_workload": "2", "answer-t_enps": "9", "comment": " Good week "},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == "/s/thanks/?lang=en"
    assert response.cookies[COOKIE].value == ""
    assert response.cookies[COOKIE]["max-age"] == 0
    assert response.cookies[COOKIE]["path"] == "/s/"
    assert_survey_headers(response)
    assert stored(invitation) == (1, 2, 1, True)
    (opened,) = submissions_opened()
    assert (opened.answers, opened.comment) == ([("t_enps", 9), ("t_workload", 2)], "Good week")

    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert_survey_headers(thanks)
    assert Page(thanks.content.decode()).text("h1") == ["Thank you"]


def test_the_thank_you_page_speaks_the_language_passed_along():
    client = Client()

    german_page = Page(client.get("/s/thanks/?lang=de").content.decode())
    unknown = Page(client.get("/s/thanks/?lang=xx", HTTP_ACCEPT_LANGUAGE="en").content.decode())

    assert german_page.all("html")[0]["lang"] == "de"
    assert german_page.text("h1") == [german("Thank you")]
    assert unknown.all("html")[0]["lang"] == "en"
    assert unknown.text("h1") == ["Thank you"]


def test_submitting_nothing_asks_for_at_least_one_answer_and_keeps_the_comment(client):
    invitation = make_invitation()
    open_link(client, invitation)

    response = submit(client, {"comment": "Just this"})

    assert response.status_code == 400
    assert_survey_headers(response)
    page = Page(response.content.decode())
    assert page.text("#error-summary-title") == ["Please check your answers"]
    assert page.all("div", role="alert")
    assert "answer at least one question" in page.text("li")
    assert page.text("textarea") == ["Just this"]
    assert stored(invitation) == (0, 0, 0, False)


def test_a_bad_value_is_shown_next_to_its_question_and_the_other_choices_are_kept(client):
    # given: a tampered form posts 7 for a 1..5 question
    invitation = make_invitation()
    open_link(client, invitation)

    # when
    response = submit(client, {"answer-t_workload": "7", "answer-t_growth": "4", "answer-t_enps": "abc"})

    # then
    assert response.status_code == 400
    page = Page(response.content.decode())
    fieldsets = page.all("fieldset")
    assert [f.get("aria-describedby") for f in fieldsets] == ["t_workload-error", None, "t_enps-error"]
    assert page.text("#t_workload-error") == ["must be an integer from 1 to 5"]
    assert page.text("#t_enps-error") == ["must be an integer from 0 to 10"]
    assert [r["id"] for r in page.all("input", type="radio") if "checked" in r] == ["t_growth-4"]
    assert stored(invitation) == (0, 0, 0, False)


def test_an_answered_link_shows_the_used_page(client):
    # given the link was opened, then answered (in another tab, say)
    invitation = make_invitation()
    open_link(client, invitation)
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    response = client.get("/s/")

    assert response.status_code == 409
    assert_survey_headers(response)
    assert Page(response.content.decode()).text("h1") == ["You have already answered"]
    assert response.cookies[COOKIE]["max-age"] == 0


def test_opening_an_answered_link_says_so_at_once_and_leaves_the_cookie_alone(client):
    # given the browser holds the cookie of another, open survey
    other = make_invitation()
    open_link(client, other)
    invitation = make_invitation()
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    response = open_link(client, invitation)

    assert response.status_code == 409
    assert_survey_headers(response)
    assert Page(response.content.decode()).text("h1") == ["You have already answered"]
    assert COOKIE not in response.cookies
    assert client.cookies[COOKIE].value == other.token


def test_posting_again_after_answering_in_another_tab_changes_nothing(client):
    invitation = make_invitation()
    open_link(client, invitation)
    other_tab = Client()
    open_link(other_tab, invitation)
    assert submit(other_tab, {"answer-t_workload": "1"}).status_code == 302

    response = submit(client, {"answer-t_workload": "5"})

    assert response.status_code == 409
    assert stored(invitation) == (1, 1, 0, True)
    assert submissions_opened()[0].answers == [("t_workload", 1)]


def test_a_closed_wave_shows_the_closed_page(client):
    invitation = make_invitation()
    open_link(client, invitation)
    Wave.objects.filter(pk=invitation.wave_id).update(status=Wave.Status.CLOSED)

    response = client.get("/s/")

    assert response.status_code == 410
    assert Page(response.content.decode()).text("h1") == ["This survey has closed"]


@pytest.mark.parametrize("answered", [True, False], ids=["used", "unused"])
def test_a_link_of_a_closed_wave_says_closed_in_the_employees_language_used_or_not(client, answered):
    # given a German employee's link, answered or not, of a wave that has closed
    invitation = make_invitation(status=Wave.Status.CLOSED)
    Invitation.objects.filter(pk=invitation.pk).update(responded=answered)
    invitation.employee.locale = "de"
    invitation.employee.save()

    # when it is opened from an English browser
    response = client.get(f"/s/{invitation.token}/", HTTP_ACCEPT_LANGUAGE="en")

    # then the same page either way, in German, and no cookie
    assert response.status_code == 410
    assert response["Content-Language"] == "de"
    assert Page(response.content.decode()).text("h1") == [german("This survey has closed")]
    assert COOKIE not in response.cookies


def test_posting_to_a_closed_wave_writes_nothing(client):
    invitation = make_invitation()
    open_link(client, invitation)
    Wave.objects.filter(pk=invitation.wave_id).update(status=Wave.Status.CLOSED)

    response = submit(client, {"answer-t_workload": "5"})

    assert response.status_code == 410
    assert stored(invitation) == (0, 0, 0, False)


def test_an_unknown_link_shows_the_unknown_page_and_sets_no_cookie(client):
    # given the browser holds the cookie of a real survey
    invitation = make_invitation()
    open_link(client, invitation)

    # when a well-formed link nobody was given is opened
    response = client.get(f"/s/{secrets.token_urlsafe(32)}/")

    # then it is unknown, and the real survey's cookie is untouched
    assert response.status_code == 404
    assert_survey_headers(response)
    assert Page(response.content.decode()).text("h1") == ["We don't recognise this link"]
    assert COOKIE not in response.cookies
    assert client.get("/s/").status_code == 200


def test_a_malformed_link_is_unknown_at_once_and_sets_no_cookie(client):
    response = client.get("/s/not-a-token/")

    assert response.status_code == 404
    assert COOKIE not in response.cookies or response.cookies[COOKIE].value == ""
    assert Page(response.content.decode()).text("h1") == ["We don't recognise this link"]


def test_the_clean_url_without_a_link_says_to_open_the_email_link(client):
    response = client.get("/s/")

    assert response.status_code == 404
    assert_survey_headers(response)
    assert Page(response.content.decode()).text("h1") == ["Open your survey link"]


def test_reading_the_form_never_uses_the_token(client):
    invitation = make_invitation()
    open_link(client, invitation)

    assert client.get("/s/").status_code == 200
    assert client.get("/s/").status_code == 200

    assert stored(invitation) == (0, 0, 0, False)


def test_the_link_itself_accepts_no_post(client):
    invitation = make_invitation()

    response = client.post(f"/s/{invitation.token}/", {"answer-t_workload": "3"})

    assert response.status_code == 405
    assert stored(invitation) == (0, 0, 0, False)


def test_a_form_too_large_to_read_is_refused_with_a_page_in_the_employees_language(client, settings):
    # given a German employee's open form, and a post over Django's size limit
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    invitation = make_invitation()
    invitation.employee.locale = "de"
    invitation.employee.save()
    open_link(client, invitation)

    # when
    response = submit(client, {"answer-t_workload": "3", "comment": "x" * 20_000})

    # then a page says so (not Django's bare "Bad Request"), and nothing was written
    assert response.status_code == 400
    assert_survey_headers(response)
    assert Page(response.content.decode()).text("h1") == [german("Your answers could not be sent")]
    assert stored(invitation) == (0, 0, 0, False)


def test_the_form_names_the_organisation_and_the_survey():
    # given an employee of Acme/Engineering invited to "Spring check-in"
    client = Client()
    acme = TeamFactory(name="Acme")
    survey = make_survey()
    survey.name = "Spring check-in"
    survey.save()
    invitation = InvitationFactory(
        wave=WaveFactory(survey=survey), employee=EmployeeFactory(team=TeamFactory(name="Engineering", parent=acme))
    )
    open_link(client, invitation)

    # when
    page = Page(client.get("/s/").content.decode())

    # then the page's title and its first line say who asks and what
    assert page.text("title") == ["Spring check-in · Acme"]
    assert page.text("p")[0] == "Acme · Spring check-in"


def test_the_form_says_how_many_questions_and_carries_a_progress_cue_for_scripts():
    client = Client()
    invitation = make_invitation()
    open_link(client, invitation)

    response = client.get("/s/")

    page = Page(response.content.decode())
    html = " ".join(response.content.decode().split())
    assert "3 questions. Answer the questions you want to" in html
    # without JavaScript the counter stays hidden; the script (served by Pulse, not a CDN)
    # fills it in and screen readers hear it through the polite live region
    (status,) = page.all("p", id="survey-progress")
    assert (status["role"], status["aria-live"], "hidden" in status) == ("status", "polite", True)
    assert page.all("form", **{"data-progress-template": "{answered} of 3 answered"})
    (script,) = page.all("script")
    assert script["src"] == "/static/pulse/survey-progress.js"
    assert "defer" in script


def test_the_progress_script_is_served_from_pulses_static_files(client):
    # the page's script tag points into Pulse's own static files, which hold it
    script = finders.find("pulse/survey-progress.js")

    assert script is not None
    source = Path(script).read_text()
    assert 'getAttribute("data-progress-template")' in source
    assert 'getElementById("survey-progress")' in source
    assert "http" not in source  # loads nothing from elsewhere


def test_answering_in_a_second_tab_after_the_first_says_already_answered(client):
    # given one browser (one cookie jar) with the form open in two tabs
    invitation = make_invitation()
    invitation.employee.locale = "de"
    invitation.employee.save()
    open_link(client, invitation)
    key = form_key(invitation.token)
    first_tab = client.get("/s/")
    second_tab = client.get("/s/")
    assert (first_tab.status_code, second_tab.status_code) == (200, 200)

    # when the first tab is sent, then the second
    sent = client.post("/s/", {FORM_KEY_FIELD: key, "answer-t_workload": "1"})
    again = client.post("/s/", {FORM_KEY_FIELD: key, "answer-t_workload": "5"}, HTTP_ACCEPT_LANGUAGE="en")

    # then the second hears that it was answered, in the employee's language, and nothing changed
    assert sent.status_code == 302
    assert COOKIE not in client.cookies or client.cookies[COOKIE].value == ""
    assert again.status_code == 409
    assert_survey_headers(again)
    assert again["Content-Language"] == "de"
    assert Page(again.content.decode()).text("h1") == [german("You have already answered")]
    assert stored(invitation) == (1, 1, 0, True)
    assert submissions_opened()[0].answers == [("t_workload", 1)]
    # and reloading the second tab says the same
    reloaded = client.get("/s/", HTTP_ACCEPT_LANGUAGE="en")
    assert reloaded.status_code == 409
    assert Page(reloaded.content.decode()).text("h1") == [german("You have already answered")]


def test_the_answered_marker_holds_no_token_and_nothing_stored_knows_it(client):
    invitation = make_invitation()
    open_link(client, invitation)

    submit(client, {"answer-t_workload": "3"})

    marker = client.cookies[ANSWERED_COOKIE].value
    language, _, mark = marker.partition(":")
    assert (language, len(mark)) == ("en", 64)
    assert invitation.token not in marker
    assert invitation.token_hash not in marker
    assert client.cookies[ANSWERED_COOKIE]["httponly"] is True
    assert client.cookies[ANSWERED_COOKIE]["path"] == "/s/"
    row = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert mark not in {str(value) for value in row.values()}


def test_a_form_whose_cookie_expired_is_not_taken_for_an_answered_one(client):
    # given this browser answered one survey, and still has another's form open whose cookie
    # has since expired
    answered, other = make_invitation(), make_invitation()
    open_link(client, answered)
    submit(client, {"answer-t_workload": "3"})

    # when the other form is sent without its cookie
    response = client.post("/s/", {FORM_KEY_FIELD: form_key(other.token), "answer-t_workload": "4"})

    # then it is told to open its link again, and nothing was written for it
    assert response.status_code == 404
    assert Page(response.content.decode()).text("h1") == ["Open your survey link"]
    assert stored(other) == (1, 1, 0, False)  # the one submission is the answered survey's


def test_a_forged_answered_marker_is_not_believed_on_a_post(client):
    invitation = make_invitation()
    client.cookies[ANSWERED_COOKIE] = "de:" + "0" * 64

    response = client.post("/s/", {FORM_KEY_FIELD: form_key(invitation.token), "answer-t_workload": "4"})

    assert response.status_code == 404
    assert stored(invitation) == (0, 0, 0, False)


def test_a_form_sent_from_elsewhere_is_refused_in_the_employees_language(client):
    # given a German employee's open form
    invitation = make_invitation()
    invitation.employee.locale = "de"
    invitation.employee.save()
    open_link(client, invitation)

    # when a post without this form's key arrives, from an English browser
    response = client.post("/s/", {"answer-t_workload": "3"}, HTTP_ACCEPT_LANGUAGE="en")

    # then
    assert response.status_code == 403
    assert response["Content-Language"] == "de"
    assert Page(response.content.decode()).text("h1") == [german("Please send the form again")]
    assert stored(invitation) == (0, 0, 0, False)


@pytest.mark.parametrize(
    ("answered", "status", "title"), [(True, 409, "You have already answered"), (False, 410, "This survey has closed")]
)
def test_status_pages_of_a_known_link_are_in_the_employees_language(client, answered, status, title):
    # given a German employee's link, used or of a closed wave, opened by an English browser
    invitation = make_invitation(
        status=Wave.Status.OPEN if answered else Wave.Status.CLOSED,
    )
    Invitation.objects.filter(pk=invitation.pk).update(responded=answered)
    invitation.employee.locale = "de"
    invitation.employee.save()

    response = client.get(f"/s/{invitation.token}/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == status
    assert response["Content-Language"] == "de"
    assert Page(response.content.decode()).text("h1") == [german(title)]


def test_an_unknown_link_keeps_the_browsers_language(client):
    # (the override only puts the test's language back: LocaleMiddleware leaves "de" active)
    with translation.override("en"):
        response = client.get(f"/s/{'x' * 43}/", HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 404
    assert Page(response.content.decode()).text("h1") == [german("We don't recognise this link")]


def test_a_too_large_post_without_a_link_after_answering_is_not_an_error(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    invitation = make_invitation()
    open_link(client, invitation)
    submit(client, {"answer-t_workload": "3"})

    response = client.post("/s/", {FORM_KEY_FIELD: form_key(invitation.token), "comment": "x" * 20_000})

    assert response.status_code == 404
    assert Page(response.content.decode()).text("h1") == ["Open your survey link"]
