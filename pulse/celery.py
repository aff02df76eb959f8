from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")


def _started_as_celery_command() -> bool:
    """``celery -A pulse worker|beat ...`` or ``python -m celery ...``: Celery loads the settings
    lazily, deep inside its start-up, where a bad one would end as a traceback in the log."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "celery" or program.parts[-2:] == ("celery", "__main__.py")


if _started_as_celery_command():
    from .startup import beat_schedule_writable_or_exit, settings_or_exit, worker_seal_key_or_exit

    settings_or_exit()
    if "worker" in sys.argv[1:]:
        worker_seal_key_or_exit()
    if "beat" in sys.argv[1:]:
        beat_schedule_writable_or_exit()

app = Celery("pulse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
