from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app
from django.utils import timezone

from surveys.intake import response_record
from surveys.models import Answer, Comment, Invitation, Response, SurveyQuestion, Wave
from surveys.tokens import token_for
from surveys.waves import wave_close, wave_launch, waves_close_due
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory, WaveFactory

Status = Invitation.SendStatus


@pytest.fixture
def eager_celery():
    """Run enqueued tasks in-process even when a broker is configured (CI's services run)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


def _survey():
    survey = SurveyFactory()
    for position, code in enumerate(["close_workload", "close_growth", "close_enps"]):
        question = QuestionFactory(code=code, scale="nps11" if code == "close_enps" else "likert5")
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


@pytest.fixture
def answered_wave(db):
    """An open wave of six people in two teams; four answered (two with a comment)."""
    survey = _survey()
    teams = [TeamFactory(name="Red"), TeamFactory(name="Blue")]
    for n in range(6):
        EmployeeFactory(team=teams[n % 2])
    wave = wave_launch(survey=survey, remind_after_days=2, send_now=True)
    invitations = list(wave.invitations.order_by("employee_id"))
    answers = [
        ({"close_workload": 1, "close_growth": 2, "close_enps": 9}, "More focus time"),
        ({"close_workload": 4, "close_enps": 0}, ""),
        ({"close_workload": 5, "close_growth": 5, "close_enps": 10}, "Great team"),
        ({"close_growth": 3}, ""),
    ]
    for invitation, (values, comment) in zip(invitations, answers, strict=False):
        response_record(token=token_for(invitation.id), answers=values, comment=comment)
    return wave


def _content(wave: Wave) -> tuple[Counter, Counter]:
    """What the wave's answers say, without any ids: per response (team, its answers), comments."""
    responses = Counter(
        (response.team_id, frozenset((a.question.code, a.value) for a in response.answers.all()))
        for response in Response.objects.filter(wave=wave).prefetch_related("answers__question")
    )
    comments = Counter(Comment.objects.filter(wave=wave).values_list("team_id", "text"))
    return responses, comments


def test_close_seals_the_answers_with_fresh_ids_and_the_same_content(answered_wave):
    # given
    wave = answered_wave
    content_before = _content(wave)
    ids_before = {
        *Response.objects.filter(wave=wave).values_list("pk", flat=True),
        *Answer.objects.filter(response__wave=wave).values_list("pk", flat=True),
        *Comment.objects.filter(wave=wave).values_list("pk", flat=True),
    }

    # when
    closed = wave_close(wave=wave)

    # then the same answers, response by response, and the same comments ...
    assert _content(wave) == content_before
    assert sum(content_before[0].values()) == 4
    assert sum(content_before[1].values()) == 2
    assert Answer.objects.filter(response__wave=wave).count() == 9
    # ... under ids none of which existed before, all random (uuid4)
    ids_after = {
        *Response.objects.filter(wave=wave).values_list("pk", flat=True),
        *Answer.objects.filter(response__wave=wave).values_list("pk", flat=True),
        *Comment.objects.filter(wave=wave).values_list("pk", flat=True),
    }
    assert len(ids_after) == 4 + 9 + 2
    assert ids_after.isdisjoint(ids_before)
    assert {pk.version for pk in ids_after} == {4}
    assert (closed.status, closed.sealed) == (Wave.Status.CLOSED, True)


def test_close_skips_what_was_not_sent(db):
    # given invitations in every send state, and reminders pending or sent
    wave = WaveFactory()
    team = TeamFactory()
    states = {
        "pending": (Status.PENDING, Status.PENDING),
        "sending": (Status.SENDING, ""),
        "sent": (Status.SENT, Status.PENDING),
        "failed": (Status.FAILED, ""),
        "reminded": (Status.SENT, Status.SENT),
    }
    for name, (status, reminder_status) in states.items():
        employee = EmployeeFactory(team=team, name=name)
        Invitation.objects.create(
            wave=wave,
            employee=employee,
            team=team,
            token_hash=name,
            send_at=timezone.now(),
            status=status,
            reminder_status=reminder_status,
            lease_until=timezone.now() + timedelta(minutes=5) if status == Status.SENDING else None,
        )
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    # when
    closed = wave_close(wave=wave, now=now)

    # then nothing unsent will go out any more; what happened stays recorded
    after = {i.employee.name: (i.status, i.reminder_status, i.lease_until) for i in wave.invitations.all()}
    assert after == {
        "pending": (Status.SKIPPED, Status.SKIPPED, None),
        "sending": (Status.SKIPPED, "", None),
        "sent": (Status.SENT, Status.SKIPPED, None),
        "failed": (Status.FAILED, "", None),
        "reminded": (Status.SENT, Status.SENT, None),
    }
    assert (closed.status, closed.closed_at, closed.sealed) == (Wave.Status.CLOSED, now, True)
    closed.refresh_from_db()
    assert (closed.status, closed.closed_at, closed.sealed) == (Wave.Status.CLOSED, now, True)


def test_close_is_idempotent(answered_wave, django_capture_on_commit_callbacks):
    # given a closed wave
    first_close = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    wave_close(wave=answered_wave, now=first_close)
    ids = set(Response.objects.filter(wave=answered_wave).values_list("pk", flat=True))

    # when it is closed again
    with django_capture_on_commit_callbacks() as callbacks:
        again = wave_close(wave=answered_wave, now=first_close + timedelta(days=1))

    # then nothing changed and nothing was enqueued
    assert (again.status, again.closed_at, again.sealed) == (Wave.Status.CLOSED, first_close, True)
    assert set(Response.objects.filter(wave=answered_wave).values_list("pk", flat=True)) == ids
    assert callbacks == []


def test_close_enqueues_the_analysis_by_name_after_commit(
    answered_wave, django_capture_on_commit_callbacks, caplog, eager_celery
):
    # when
    with (
        caplog.at_level(logging.INFO, logger="analytics.tasks"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        wave_close(wave=answered_wave)

    # then the analytics task (registered under its name) ran for this wave
    assert len(callbacks) == 2  # VACUUM (a no-op inside the test's transaction), then the analysis
    assert f"analysis requested for wave {answered_wave.pk}" in caplog.messages


def test_close_due_closes_only_waves_past_their_closing_time(db):
    # given
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    due = WaveFactory(closes_at=now - timedelta(minutes=1))
    scheduled_due = WaveFactory(closes_at=now, status=Wave.Status.SCHEDULED)
    running = WaveFactory(closes_at=now + timedelta(minutes=1))
    earlier = datetime(2026, 3, 1, tzinfo=UTC)
    closed = WaveFactory(closes_at=now - timedelta(days=2), status=Wave.Status.CLOSED, closed_at=earlier)

    # when
    result = waves_close_due(now=now)

    # then
    assert [wave.pk for wave in result] == [due.pk, scheduled_due.pk]
    statuses = dict(Wave.objects.values_list("pk", "status"))
    assert statuses == {
        due.pk: Wave.Status.CLOSED,
        scheduled_due.pk: Wave.Status.CLOSED,
        running.pk: Wave.Status.OPEN,
        closed.pk: Wave.Status.CLOSED,
    }
    closed.refresh_from_db()
    assert closed.closed_at == earlier
