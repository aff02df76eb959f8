"""Several workers sending at once on PostgreSQL: row locks, not luck, keep each e-mail single."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from surveys.dispatch import invitations_send_batch
from surveys.models import Employee, Invitation
from surveys.tokens import token_for, token_hash
from tests.factories import TeamFactory, WaveFactory

WORKERS = 4
INVITATIONS = 400
BATCH = 20


def _due_invitations(count: int) -> list[Invitation]:
    team = TeamFactory(name="Acme")
    wave = WaveFactory()
    employees = Employee.objects.bulk_create(
        Employee(email=f"worker{i}@example.com", name=f"Worker {i}", team=team, timezone="UTC") for i in range(count)
    )
    send_at = timezone.now() - timedelta(minutes=1)
    rows = []
    for employee in employees:
        pk = uuid.uuid4()
        rows.append(
            Invitation(
                id=pk, wave=wave, employee=employee, team=team, token_hash=token_hash(token_for(pk)), send_at=send_at
            )
        )
    return Invitation.objects.bulk_create(rows)


@pytest.mark.postgres
def test_concurrent_workers_send_every_invitation_exactly_once(transactional_db, smtp_mail):
    # given
    invitations = _due_invitations(INVITATIONS)
    start = threading.Barrier(WORKERS)
    sent_by_worker = [0] * WORKERS
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait()
            while sent := invitations_send_batch(limit=BATCH):
                sent_by_worker[index] += sent
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then
    assert errors == []
    assert sum(sent_by_worker) == INVITATIONS
    received = Counter(smtp_mail.recipients)
    assert set(received) == {invitation.employee.email for invitation in invitations}
    assert set(received.values()) == {1}
    assert dict(Counter(Invitation.objects.values_list("status", flat=True))) == {Invitation.SendStatus.SENT: 400}
    assert set(Invitation.objects.values_list("attempts", flat=True)) == {1}
