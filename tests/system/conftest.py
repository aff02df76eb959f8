"""Real processes for the system tests: a Celery worker (on an injected clock) and Celery beat.

Both run as subprocesses against the pytest test database (``transactional_db``, so what a test
writes is committed and visible to them) and Redis (``REDIS_URL``), and send e-mail to the
``smtp_server`` fixture. Each runs in its own process group, is killed with it at teardown, and
writes its output to a file in ``tmp_path`` that is appended to the report of a failed test.

The worker's "now" comes from ``clock`` (a file read by ``tests/system/clocked_worker.py``); beat
runs on the real clock and ticks every second (``PULSE_DISPATCH_EVERY`` /
``PULSE_HOUSEKEEPING_EVERY``), so a test moves the clock and then waits for the work to show up
in the database or at the SMTP server.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
from django.conf import settings

from tests.smtp import SMTPServer
from tests.system.processes import url_of_the_test_database

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
# A step waits this long at most: generous, for a loaded 2-core machine.
STEP_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
# A failed test's report shows the end of each process's output, not thousands of task lines.
REPORT_TAIL_LINES = 400

_PROCESSES = pytest.StashKey[list["Process"]]()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or an OOM kill would: no shutdown, no acks."""
        self.killed = True
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM to the process group (Celery's warm shutdown), then SIGKILL whatever is left."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)
        self.kill()

    def task_runs(self, task: str) -> int:
        """How many runs of ``task`` this worker has logged as finished."""
        return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", self.output()))


class Clock:
    """The worker's "now": an instant in a file that the worker follows before each task."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.instant: datetime | None = None

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock needs an aware instant")
        # Written aside and renamed, so the worker never reads half a line.
        scratch = self.path.with_suffix(".new")
        scratch.write_text(instant.isoformat())
        scratch.replace(self.path)
        self.instant = instant


@dataclass
class CeleryServices:
    """Starts the worker and beat, and waits for what they do."""

    env: dict[str, str]
    tmp_path: Path
    clock: Clock
    processes: list[Process] = field(default_factory=list)

    def use_broker(self, url: str) -> None:
        """Point the processes started from now on (and their cache) at another Redis."""
        self.env["REDIS_URL"] = url

    def start_worker(self, **env: str) -> Process:
        """A worker on the test's clock: one process (solo pool), so every task sees the clock."""
        if self.clock.instant is None:
            raise RuntimeError("set the clock before starting the worker")
        name = f"worker{sum(p.name.startswith('worker') for p in self.processes) + 1}"
        command = [
            *(sys.executable, "-m", "tests.system.clocked_worker"),
            *("--loglevel=INFO", "--pool=solo", f"--hostname={name}@%h"),
            # Nothing to gossip with; the broker (and the database) is all these tests need.
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
        worker = self._start(name, command, env)
        self.wait_until(lambda: " ready." in worker.output(), what=f"{name} to be ready")
        return worker

    def start_deployed_worker(self, **env: str) -> Process:
        """The worker as docker-compose.yml runs it: ``celery -A pulse worker``, prefork with one
        pool process per core, on the real clock."""
        name = f"worker{sum(p.name.startswith('worker') for p in self.processes) + 1}"
        command = [sys.executable, "-m", "celery", "-A", "pulse", "worker", "--loglevel=INFO", f"--hostname={name}@%h"]
        worker = self._start(name, command, env)
        self.wait_until(lambda: " ready." in worker.output(), what=f"{name} to be ready")
        return worker

    def start_beat(self, **env: str) -> Process:
        command = [sys.executable, "-m", "celery", "-A", "pulse", "beat", "--loglevel=INFO"]
        beat = self._start("beat", command, env)
        self.wait_until(lambda: "beat: Starting..." in beat.output(), what="beat to start")
        return beat

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> Process:
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                cwd=REPO,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() reaches every child
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def wait_until(self, condition: Callable[[], T], *, what: str, timeout: float = STEP_TIMEOUT) -> T:
        """Poll ``condition`` until it is truthy; fail early if a process that should run has died."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            for process in self.processes:
                if not process.killed and not process.alive():
                    pytest.fail(f"{process.name} exited with {process.popen.returncode} while waiting for {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:.0f} s")
            time.sleep(POLL_INTERVAL)

    def wait_for_runs(self, worker: Process, task: str, *, more: int) -> None:
        """Wait until ``worker`` has finished ``more`` further runs of ``task`` (beat ticks once a second).

        The worker takes tasks one at a time in the order they were queued, so once a later tick
        has run, whatever an earlier tick queued (a batch task) has run too.
        """
        target = worker.task_runs(task) + more
        self.wait_until(lambda: worker.task_runs(task) >= target, what=f"{more} more runs of {task}")

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def broker_purge(url: str) -> None:
    """Drop queued Celery messages: a "go look" left by an earlier run must not run in this one.

    Also the record of messages a killed worker took and never acknowledged (kombu's
    ``unacked`` keys), which a later worker would otherwise hand out again. Called before this
    test's processes start and after they are gone; the tests run one at a time against this Redis.
    """
    from pulse.celery import app

    with app.connection_for_write(url) as broker:
        channel = broker.default_channel
        channel.queue_purge(app.conf.task_default_queue)
        channel.client.delete(channel.unacked_key, channel.unacked_index_key)


@pytest.fixture
def clock(tmp_path: Path) -> Clock:
    return Clock(tmp_path / "clock")


@pytest.fixture
def celery_services(
    transactional_db: None, tmp_path: Path, smtp_server: SMTPServer, clock: Clock, request: pytest.FixtureRequest
) -> Iterator[CeleryServices]:
    """The worker and beat as the deployment runs them, pointed at this test's database and SMTP server.

    transactional_db: the processes see committed rows only; they are stopped (fixture order)
    before pytest-django empties the tables.
    """
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": url_of_the_test_database(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # The test process's keys, so that links made on either side are the same links and the
        # worker can seal what the tests submit.
        "PULSE_TOKEN_KEY": settings.PULSE_TOKEN_KEY,
        "PULSE_SEAL_KEY": settings.PULSE_SEAL_KEY,
        "PULSE_HTTPS": "0",
        "PULSE_BASE_URL": "https://pulse.example.com",
        "PULSE_DATA_DIR": str(tmp_path),
        "PULSE_DISPATCH_EVERY": "1",
        "PULSE_HOUSEKEEPING_EVERY": "1",
        "PULSE_TEST_CLOCK_FILE": str(clock.path),
        "EMAIL_TIMEOUT": "10",
        **smtp_server.env,
    }
    services = CeleryServices(env=env, tmp_path=tmp_path, clock=clock)
    request.node.stash[_PROCESSES] = services.processes
    broker_purge(settings.REDIS_URL)
    try:
        yield services
    finally:
        services.stop_all()
        broker_purge(settings.REDIS_URL)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed system test's report ends with what its processes said (clocks, tasks, tracebacks)."""
    report = yield
    if report.failed:
        for process in item.stash.get(_PROCESSES, []):
            lines = process.output().splitlines()[-REPORT_TAIL_LINES:]
            report.sections.append((f"{process.name} output (last {len(lines)} lines)", "\n".join(lines)))
    return report
