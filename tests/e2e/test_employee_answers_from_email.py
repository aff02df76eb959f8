"""From the invitation e-mail to the thanks page, on a phone: what an employee goes through.

The wave is launched and its e-mails sent by the product's own services (the embedded
default's eager Celery, Django's test mail outbox); the link is taken from the e-mail's text
and opened in Chromium against a live server.
"""

from __future__ import annotations

import re

import pytest
from celery import current_app
from django.conf import settings

from surveys.models import Invitation, Submission, Survey
from surveys.question_bank import DEFAULT_SURVEY_SLUG, question_bank_install
from surveys.waves import wave_launch
from tests.e2e.browser import no_horizontal_scroll, pretty
from tests.factories import EmployeeFactory, TeamFactory
from tests.sealed import submissions_opened

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_-]+/")

# What the employee taps: every question of the default survey but one (growth_3, skipped).
TAPS = {
    "workload_1": 4,
    "workload_2": 2,
    "workload_3": 4,
    "growth_1": 5,
    "growth_2": 3,
    "connection_1": 5,
    "connection_2": 4,
    "connection_3": 1,
    "burnout_1": 4,
    "burnout_2": 2,
    "burnout_3": 3,
    "intent_to_stay_1": 4,
    "intent_to_stay_2": 2,
    "enps_1": 9,
}
COMMENT = "More quiet days for focused work, please."


@pytest.fixture
def eager(monkeypatch):
    """Send the wave's e-mails in-process, as the embedded default does, even with a broker."""
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)


@pytest.fixture
def wave_mailed(live_server, settings, mailoutbox, eager):
    """A small organisation's wave, launched to go out at once: (the wave, its e-mails)."""
    settings.PULSE_BASE_URL = live_server.url  # the links in the e-mails point at this server
    question_bank_install()
    team = TeamFactory(name="Support", parent=TeamFactory(name="Acme"))
    EmployeeFactory.create_batch(settings.PULSE_MIN_RESPONDENTS, team=team)
    wave = wave_launch(survey=Survey.objects.get(slug=DEFAULT_SURVEY_SLUG), teams=[team], send_now=True)
    return wave, list(mailoutbox)


def link_in(message) -> str:
    """The survey link as a person reads it in the e-mail: the one in the plain-text body,
    which the HTML body's button points to as well."""
    (link,) = set(LINK.findall(message.body))
    (html, _mimetype) = message.alternatives[0]
    assert f'href="{link}"' in html
    return link


def test_an_employee_answers_from_the_emailed_link_on_a_phone(
    live_server, wave_mailed, phone_page, axe_violations, screenshot
):
    # given: the e-mail in one employee's inbox
    wave, messages = wave_mailed
    assert len(messages) == settings.PULSE_MIN_RESPONDENTS
    message = messages[0]
    (employee_email,) = message.to
    invitation = Invitation.objects.get(wave=wave, employee__email=employee_email)
    link = link_in(message)
    token = link.rstrip("/").rsplit("/", 1)[1]
    page = phone_page
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame is page.main_frame else None)

    # when: the link is opened
    page.goto(link)

    # then: the form, at the clean address, fitting the phone, with nothing for axe to object to
    assert page.url == f"{live_server.url}/s/"
    assert page.locator("h1").inner_text() == "How are things at work?"
    assert page.locator("fieldset").count() == len(TAPS) + 1
    screenshot(page, "form")
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)

    # when: answers are tapped in (one question left out), a comment typed, the form sent
    for code, value in TAPS.items():
        page.tap(f"label[for={code}-{value}]")
    page.fill("#comment", COMMENT)
    screenshot(page, "answered")
    page.tap("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/s/thanks/**")

    # then: thanked, still on a page that fits and passes axe
    assert page.locator("h1").inner_text() == "Thank you"
    screenshot(page, "thanks")
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)
    # the token was never an address the browser showed or kept in its history
    assert visited == [f"{live_server.url}/s/", f"{live_server.url}/s/thanks/?lang=en"]
    assert page.evaluate("history.length") == 1 + len(visited)  # the blank page it opened with, and those
    assert all(token not in url for url in [*visited, page.url])
    # and the answers are recorded, once, for this invitation only
    invitation.refresh_from_db()
    assert invitation.responded is True
    assert Invitation.objects.filter(wave=wave, responded=True).count() == 1
    assert Submission.objects.filter(wave=wave).count() == 1
    (opened,) = submissions_opened(wave=wave)
    assert (opened.team_id, opened.answers, opened.comment) == (invitation.team_id, sorted(TAPS.items()), COMMENT)
