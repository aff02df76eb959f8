"""Faults in delivery, with real processes (tests/system/conftest.py): a worker killed in the middle
of a batch, and Redis going away. The invitation table is the outbox, so neither loses an
invitation (DESIGN.md, Flows): at-least-once, with duplicates only from the batch that was in flight.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from surveys.dispatch import LEASE, MARK_SENT_EVERY
from surveys.models import Invitation
from tests.factories import EmployeeFactory, InvitationFactory, TeamFactory, WaveFactory
from tests.system.processes import free_port

pytestmark = pytest.mark.services

NOW = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # the worker's clock
DISPATCH = "surveys.tasks.invitations_dispatch_task"
Status = Invitation.SendStatus


def due_invitations(count: int) -> set[str]:
    """``count`` invitations of one open wave, due a minute before NOW; returns the addresses."""
    team = TeamFactory()
    wave = WaveFactory(opens_on=NOW.date(), closes_at=NOW + timedelta(days=5))
    employees = EmployeeFactory.create_batch(count, team=team)
    Invitation.objects.bulk_create(
        InvitationFactory.build(wave=wave, employee=employee, send_at=NOW - timedelta(minutes=1))
        for employee in employees
    )
    return {employee.email for employee in employees}


def statuses() -> Counter[str]:
    return Counter(Invitation.objects.values_list("status", flat=True))


def test_a_worker_killed_mid_batch_loses_no_invitation(celery_services, smtp_server):
    # given 300 due invitations, a slow mail server, and a worker with beat
    addresses = due_invitations(300)
    smtp_server.slow_down(0.02)
    celery_services.clock.set(NOW)
    first = celery_services.start_worker()
    celery_services.start_beat()

    # when the worker is killed (SIGKILL, no shutdown) while it sends its first batch
    celery_services.wait_until(lambda: len(smtp_server.messages) >= 60, what="60 messages")
    first.kill()

    # then its unfinished rows stay claimed under its lease; nothing else is lost or done
    leased = set(Invitation.objects.filter(status=Status.SENDING).values_list("employee__email", flat=True))
    at_kill = statuses()
    assert leased
    assert at_kill[Status.SENT] + len(leased) + at_kill[Status.PENDING] == 300

    # when a new worker starts, on the same clock
    second = celery_services.start_worker()
    celery_services.wait_until(
        lambda: statuses()[Status.SENT] == 300 - len(leased), what="every unclaimed invitation to be sent"
    )
    celery_services.wait_for_runs(second, DISPATCH, more=2)

    # then it sends everything but the dead worker's rows, which wait for their lease
    assert set(Invitation.objects.filter(status=Status.SENDING).values_list("employee__email", flat=True)) == leased

    # when the clock passes the lease
    celery_services.clock.set(NOW + LEASE + timedelta(minutes=5))
    celery_services.wait_until(lambda: statuses() == {Status.SENT: 300}, what="every invitation to be sent")

    # then everyone got their invitation; only the killed batch's last unrecorded group went twice
    received = Counter(smtp_server.recipients)
    assert set(received) == addresses
    twice = {address for address, times in received.items() if times > 1}
    assert twice <= leased
    assert max(received.values()) <= 2
    assert sum(received.values()) - 300 <= MARK_SENT_EVERY


class RedisServer:
    """A private, throwaway Redis (no persistence) that a test can take down and bring back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start, or restart on the same port; nothing survives a restart."""
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            with suppress(redis.ConnectionError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {self.port} did not come up")
            time.sleep(0.05)

    def kill(self) -> None:
        """Go away at once, as a crashed or restarted Redis does: queued messages are lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary to take a Redis down and back up")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


# How long Redis stays away: longer than Celery's first reconnection attempts (2 s, then 4 s).
OUTAGE_SECONDS = 4


def test_a_redis_outage_loses_no_invitation(private_redis, celery_services, smtp_server):
    # given 100 due invitations, sent in batches of 25 by a worker and beat on a Redis of their own
    addresses = due_invitations(100)
    smtp_server.slow_down(0.05)
    celery_services.use_broker(private_redis.url)
    celery_services.clock.set(NOW)
    worker = celery_services.start_worker(PULSE_DISPATCH_BATCH="25")
    celery_services.start_beat()

    # when Redis goes away while the first batch is being sent (taking the queued batches with it)
    celery_services.wait_until(lambda: len(smtp_server.messages) >= 5, what="the first messages")
    private_redis.kill()
    time.sleep(OUTAGE_SECONDS)  # the outage itself: nothing to wait for but time
    sent_during_outage = statuses()[Status.SENT]
    # ... and comes back, empty
    private_redis.start()

    # then the worker and beat reconnect, and every invitation is sent, each exactly once
    celery_services.wait_until(lambda: statuses() == {Status.SENT: 100}, what="every invitation to be sent")
    assert sent_during_outage < 100
    assert Counter(smtp_server.recipients) == dict.fromkeys(addresses, 1)
    assert "Connection to broker lost" in worker.output()
