"""The whole delivery, end to end, with real processes: a Celery worker and beat, Redis,
PostgreSQL and an SMTP server (tests/system/conftest.py, tests/smtp.py).

schedule → wave → each invitation at 10:00 in its employee's own time zone → answers through
the e-mailed link (a real form round trip) → a reminder for the one who did not answer → close →
sealed. Beat ticks every second on the real clock; the worker's clock is moved step by step.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from surveys.models import Answer, Comment, Invitation, Response, Schedule, Submission, Survey, Wave
from surveys.question_bank import question_bank_install
from surveys.tokens import token_hash
from tests.factories import EmployeeFactory, TeamFactory
from tests.sealed import submissions_opened
from tests.smtp import ReceivedMessage

pytestmark = pytest.mark.services

BASE_URL = "https://pulse.example.com"  # the processes' PULSE_BASE_URL (conftest)
LINK = re.compile(rf"{re.escape(BASE_URL)}/s/([A-Za-z0-9_-]{{43}})/")
OCCURRENCE = date(2025, 6, 10)  # a Tuesday, clear of every DST change in the three zones
TOKYO, BERLIN, NEW_YORK = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
DISPATCH = "surveys.tasks.invitations_dispatch_task"
REMINDERS = "surveys.tasks.reminders_dispatch_task"
Status = Invitation.SendStatus


def local_ten(zone: ZoneInfo, day: date = OCCURRENCE) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=zone).astimezone(UTC)


def link_of(message: ReceivedMessage) -> str:
    """The one survey link in a message, the same in its text and HTML parts."""
    links = set(LINK.findall(message.part("text/plain")))
    assert len(links) == 1, message.part("text/plain")
    token = links.pop()
    assert f"{BASE_URL}/s/{token}/" in message.part("text/html")
    return f"{BASE_URL}/s/{token}/"


def local_sent_time(message: ReceivedMessage, zone: ZoneInfo) -> datetime:
    """When the worker sent it (its Date header, written under the worker's clock), in ``zone``."""
    return parsedate_to_datetime(message.message["Date"]).astimezone(zone)


class _FormInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append({name: value or "" for name, value in attrs})


def answer_through(link: str, *, comment: str = "") -> int:
    """Open the e-mailed link and submit the form as a browser would (cookies, CSRF); returns answers given."""
    client = Client(enforce_csrf_checks=True)
    landing = client.get(urlsplit(link).path)
    assert (landing.status_code, landing["Location"]) == (302, "/s/")
    form = client.get("/s/")
    assert form.status_code == 200
    parser = _FormInputs()
    parser.feed(form.content.decode())
    scales: dict[str, list[str]] = {}
    for field in parser.inputs:
        if field.get("type") == "radio":
            scales.setdefault(field["name"], []).append(field["value"])
    (key,) = [field["value"] for field in parser.inputs if field.get("name") == "form_key"]
    # Some answer on every scale: the middle point, as a hesitant person might.
    data = {name: values[len(values) // 2] for name, values in scales.items()}
    submitted = client.post("/s/", {"form_key": key, **data, "comment": comment})
    assert submitted.status_code == 302, submitted.content.decode()
    assert urlsplit(submitted["Location"]).path == "/s/thanks/"
    assert client.get(submitted["Location"]).status_code == 200
    return len(data)


def test_schedule_to_sealed_wave(celery_services, smtp_server):
    # given the question bank (transactional tests empty the data migration's copy) and an org in three zones
    question_bank_install()
    survey = Survey.objects.get(slug="pulse")
    acme = TeamFactory(name="Acme")
    tokyo = EmployeeFactory(team=TeamFactory(name="Tokyo", parent=acme), timezone="Asia/Tokyo")
    berlin = EmployeeFactory(team=TeamFactory(name="Berlin", parent=acme), timezone="Europe/Berlin", locale="de")
    new_york = EmployeeFactory(team=TeamFactory(name="New York", parent=acme), timezone="America/New_York")
    # colleagues: a wave needs at least PULSE_MIN_RESPONDENTS people (3 here, the worker's)
    tokyo_2 = EmployeeFactory(team=tokyo.team, timezone="Asia/Tokyo")
    berlin_2 = EmployeeFactory(team=berlin.team, timezone="Europe/Berlin", locale="de")
    # ... and people who must get nothing: inactive, gone before the wave, outside the audience
    EmployeeFactory(team=tokyo.team, timezone="Asia/Tokyo", active=False)
    EmployeeFactory(team=new_york.team, timezone="America/New_York", left_on=OCCURRENCE - timedelta(days=5))
    EmployeeFactory(team=TeamFactory(name="Contractors"), timezone="Asia/Tokyo")
    schedule = Schedule.objects.create(
        name="Weekly pulse",
        survey=survey,
        cadence=Schedule.Cadence.WEEKLY,
        weekday=OCCURRENCE.weekday(),
        send_time=time(10, 0),
        days_open=3,
        remind_after_days=1,
        starts_on=OCCURRENCE - timedelta(days=14),
    )
    schedule.teams.set([acme])
    invited = {
        tokyo.email: TOKYO,
        tokyo_2.email: TOKYO,
        berlin.email: BERLIN,
        berlin_2.email: BERLIN,
        new_york.email: NEW_YORK,
    }

    # when the worker's clock shows the day before the occurrence, with beat running
    celery_services.clock.set(datetime(2025, 6, 9, 12, 0, tzinfo=UTC))
    # a deployment that chose the lowest threshold allowed (3): the wave needs three answers to
    # keep any, and this one gets them
    worker = celery_services.start_worker(PULSE_MIN_RESPONDENTS="3")
    celery_services.start_beat()
    wave = celery_services.wait_until(lambda: Wave.objects.filter(schedule=schedule).first(), what="a wave")

    # then the wave exists, scheduled, with one pending invitation per active audience member at their 10:00
    assert (wave.opens_on, wave.status) == (OCCURRENCE, Wave.Status.SCHEDULED)
    invitations = {i.employee.email: i for i in Invitation.objects.filter(wave=wave).select_related("employee")}
    assert {email: i.send_at for email, i in invitations.items()} == {
        email: local_ten(zone) for email, zone in invited.items()
    }
    assert {i.status for i in invitations.values()} == {Status.PENDING}
    # the end of the third day after the occurrence in New York, the westernmost zone
    assert wave.closes_at == datetime.combine(OCCURRENCE + timedelta(days=4), time(0), tzinfo=NEW_YORK).astimezone(UTC)
    celery_services.wait_for_runs(worker, DISPATCH, more=2)
    assert smtp_server.messages == []

    # when the clock passes 10:00 in Tokyo, then Berlin, then New York
    links = {}
    for zone in (TOKYO, BERLIN, NEW_YORK):
        people = {email for email, their_zone in invited.items() if their_zone == zone}
        already = len(smtp_server.messages)
        expected = already + len(people)
        celery_services.clock.set(local_ten(zone) + timedelta(seconds=30))
        celery_services.wait_until(lambda n=expected: len(smtp_server.messages) >= n, what=f"{zone} mail")
        celery_services.wait_for_runs(worker, DISPATCH, more=2)

        # then exactly that zone's invitations arrive, at 10:00 local, each with its own link
        arrived = smtp_server.messages[already:]
        assert sorted(rcpt for message in arrived for rcpt in message.rcpt_tos) == sorted(people)
        for message in arrived:
            sent = local_sent_time(message, zone)
            assert (sent.date(), time(10, 0) <= sent.time() < time(10, 5)) == (OCCURRENCE, True)
            (email,) = message.rcpt_tos
            links[email] = link_of(message)
            assert token_hash(LINK.match(links[email])[1]) == invitations[email].token_hash
        assert Wave.objects.get(pk=wave.pk).status == Wave.Status.OPEN

    # when Tokyo and Berlin answer through their links, while the wave is open
    with time_machine.travel(local_ten(NEW_YORK) + timedelta(minutes=5), tick=True):
        given = answer_through(links[tokyo.email])
        given += answer_through(links[berlin.email], comment="Busy week, but a good one.")
        given += answer_through(links[berlin_2.email])

    # then three sealed submissions are stored, nothing readable, and exactly their invitations are
    # marked answered
    opened = submissions_opened(wave=wave)
    assert (len(opened), sum(len(o.answers) for o in opened)) == (3, given)
    assert Response.objects.filter(wave=wave).count() == 0
    assert set(Invitation.objects.filter(wave=wave, responded=True).values_list("employee__email", flat=True)) == {
        tokyo.email,
        berlin.email,
        berlin_2.email,
    }
    submission_ids_before_close = set(Submission.objects.filter(wave=wave).values_list("pk", flat=True))

    # when the clock passes the reminder time of the last one invited (New York, a day later)
    celery_services.clock.set(local_ten(NEW_YORK, OCCURRENCE + timedelta(days=1)) + timedelta(seconds=30))
    celery_services.wait_until(lambda: len(smtp_server.messages) >= 7, what="two reminders")
    celery_services.wait_for_runs(worker, REMINDERS, more=3)

    # then the reminders went to those who had not answered only, with their same links; the
    # respondents' were dropped
    reminders = smtp_server.messages[5:]
    assert len(smtp_server.messages) == 7
    reminded = {message.rcpt_tos[0]: message for message in reminders}
    assert set(reminded) == {tokyo_2.email, new_york.email}
    for email, message in reminded.items():
        assert link_of(message) == links[email]
    invitation_to_new_york = next(m for m in smtp_server.messages[:5] if m.rcpt_tos == (new_york.email,))
    assert reminded[new_york.email].message["Subject"] != invitation_to_new_york.message["Subject"]
    assert dict(Invitation.objects.filter(wave=wave).values_list("employee__email", "reminder_status")) == {
        tokyo.email: Status.SKIPPED,
        berlin.email: Status.SKIPPED,
        berlin_2.email: Status.SKIPPED,
        tokyo_2.email: Status.SENT,
        new_york.email: Status.SENT,
    }

    # when the clock passes the wave's closing time
    celery_services.clock.set(wave.closes_at + timedelta(seconds=30))
    celery_services.wait_until(
        lambda: Wave.objects.filter(pk=wave.pk, status=Wave.Status.CLOSED).exists(), what="the wave to close"
    )

    # then it is sealed: the same two responses and answers, under fresh ids, carrying nothing of the invitations
    wave.refresh_from_db()
    assert (wave.status, wave.sealed) == (Wave.Status.CLOSED, True)
    assert wave.closes_at <= wave.closed_at < wave.closes_at + timedelta(minutes=2)
    responses = list(Response.objects.filter(wave=wave).values())
    answers = list(Answer.objects.filter(response__wave=wave).values())
    comments = list(Comment.objects.filter(wave=wave).values())
    assert (len(responses), len(answers), len(comments)) == (3, given, 1)
    # three small teams (1, 2 and 0 answers) under Acme: all three answers are Acme's
    assert {row["team_id"] for row in responses + comments} == {acme.pk}
    assert {row["id"] for row in responses}.isdisjoint(submission_ids_before_close)
    assert Submission.objects.filter(wave=wave).count() == 0
    # and no invitation says any more who answered, or who was reminded
    assert set(Invitation.objects.filter(wave=wave).values_list("responded", "reminder_status", "reminded_at")) == {
        (False, "", None)
    }
    identifiers = set()
    for invitation in Invitation.objects.filter(wave=wave):
        identifiers |= {str(invitation.pk), invitation.pk.hex, invitation.token_hash}
    identifiers |= {LINK.match(link)[1] for link in links.values()}
    stored = [str(value) for row in responses + answers + comments for value in row.values()]
    assert [value for value in stored if any(identifier in value for identifier in identifiers)] == []
    # and nobody else ever heard from Pulse: five invitations and two reminders in all
    assert Counter(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos) == {
        tokyo.email: 1,
        berlin.email: 1,
        berlin_2.email: 1,
        tokyo_2.email: 2,
        new_york.email: 2,
    }
    assert Invitation.objects.filter(wave=wave).count() == 5
