"""Dispatch when the mail server misbehaves: refusals, outages, dropped connections, and logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Retry

from surveys.dispatch import DEFER_STEP, MAX_ATTEMPTS, DispatchError, invitations_send_batch
from surveys.models import Invitation
from surveys.tasks import SMTP_RETRIES, invitations_send_batch_task
from tests.factories import InvitationFactory, WaveFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
Status = Invitation.SendStatus


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def _due(count: int) -> list[Invitation]:
    """``count`` due invitations of one wave, claimed in list order (oldest first)."""
    wave = WaveFactory()
    return [InvitationFactory(wave=wave, send_at=NOW - timedelta(minutes=count - i)) for i in range(count)]


def _statuses(invitations: list[Invitation]) -> list[str]:
    by_id = dict(Invitation.objects.values_list("id", "status"))
    return [by_id[invitation.id] for invitation in invitations]


def test_a_refused_address_fails_with_the_servers_reason_and_the_others_are_sent(smtp_mail):
    # given
    first, refused, last = _due(3)
    smtp_mail.refuse(refused.employee.email, f"550 5.1.1 <{refused.employee.email}>: Recipient address rejected")

    # when
    sent = invitations_send_batch()

    # then
    assert sent == 2
    assert smtp_mail.recipients == [first.employee.email, last.employee.email]
    assert smtp_mail.connections == 1
    assert _statuses([first, refused, last]) == [Status.SENT, Status.FAILED, Status.SENT]
    refused.refresh_from_db()
    assert refused.error == f"550 5.1.1 <{refused.employee.email}>: Recipient address rejected"
    assert (refused.lease_until, refused.sent_at) == (None, None)


def test_a_failed_address_is_not_tried_again(smtp_mail):
    (refused,) = _due(1)
    smtp_mail.refuse(refused.employee.email)
    invitations_send_batch()
    smtp_mail.heal()

    assert invitations_send_batch() == 0

    assert smtp_mail.messages == []
    assert _statuses([refused]) == [Status.FAILED]


def test_a_temporarily_refused_address_is_deferred_and_sent_later(smtp_mail, time_machine):
    # given
    greylisted, other = _due(2)
    smtp_mail.refuse(greylisted.employee.email, "450 4.2.0 Greylisted, try again later")

    # when
    assert invitations_send_batch() == 1

    # then: the rest of the batch went out, the refused row waits a while
    assert smtp_mail.recipients == [other.employee.email]
    greylisted.refresh_from_db()
    assert (greylisted.status, greylisted.send_at) == (Status.PENDING, NOW + DEFER_STEP)
    assert greylisted.error == "450 4.2.0 Greylisted, try again later"
    assert invitations_send_batch() == 0  # not before its new time

    # and when the server accepts it later
    smtp_mail.heal()
    time_machine.move_to(NOW + DEFER_STEP, tick=False)
    assert invitations_send_batch() == 1
    assert smtp_mail.recipients == [other.employee.email, greylisted.employee.email]
    greylisted.refresh_from_db()
    assert (greylisted.status, greylisted.error, greylisted.attempts) == (Status.SENT, "", 2)


def test_a_message_rejected_at_data_fails_with_the_reason(smtp_mail):
    accepted, rejected = _due(2)
    smtp_mail.fail_after(1, "554 5.7.1 Message rejected as spam")

    assert invitations_send_batch() == 1

    assert smtp_mail.recipients == [accepted.employee.email]
    assert _statuses([accepted, rejected]) == [Status.SENT, Status.FAILED]
    rejected.refresh_from_db()
    assert rejected.error == "554 5.7.1 Message rejected as spam"


def test_server_down_marks_nothing_sent_and_hands_every_row_back(smtp_mail):
    # given
    invitations = _due(3)
    smtp_mail.stop()

    # when
    with pytest.raises(DispatchError, match="cannot connect to the mail server"):
        invitations_send_batch()

    # then
    assert _statuses(invitations) == [Status.PENDING] * 3
    assert list(Invitation.objects.values_list("sent_at", "lease_until").distinct()) == [(None, None)]

    # and once the server is back, all of them go out
    smtp_mail.start()
    assert invitations_send_batch() == 3
    assert sorted(smtp_mail.recipients) == sorted(inv.employee.email for inv in invitations)


def test_batch_task_asks_celery_to_retry_with_backoff_while_the_server_is_down(smtp_mail):
    # given
    (invitation,) = _due(1)
    smtp_mail.stop()

    # when: run as a worker would run it (eagerly, so the retry request surfaces here)
    with pytest.raises(Retry) as retry:
        invitations_send_batch_task.apply()

    # then: a retry of the SMTP failure, after a jittered backoff of at most 30 s at first;
    # the invitation is pending again, and a try that never reached the server is no attempt
    assert isinstance(retry.value.exc, DispatchError)
    assert 0 <= retry.value.when <= 30
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts, invitation.lease_until) == (Status.PENDING, 0, None)


def test_after_its_last_retry_a_batch_task_gives_up_quietly_and_the_invitation_stays_due(smtp_mail, caplog):
    # given the server is down, and the task has used its retries
    (invitation,) = _due(1)
    smtp_mail.stop()

    # when it runs once more
    result = invitations_send_batch_task.apply(retries=SMTP_RETRIES)

    # then it ends without an error (beat's next dispatch tries again), saying why
    assert (result.state, result.result) == ("SUCCESS", 0)
    assert "giving up retrying, beat's next dispatch tries again" in caplog.text
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (Status.PENDING, 0)


def test_a_long_outage_does_not_use_up_the_tries_of_a_greylisted_address(smtp_mail):
    # given a server down through many batches (more than MAX_ATTEMPTS of them)
    (invitation,) = _due(1)
    smtp_mail.stop()
    for _ in range(MAX_ATTEMPTS + 2):
        with pytest.raises(DispatchError):
            invitations_send_batch()

    # when it comes back and greylists the address once
    smtp_mail.start()
    smtp_mail.refuse(invitation.employee.email, "450 4.7.1 Greylisted, try again later")
    assert invitations_send_batch() == 0

    # then the invitation is deferred after its first real try, not given up
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (Status.PENDING, 1)
    assert invitation.send_at == NOW + DEFER_STEP


def test_a_connection_dropped_mid_batch_keeps_the_sent_and_hands_back_the_rest(smtp_mail):
    # given
    invitations = _due(5)
    smtp_mail.drop_after(2)

    # when
    with pytest.raises(DispatchError, match="connection failed: SMTPServerDisconnected"):
        invitations_send_batch()

    # then
    assert smtp_mail.recipients == [inv.employee.email for inv in invitations[:2]]
    assert _statuses(invitations) == [Status.SENT] * 2 + [Status.PENDING] * 3

    # and the next batch sends only the rest
    smtp_mail.heal()
    assert invitations_send_batch() == 3
    assert smtp_mail.recipients == [inv.employee.email for inv in invitations]


def test_a_temporary_failure_at_data_hands_back_the_rest(smtp_mail):
    invitations = _due(3)
    smtp_mail.fail_after(1, "451 4.3.0 Local problem, try again later")

    with pytest.raises(DispatchError, match="deferred a message"):
        invitations_send_batch()

    assert smtp_mail.recipients == [invitations[0].employee.email]
    assert _statuses(invitations) == [Status.SENT, Status.PENDING, Status.PENDING]
    assert list(Invitation.objects.filter(status=Status.PENDING).values_list("error", flat=True)) == ["", ""]


def test_logs_never_contain_a_token(smtp_mail, caplog):
    # given: a batch that sends, is refused, and then loses the server
    caplog.set_level(logging.DEBUG)
    invitations = _due(4)
    smtp_mail.refuse(invitations[1].employee.email)
    smtp_mail.drop_after(1)

    # when
    with pytest.raises(DispatchError):
        invitations_send_batch()
    smtp_mail.heal()
    invitations_send_batch()

    # then
    assert len(smtp_mail.messages) == 3
    logged = "\n".join(caplog.messages) + caplog.text
    assert "refused by the mail server" in logged  # the log did record what happened
    for invitation in invitations:
        assert invitation.token not in logged
