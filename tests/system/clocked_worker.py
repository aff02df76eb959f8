"""Test-only launcher: a normal Celery worker whose clock is read from a file.

    PULSE_TEST_CLOCK_FILE=/tmp/clock python -m tests.system.clocked_worker --pool=solo ...

The file holds one ISO 8601 instant. The worker starts travelling to it (time_machine, ticking
from there at the real pace), and before each task re-reads the file and jumps when the test
has written a new instant. So a system test can put "now" on a given day and hour without any
hook in the product: the worker, its database writes and its e-mails' Date headers all see the
injected time, while beat and Redis keep the real one (beat only says "go look"; the database,
read under the worker's clock, decides what is due).

time_machine patches this process only. With ``--pool=solo`` every task runs here; a prefork
child forked after the travel started would inherit the patch and follow the file through the
same signal, but the system tests need no more than one task at a time.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import time_machine
from celery.signals import task_prerun

CLOCK_FILE_VARIABLE = "PULSE_TEST_CLOCK_FILE"

logger = logging.getLogger("clocked_worker")


def clock_read(path: Path) -> datetime:
    instant = datetime.fromisoformat(path.read_text().strip())
    if instant.tzinfo is None:
        raise ValueError(f"{path}: the clock must be an aware instant, e.g. 2025-06-10T01:00:30+00:00")
    return instant


class FileClock:
    """Keeps this process's time on the instant in the clock file, moving when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.instant = clock_read(path)
        self.traveller = time_machine.travel(self.instant, tick=True).start()

    def follow(self, **_: Any) -> None:
        instant = clock_read(self.path)
        if instant != self.instant:
            self.traveller.move_to(instant)
            self.instant = instant
            logger.info("clock moved to %s", instant.isoformat())


def main(argv: list[str]) -> None:
    clock = FileClock(Path(os.environ[CLOCK_FILE_VARIABLE]))
    # Strong reference: the handler is a bound method of an object nothing else keeps.
    task_prerun.connect(clock.follow, weak=False)

    from pulse.celery import app

    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
