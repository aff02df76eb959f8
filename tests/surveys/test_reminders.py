"""Reminders: once, only to those who have not answered, only while the wave is open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app

from surveys.dispatch import reminders_dispatch, reminders_send_batch
from surveys.models import Invitation, Wave
from surveys.tokens import token_hash
from tests.factories import InvitationFactory, WaveFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
REMIND_AT = NOW - timedelta(minutes=1)
Status = Invitation.SendStatus


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    """Run dispatch in-process, as the embedded default does, even when a broker is configured."""
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)


@pytest.fixture
def wave():
    return WaveFactory(closes_at=NOW + timedelta(days=2))


def _invited(wave: Wave, *, responded: bool = False, remind_at: datetime = REMIND_AT, **fields) -> Invitation:
    defaults = {
        "send_at": NOW - timedelta(days=3),
        "status": Status.SENT,
        "sent_at": NOW - timedelta(days=3),
        "reminder_status": Status.PENDING,
    }
    return InvitationFactory(wave=wave, responded=responded, remind_at=remind_at, **(defaults | fields))


def _reminder_statuses(invitations: list[Invitation]) -> list[str]:
    by_id = dict(Invitation.objects.values_list("id", "reminder_status"))
    return [by_id[invitation.id] for invitation in invitations]


def test_reminders_go_once_and_only_to_those_who_have_not_answered(smtp_mail, wave):
    # given
    silent = [_invited(wave), _invited(wave)]
    answered = _invited(wave, responded=True)

    # when
    first = reminders_dispatch()
    second = reminders_dispatch()

    # then
    assert (first, second) == (2, 0)
    assert sorted(smtp_mail.recipients) == sorted(inv.employee.email for inv in silent)
    assert _reminder_statuses([*silent, answered]) == [Status.SENT, Status.SENT, Status.SKIPPED]
    assert list(Invitation.objects.filter(reminder_status=Status.SENT).values_list("reminded_at", flat=True)) == [
        NOW,
        NOW,
    ]
    assert all(message.message["Subject"].startswith("Reminder:") for message in smtp_mail.messages)


def test_a_reminder_carries_the_same_link_as_the_invitation(smtp_mail, wave):
    invitation = _invited(wave)

    reminders_dispatch()

    (message,) = smtp_mail.messages
    body = message.part("text/plain")
    token = body.split("/s/", 1)[1].split("/", 1)[0]
    assert token == invitation.token
    assert token_hash(token) == invitation.token_hash


def test_no_reminder_before_its_time(smtp_mail, wave, time_machine):
    # given
    invitation = _invited(wave, remind_at=NOW + timedelta(hours=1))

    # when / then: nothing yet
    assert reminders_dispatch() == 0
    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.PENDING]

    # and at its time it goes
    time_machine.move_to(NOW + timedelta(hours=1), tick=False)
    assert reminders_dispatch() == 1
    assert smtp_mail.recipients == [invitation.employee.email]


def test_no_reminder_after_the_wave_has_ended(smtp_mail, wave, time_machine):
    # given: the reminder was due, but nobody sent it before the wave's end
    invitation = _invited(wave)
    time_machine.move_to(wave.closes_at, tick=False)

    # when
    sent = reminders_dispatch()

    # then
    assert sent == 0
    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.SKIPPED]


def test_no_reminder_for_a_closed_wave(smtp_mail):
    invitation = _invited(WaveFactory(status=Wave.Status.CLOSED, closes_at=NOW + timedelta(days=1)))

    assert reminders_dispatch() == 0

    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.SKIPPED]


def test_a_reminder_waits_for_its_invitation_to_go_out(smtp_mail, wave):
    invitation = _invited(wave, status=Status.PENDING, sent_at=None, send_at=NOW + timedelta(minutes=5))

    assert reminders_send_batch() == 0

    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.PENDING]


def test_an_invitation_that_failed_gets_no_reminder(smtp_mail, wave):
    invitation = _invited(wave, status=Status.FAILED, sent_at=None, error="550 5.1.1 Mailbox unavailable")

    assert reminders_dispatch() == 0

    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.SKIPPED]


def test_someone_who_answers_after_the_skip_pass_is_still_not_reminded(smtp_mail, wave):
    # The batch itself re-checks `responded`, so an answer between dispatch and claim counts.
    invitation = _invited(wave, responded=True)

    assert reminders_send_batch() == 0

    assert smtp_mail.messages == []
    assert _reminder_statuses([invitation]) == [Status.PENDING]


def test_a_refused_reminder_fails_without_touching_the_invitation(smtp_mail, wave):
    # given
    refused, other = _invited(wave), _invited(wave)
    smtp_mail.refuse(refused.employee.email, "550 5.2.1 Mailbox disabled")

    # when
    assert reminders_dispatch() == 1

    # then
    assert smtp_mail.recipients == [other.employee.email]
    refused.refresh_from_db()
    assert (refused.reminder_status, refused.status, refused.error) == (
        Status.FAILED,
        Status.SENT,
        "550 5.2.1 Mailbox disabled",
    )
    assert refused.sent_at == NOW - timedelta(days=3)
