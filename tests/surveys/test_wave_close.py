from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app
from django.utils import timezone

from surveys import crypto
from surveys.crypto import SealKeyError
from surveys.intake import response_record
from surveys.models import Answer, Comment, Invitation, Response, Submission, SurveyQuestion, Wave
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


ANSWERS = [
    ({"close_workload": 1, "close_growth": 2, "close_enps": 9}, "More focus time"),
    ({"close_workload": 4, "close_enps": 0}, ""),
    ({"close_workload": 5, "close_growth": 5, "close_enps": 10}, "Great team"),
    ({"close_growth": 3}, ""),
    ({"close_workload": 2, "close_growth": 4, "close_enps": 7}, "Fewer meetings"),
]


@pytest.fixture
def answered_wave(db):
    """An open wave of seven people in one team; five answered (three with a comment)."""
    survey = _survey()
    team = TeamFactory(name="Red")
    EmployeeFactory.create_batch(7, team=team)
    wave = wave_launch(survey=survey, remind_after_days=2, send_now=True)
    invitations = list(wave.invitations.order_by("employee_id"))
    for invitation, (values, comment) in zip(invitations, ANSWERS, strict=False):
        response_record(token=token_for(invitation.id), answers=values, comment=comment)
    return wave


def _content(wave: Wave) -> tuple[Counter, Counter]:
    """What the wave's answers say, without any ids: per response (team, its answers), comments."""
    responses = Counter(
        (response.team.name, frozenset((a.question.code, a.value) for a in response.answers.all()))
        for response in Response.objects.filter(wave=wave).prefetch_related("answers__question").select_related("team")
    )
    comments = Counter(Comment.objects.filter(wave=wave).values_list("team__name", "text"))
    return responses, comments


def test_before_the_close_nothing_is_readable_and_after_it_the_answers_are_there_once(answered_wave):
    # given five submissions: stored only as sealed boxes, no response, answer or comment yet
    wave = answered_wave
    assert Submission.objects.filter(wave=wave).count() == 5
    assert (Response.objects.count(), Answer.objects.count(), Comment.objects.count()) == (0, 0, 0)
    for box in Submission.objects.values_list("box", flat=True):
        assert b"More focus time" not in bytes(box)

    # when
    closed = wave_close(wave=wave)

    # then the same answers, response by response, and the same comments, in the team ...
    expected = Counter(("Red", frozenset(values.items())) for values, _ in ANSWERS)
    assert _content(wave) == (expected, Counter({("Red", c): 1 for _, c in ANSWERS if c}))
    assert Answer.objects.filter(response__wave=wave).count() == 3 + 2 + 3 + 1 + 3
    # ... under random ids (uuid4), and the submissions are gone
    ids = {
        *Response.objects.filter(wave=wave).values_list("pk", flat=True),
        *Answer.objects.filter(response__wave=wave).values_list("pk", flat=True),
        *Comment.objects.filter(wave=wave).values_list("pk", flat=True),
    }
    assert len(ids) == 5 + 12 + 3
    assert {pk.version for pk in ids} == {4}
    assert Submission.objects.count() == 0
    assert (closed.status, closed.sealed) == (Wave.Status.CLOSED, True)


def test_a_close_in_a_process_without_the_seal_key_is_refused_and_changes_nothing(answered_wave, settings):
    # given a web server's settings: the public half only
    settings.PULSE_SEAL_KEY = ""
    settings.PULSE_SEAL_KEY_FALLBACKS = []
    before = sorted(Invitation.objects.values_list("pk", "responded", "reminder_status"))

    # when / then
    with pytest.raises(SealKeyError, match="PULSE_SEAL_KEY is not set in this process"):
        wave_close(wave=answered_wave)
    answered_wave.refresh_from_db()
    assert (answered_wave.status, answered_wave.sealed) == (Wave.Status.OPEN, False)
    assert Submission.objects.count() == 5
    assert Response.objects.count() == 0
    assert sorted(Invitation.objects.values_list("pk", "responded", "reminder_status")) == before


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

    # then nothing unsent will go out any more; whether the invitation went out stays
    # recorded, but no reminder trace does (being reminded says one had not answered yet)
    after = {i.employee.name: (i.status, i.reminder_status, i.lease_until) for i in wave.invitations.all()}
    assert after == {
        "pending": (Status.SKIPPED, "", None),
        "sending": (Status.SKIPPED, "", None),
        "sent": (Status.SENT, "", None),
        "failed": (Status.FAILED, "", None),
        "reminded": (Status.SENT, "", None),
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
    from analytics.models import WaveAnalysis  # the test reads what the read side did; surveys never imports it

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        wave_close(wave=answered_wave)

    # then the analytics task (registered under its name) ran for this wave
    # VACUUM (a no-op inside the test's transaction), then the analysis, which asks for its digests
    assert len(callbacks) == 3
    analysis = WaveAnalysis.objects.get(wave=answered_wave)
    assert analysis.released_at is not None and analysis.analysed_at is not None


def test_a_close_that_leaves_the_analysis_to_its_caller_seals_and_enqueues_nothing(
    answered_wave, django_capture_on_commit_callbacks, enqueued
):
    # when (a back-fill of many waves analyses them once at the end)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        closed = wave_close(wave=answered_wave, analyse=False)

    # then the wave is sealed as ever, and only the VACUUM ran after the commit
    assert (closed.status, closed.sealed) == (Wave.Status.CLOSED, True)
    assert Response.objects.filter(wave=answered_wave).count() == len(ANSWERS)
    assert not Submission.objects.filter(wave=answered_wave).exists()
    assert len(callbacks) == 1
    assert enqueued == []


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


def test_a_due_wave_that_cannot_be_sealed_does_not_keep_the_others_open(db, settings, caplog):
    # given two due waves: the first one's submission is sealed to a key this process no longer has
    now = timezone.now()
    stuck, fine = WaveFactory(closes_at=now - timedelta(hours=2)), WaveFactory(closes_at=now - timedelta(hours=1))
    old_key = "an-old-seal-key-that-was-rotated-away-too-early"
    settings.PULSE_SEAL_PUBLIC_KEY = crypto.public_key_text(crypto.private_key_derive(old_key).public_key)
    key, box = crypto.ballot_encrypt(crypto.Ballot(answers=((QuestionFactory().pk, 3),), comment=""))
    Submission.objects.create(wave=stuck, team=TeamFactory(), key=key, box=box)

    # when the housekeeping task closes what is due
    closed = waves_close_due(now=now)

    # then the other wave is closed and sealed; the stuck one stays open, logged with the reason
    assert [wave.pk for wave in closed] == [fine.pk]
    assert dict(Wave.objects.values_list("pk", "status")) == {stuck.pk: Wave.Status.OPEN, fine.pk: Wave.Status.CLOSED}
    assert f"wave {stuck.pk} is due to close but can't be sealed: no seal key with id {key}" in caplog.text
    assert Submission.objects.filter(wave=stuck).count() == 1
