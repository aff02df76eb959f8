"""A batch's lease on the rows it claimed (surveys/dispatch.py): short, renewed while it sends,
checked on renewal, and never outlived by one message, so that a killed worker's rows come back
within a minute while a live sender's are never sent by anyone else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from surveys import dispatch
from surveys.dispatch import (
    LEASE,
    LEASE_RENEW_EVERY,
    MESSAGE_DEADLINE,
    DispatchError,
    invitations_send_batch,
)
from surveys.models import Invitation
from surveys.waves import wave_close
from tests.factories import InvitationFactory, WaveFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
Status = Invitation.SendStatus


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def due(count: int) -> list[Invitation]:
    wave = WaveFactory(opens_on=NOW.date(), closes_at=NOW + timedelta(days=5))
    return [InvitationFactory(wave=wave, send_at=NOW - timedelta(minutes=count - n)) for n in range(count)]


def before_each_message(monkeypatch, action) -> list[int]:
    """Run ``action(n)`` just before the n-th message of a batch is built (n from 0); returns the calls."""
    calls: list[int] = []
    token_for = dispatch.token_for

    def spying(invitation_id):
        action(len(calls))
        calls.append(len(calls))
        return token_for(invitation_id)

    monkeypatch.setattr(dispatch, "token_for", spying)
    return calls


def test_the_lease_leaves_room_for_a_renewal_and_a_whole_message():
    # A live sender renews at least every LEASE_RENEW_EVERY, between messages, and a message is
    # cut off at MESSAGE_DEADLINE: the lease must outlast both with slack, and stay short, so
    # that a killed worker's rows are due again within a minute.
    assert LEASE_RENEW_EVERY + MESSAGE_DEADLINE + timedelta(seconds=15) <= LEASE <= timedelta(minutes=1)


def test_a_claim_marks_its_rows_with_its_own_claim_and_a_short_lease(monkeypatch, smtp_mail):
    # given
    due(3)
    seen: list[tuple] = []
    before_each_message(
        monkeypatch,
        lambda n: seen.append(tuple(Invitation.objects.values_list("status", "claim", "lease_until").distinct())),
    )

    # when
    assert invitations_send_batch() == 3

    # then: while it sent, all three rows were sending under one claim, leased for LEASE
    ((status, claim, lease_until),) = seen[0]
    assert (status, lease_until) == (Status.SENDING, NOW + LEASE)
    assert isinstance(claim, uuid.UUID)
    # and once sent, neither claim nor lease is left
    assert list(Invitation.objects.values_list("status", "claim", "lease_until").distinct()) == [
        (Status.SENT, None, None)
    ]


def test_a_long_batch_renews_its_lease_while_it_sends(monkeypatch, smtp_mail):
    # given: a slow relay, and a renewal due before every message
    monkeypatch.setattr(dispatch, "LEASE_RENEW_EVERY", timedelta(0))
    smtp_mail.slow_down(0.05)
    invitations = due(4)
    last = invitations[-1]
    leases: list[datetime] = []
    before_each_message(monkeypatch, lambda n: leases.append(Invitation.objects.get(pk=last.pk).lease_until))

    # when
    assert invitations_send_batch() == 4

    # then: the unsent rows' lease moved on with the batch's clock, at least by the time spent sending
    assert leases[0] >= NOW + LEASE
    assert leases[3] >= leases[0] + timedelta(seconds=3 * 0.05)
    assert leases == sorted(leases)


def test_rows_another_worker_took_over_are_not_sent_again(monkeypatch, smtp_mail):
    # given: while the batch sends its first message, another worker takes over the other rows
    # (as it would if this one had stalled past its lease)
    monkeypatch.setattr(dispatch, "LEASE_RENEW_EVERY", timedelta(0))
    invitations = due(5)
    other_claim = uuid.uuid4()

    def taken_over(n: int) -> None:
        if n == 0:
            Invitation.objects.exclude(pk=invitations[0].pk).update(claim=other_claim, lease_until=NOW + LEASE)

    before_each_message(monkeypatch, taken_over)

    # when
    sent = invitations_send_batch()

    # then: this batch sent only the row it still held, and left the others to their new holder
    assert sent == 1
    assert smtp_mail.recipients == [invitations[0].employee.email]
    others = Invitation.objects.exclude(pk=invitations[0].pk)
    assert set(others.values_list("status", "claim", "lease_until")) == {(Status.SENDING, other_claim, NOW + LEASE)}


def test_a_wave_closed_while_its_batch_sends_stops_the_rest_of_the_batch(monkeypatch, smtp_mail):
    # given: the wave is closed while the first message goes out
    monkeypatch.setattr(dispatch, "LEASE_RENEW_EVERY", timedelta(0))
    invitations = due(4)
    wave = invitations[0].wave

    def closed(n: int) -> None:
        if n == 0:
            wave_close(wave=wave, now=NOW)

    before_each_message(monkeypatch, closed)

    # when
    sent = invitations_send_batch()

    # then: the message under way went out, no other one did, and the batch could record
    # nothing after the seal (which took its claim away): every row reads skipped
    assert sent == 1
    assert smtp_mail.recipients == [invitations[0].employee.email]
    assert set(Invitation.objects.values_list("status", "claim", "lease_until")) == {(Status.SKIPPED, None, None)}


def test_a_message_past_its_deadline_is_cut_off_and_the_batch_handed_back(monkeypatch, smtp_mail):
    # given: a relay that takes 5 s to answer DATA (within EMAIL_TIMEOUT, 10 s here), and a 0.3-s deadline
    monkeypatch.setattr(dispatch, "MESSAGE_DEADLINE", timedelta(seconds=0.3))
    smtp_mail.slow_down(5)
    due(3)

    # when / then: the first message is cut off, which fails the batch like a dropped connection
    with pytest.raises(DispatchError, match=r"the mail server connection failed: no answer within 0\.3 s"):
        invitations_send_batch()

    # and every row is pending again, no longer claimed, for the task's retry
    assert list(Invitation.objects.values_list("status", "claim", "lease_until", "sent_at").distinct()) == [
        (Status.PENDING, None, None, None)
    ]


def test_abandoned_rows_are_claimed_before_pending_ones(smtp_mail):
    # given: a row a dead worker left (lease run out) and a pending row due even earlier
    wave = WaveFactory(opens_on=NOW.date(), closes_at=NOW + timedelta(days=5))
    pending = InvitationFactory(wave=wave, send_at=NOW - timedelta(hours=2))
    abandoned = InvitationFactory(
        wave=wave,
        send_at=NOW - timedelta(minutes=5),
        status=Status.SENDING,
        claim=uuid.uuid4(),
        lease_until=NOW - timedelta(seconds=1),
        attempts=1,
    )

    # when: a batch of one
    assert invitations_send_batch(limit=1) == 1

    # then: the dead worker's row went first (it has waited longest for its sender)
    assert smtp_mail.recipients == [abandoned.employee.email]
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
