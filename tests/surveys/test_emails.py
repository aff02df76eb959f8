from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.utils import translation

from surveys import emails
from surveys.models import SurveyQuestion, Wave
from surveys.tokens import token_hash
from tests.factories import InvitationFactory, QuestionFactory, SurveyFactory, TeamFactory, WaveFactory

pytestmark = pytest.mark.django_db

# A Friday: 18:00 in Tokyo (JST, +9), 02:00 in Los Angeles (PDT since 9 March 2025, -7).
CLOSES_AT = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
LINK_RE = re.compile(r"http://testserver\.example/s/([A-Za-z0-9_-]+)/")


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.PULSE_BASE_URL = "http://testserver.example"


def _invitation(*, locale: str = "en", zone: str = "Asia/Tokyo", questions: int = 8, **employee):
    acme = TeamFactory(name="Acme")
    team = TeamFactory(name="Engineering", parent=acme)
    survey = SurveyFactory(name="Pulse")
    SurveyQuestion.objects.bulk_create(
        SurveyQuestion(survey=survey, question=QuestionFactory(), position=i) for i in range(questions)
    )
    wave = WaveFactory(survey=survey, closes_at=CLOSES_AT, min_respondents=7)
    return InvitationFactory(
        wave=wave,
        employee__team=team,
        employee__locale=locale,
        employee__timezone=zone,
        employee__name=employee.get("name", "Ada Lovelace"),
        employee__email="ada@example.com",
    )


def test_invitation_email_has_text_and_html_parts_addressed_to_the_employee():
    # given
    invitation = _invitation()

    # when
    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    # then
    assert message.to == ["ada@example.com"]
    assert message.subject == "Acme pulse survey: anonymous, about 2 minutes"
    assert [mimetype for _, mimetype in message.alternatives] == ["text/html"]
    link = f"http://testserver.example/s/{invitation.token}/"
    assert message.body == (
        "Hello Ada Lovelace,\n"
        "\n"
        "You are invited to answer “Pulse”, an anonymous survey from Acme. It takes about 2 minutes.\n"
        "\n"
        "It closes on Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo).\n"
        "\n"
        "Answer the survey:\n"
        f"{link}\n"
        "\n"
        "Your answers are stored without your name or this link, and results are only shown for groups of "
        "at least 7 people.\n"
        "\n"
        "This link is personal: please don't forward it.\n"
    )


def test_html_part_says_the_same_and_links_the_survey():
    invitation = _invitation()

    html = emails.invitation_email(invitation=invitation, token=invitation.token).alternatives[0][0]

    link = f"http://testserver.example/s/{invitation.token}/"
    assert '<html lang="en">' in html
    assert f'<a href="{link}"' in html
    assert "You are invited to answer “Pulse”, an anonymous survey from Acme." in html
    assert "It takes about 2 minutes." in html
    assert "It closes on Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo)." in html
    assert "results are only shown for groups of at least 7 people." in html


@pytest.mark.parametrize("build", [emails.invitation_email, emails.reminder_email])
def test_link_is_the_survey_url_and_its_token_matches_the_stored_hash(build):
    invitation = _invitation()

    message = build(invitation=invitation, token=invitation.token)

    html = message.alternatives[0][0]
    text_tokens = LINK_RE.findall(message.body)
    html_tokens = LINK_RE.findall(html)
    assert text_tokens == [invitation.token]
    assert html_tokens == [invitation.token] * 3  # the button, and the copyable address as href and text
    assert token_hash(text_tokens[0]) == invitation.token_hash


@pytest.mark.parametrize("build", [emails.invitation_email, emails.reminder_email])
def test_headers_carry_the_wave_and_never_the_token_or_the_person(build):
    invitation = _invitation(name="Ada Lovelace")

    message = build(invitation=invitation, token=invitation.token).message()

    assert message["X-Pulse-Wave"] == str(invitation.wave_id)
    headers = "\n".join(f"{name}: {value}" for name, value in message.items())
    assert invitation.token not in headers
    assert token_hash(invitation.token) not in headers
    assert "Lovelace" not in headers


@pytest.mark.parametrize(
    ("zone", "closes"),
    [
        ("Asia/Tokyo", "Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo)"),
        ("America/Los_Angeles", "Friday, March 14, 2025, 2 a.m. PDT (America/Los_Angeles)"),
        ("UTC", "Friday, March 14, 2025, 9 a.m. UTC"),
    ],
)
def test_closing_time_is_shown_in_the_employees_time_zone(zone, closes):
    invitation = _invitation(zone=zone)

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert f"It closes on {closes}." in message.body


def test_german_employee_gets_the_email_rendered_in_german():
    # Pulse's own German catalogue arrives with the translation pass; day and month names and
    # the date format come from Django's German locale, so they prove the switch today.
    invitation = _invitation(locale="de")

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert "Freitag, 14. März 2025, 18:00 JST (Asia/Tokyo)" in message.body
    assert '<html lang="de">' in message.alternatives[0][0]
    assert translation.get_language() == "en"  # the override ends with the e-mail


@pytest.mark.parametrize(("locale", "lang"), [("de-AT", "de"), ("de_DE", "de"), ("xx", "en"), ("", "en"), ("EN", "en")])
def test_locale_falls_back_to_a_supported_language(locale, lang):
    assert emails.employee_language(locale) == lang


def test_unsupported_locale_is_rendered_in_english():
    invitation = _invitation(locale="xx")

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert "It closes on Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo)." in message.body
    assert '<html lang="en">' in message.alternatives[0][0]


@pytest.mark.parametrize(
    ("questions", "estimate"), [(1, "about 1 minute."), (4, "about 1 minute."), (13, "about 4 minutes.")]
)
def test_time_estimate_follows_the_number_of_questions(questions, estimate):
    invitation = _invitation(questions=questions)

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert f"It takes {estimate}" in message.body


def test_text_part_is_not_html_escaped_and_html_part_is():
    invitation = _invitation(name="Ann & <Bob>")

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert message.body.startswith("Hello Ann & <Bob>,\n")
    assert "Hello Ann &amp; &lt;Bob&gt;," in message.alternatives[0][0]


def test_reminder_email_says_the_survey_is_still_open():
    invitation = _invitation()

    message = emails.reminder_email(invitation=invitation, token=invitation.token)

    assert message.subject == "Reminder: the Acme pulse survey closes soon"
    assert "A short reminder: “Pulse”, the anonymous survey from Acme, is still open" in message.body
    assert "It closes on Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo)." in message.body
    assert "groups of at least 7 people." in message.alternatives[0][0]


def test_anonymity_sentence_uses_the_waves_frozen_threshold(settings):
    # given: the setting changed after the wave was created
    invitation = _invitation()
    settings.PULSE_MIN_RESPONDENTS = 12

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert Wave.objects.get().min_respondents == 7
    assert "results are only shown for groups of at least 7 people." in message.body


def test_recipients_of_one_wave_each_get_their_own_name_and_link():
    # The shared part of a wave's e-mails is rendered once; the personal part must not leak.
    ada = _invitation()
    grace = InvitationFactory(
        wave=ada.wave, employee__team=ada.team, employee__name="Grace Hopper", employee__timezone="Asia/Tokyo"
    )

    to_ada = emails.invitation_email(invitation=ada, token=ada.token)
    to_grace = emails.invitation_email(invitation=grace, token=grace.token)

    for message, own, other in ((to_ada, ada, grace), (to_grace, grace, ada)):
        html = message.alternatives[0][0]
        assert message.body.startswith(f"Hello {own.employee.name},\n")
        assert f"Hello {own.employee.name}," in html
        assert own.token in message.body
        assert own.token in html
        assert other.token not in message.body + html
        assert other.employee.name not in message.body + html


@pytest.mark.parametrize(
    ("zone", "locale", "closes"),
    [
        # a wave for Honolulu..Tokyo closes at the end of Sunday 8 March 2026 in Honolulu
        ("Pacific/Honolulu", "en", "Sunday, March 8, 2026, end of day HST (Pacific/Honolulu)"),
        ("Asia/Tokyo", "en", "Monday, March 9, 2026, 7 p.m. JST (Asia/Tokyo)"),
        ("Pacific/Honolulu", "de", "Sonntag, 8. März 2026, 24:00 Uhr HST (Pacific/Honolulu)"),
    ],
)
def test_a_wave_closing_at_midnight_is_shown_as_the_end_of_that_day(zone, locale, closes):
    invitation = _invitation(zone=zone, locale=locale)
    Wave.objects.filter(pk=invitation.wave_id).update(closes_at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    invitation.wave.refresh_from_db()

    message = emails.reminder_email(invitation=invitation, token=invitation.token)

    assert closes in message.body
    assert closes in message.alternatives[0][0]


def test_a_survey_named_like_the_product_reads_naturally_in_german_too():
    invitation = _invitation(locale="de")

    invitation_body = emails.invitation_email(invitation=invitation, token=invitation.token).body
    reminder_body = emails.reminder_email(invitation=invitation, token=invitation.token).body

    assert "Du bist eingeladen, an „Pulse“ teilzunehmen, einer anonymen Umfrage von Acme." in invitation_body
    assert "Eine kurze Erinnerung: „Pulse“, die anonyme Umfrage von Acme, läuft noch" in reminder_body


def test_emails_come_from_the_default_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "Pulse <pulse@pulse.example.com>"
    invitation = _invitation()

    message = emails.invitation_email(invitation=invitation, token=invitation.token)

    assert message.from_email == "Pulse <pulse@pulse.example.com>"
