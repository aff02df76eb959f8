"""Dispatch of invitations through a real SMTP server (tests/smtp.py): what is due, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app

from surveys.dispatch import invitations_dispatch, invitations_send_batch
from surveys.models import Invitation, Wave
from surveys.tokens import token_hash
from tests.factories import InvitationFactory, WaveFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
Status = Invitation.SendStatus


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def eager(monkeypatch):
    """Run dispatch in-process, as the embedded default does, even when a broker is configured."""
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)


def _link_token(message) -> str:
    body = message.part("text/plain")
    return body.split("/s/", 1)[1].split("/", 1)[0]


def test_send_batch_sends_only_due_invitations(smtp_mail):
    # given
    wave = WaveFactory()
    overdue = InvitationFactory(wave=wave, send_at=NOW - timedelta(hours=1))
    due_now = InvitationFactory(wave=wave, send_at=NOW)
    later = InvitationFactory(wave=wave, send_at=NOW + timedelta(minutes=1))

    # when
    sent = invitations_send_batch()

    # then
    assert sent == 2
    assert sorted(smtp_mail.recipients) == sorted([overdue.employee.email, due_now.employee.email])
    for invitation in (overdue, due_now):
        invitation.refresh_from_db()
        assert (invitation.status, invitation.sent_at, invitation.lease_until) == (Status.SENT, NOW, None)
        assert invitation.attempts == 1
    later.refresh_from_db()
    assert (later.status, later.sent_at, later.attempts) == (Status.PENDING, None, 0)


def test_a_batch_goes_over_one_smtp_connection(smtp_mail):
    InvitationFactory.create_batch(5, wave=WaveFactory(), send_at=NOW)

    assert invitations_send_batch() == 5

    assert len(smtp_mail.messages) == 5
    assert smtp_mail.connections == 1


def test_batch_takes_at_most_its_limit_oldest_first(smtp_mail):
    wave = WaveFactory()
    invitations = [InvitationFactory(wave=wave, send_at=NOW - timedelta(minutes=m)) for m in range(5)]

    assert invitations_send_batch(limit=2) == 2

    oldest = [invitations[4].employee.email, invitations[3].employee.email]
    assert sorted(smtp_mail.recipients) == sorted(oldest)
    assert Invitation.objects.filter(status=Status.PENDING).count() == 3


def test_each_invitation_is_sent_once_when_dispatch_runs_twice(smtp_mail, eager):
    InvitationFactory.create_batch(3, wave=WaveFactory(), send_at=NOW)

    first = invitations_dispatch()
    second = invitations_dispatch()

    assert (first, second) == (3, 0)
    assert len(smtp_mail.recipients) == 3
    assert len(set(smtp_mail.recipients)) == 3
    assert Invitation.objects.filter(status=Status.SENT).count() == 3


def test_eager_dispatch_sends_every_due_batch(smtp_mail, eager, settings):
    settings.PULSE_DISPATCH_BATCH = 2
    InvitationFactory.create_batch(5, wave=WaveFactory(), send_at=NOW)

    assert invitations_dispatch() == 5

    assert len(set(smtp_mail.recipients)) == 5
    assert smtp_mail.connections == 3  # one per batch of two


def test_sent_message_carries_the_link_of_the_stored_hash(smtp_mail, settings):
    settings.PULSE_BASE_URL = "https://pulse.example.org"
    invitation = InvitationFactory(send_at=NOW)

    invitations_send_batch()

    (message,) = smtp_mail.messages
    assert f"https://pulse.example.org/s/{invitation.token}/" in message.part("text/plain")
    assert token_hash(_link_token(message)) == invitation.token_hash
    assert message.message["X-Pulse-Wave"] == str(invitation.wave_id)


def test_a_scheduled_wave_opens_when_its_first_invitation_is_sent(smtp_mail):
    # given
    starting = WaveFactory(status=Wave.Status.SCHEDULED)
    InvitationFactory(wave=starting, send_at=NOW)
    waiting = WaveFactory(status=Wave.Status.SCHEDULED)
    InvitationFactory(wave=waiting, send_at=NOW + timedelta(hours=1))

    # when
    invitations_send_batch()

    # then
    starting.refresh_from_db()
    waiting.refresh_from_db()
    assert (starting.status, waiting.status) == (Wave.Status.OPEN, Wave.Status.SCHEDULED)


def test_invitations_of_a_closed_or_ended_wave_are_not_sent(smtp_mail):
    closed = InvitationFactory(wave=WaveFactory(status=Wave.Status.CLOSED), send_at=NOW - timedelta(days=1))
    ended = InvitationFactory(wave=WaveFactory(closes_at=NOW), send_at=NOW - timedelta(days=1))

    assert invitations_send_batch() == 0

    assert smtp_mail.messages == []
    assert smtp_mail.connections == 0  # nothing claimed, so no connection either
    for invitation in (closed, ended):
        invitation.refresh_from_db()
        assert (invitation.status, invitation.attempts) == (Status.PENDING, 0)


def test_an_expired_lease_is_sent_again_with_the_same_link(smtp_mail):
    # given: a worker claimed the row and died
    invitation = InvitationFactory(
        send_at=NOW - timedelta(hours=1),
        status=Status.SENDING,
        attempts=1,
        lease_until=NOW - timedelta(seconds=1),
    )

    # when
    sent = invitations_send_batch()

    # then
    assert sent == 1
    (message,) = smtp_mail.messages
    assert _link_token(message) == invitation.token
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts, invitation.lease_until) == (Status.SENT, 2, None)


def test_a_live_lease_is_left_to_its_worker(smtp_mail):
    invitation = InvitationFactory(
        send_at=NOW - timedelta(minutes=1), status=Status.SENDING, attempts=1, lease_until=NOW + timedelta(minutes=5)
    )

    assert invitations_send_batch() == 0

    assert smtp_mail.messages == []
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (Status.SENDING, 1)


@pytest.mark.services
def test_dispatch_with_a_broker_enqueues_one_task_per_batch_after_commit(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    # given: five due invitations, batches of two, a real Redis broker and no worker
    import redis

    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    settings.PULSE_DISPATCH_BATCH = 2
    InvitationFactory.create_batch(5, wave=WaveFactory(), send_at=NOW)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    current_app.control.purge()

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        enqueued = invitations_dispatch()
        queued_before_commit = broker.llen("celery")
    for callback in callbacks:
        callback()

    # then
    try:
        assert (enqueued, len(callbacks), queued_before_commit) == (3, 3, 0)
        assert broker.llen("celery") == 3
        assert Invitation.objects.filter(status=Status.PENDING).count() == 5  # the tasks do the sending
    finally:
        current_app.control.purge()


def test_a_batch_costs_a_few_queries_whatever_its_size(smtp_mail, django_assert_num_queries):
    # given: 60 due invitations of an open wave, recorded as sent every 25
    InvitationFactory.create_batch(60, wave=WaveFactory(), send_at=NOW)

    # when / then: the claim (savepoint, the due ids FOR UPDATE: expired leases, then pending as
    # the batch isn't full; the rows with their details; UPDATE; release), the survey's items for
    # the whole batch, and one UPDATE per 25 sent (25 + 25 + 10)
    with django_assert_num_queries(6 + 1 + 3):
        assert invitations_send_batch() == 60


@pytest.mark.services
def test_a_full_batch_task_enqueues_its_successor_instead_of_waiting_for_beat(
    smtp_mail, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # given: three due, batches of two, a real Redis broker and no worker
    import redis

    from surveys.tasks import invitations_send_batch_task

    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    settings.PULSE_DISPATCH_BATCH = 2
    InvitationFactory.create_batch(3, wave=WaveFactory(), send_at=NOW)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    current_app.control.purge()

    try:
        # when: the first batch is full, the second is not
        with django_capture_on_commit_callbacks(execute=True):
            first = invitations_send_batch_task.apply().get()
        queued_after_first = broker.llen("celery")
        with django_capture_on_commit_callbacks(execute=True):
            second = invitations_send_batch_task.apply().get()

        # then
        assert (first, queued_after_first, second, broker.llen("celery")) == (2, 1, 1, 1)
        assert len(set(smtp_mail.recipients)) == 3
    finally:
        current_app.control.purge()
