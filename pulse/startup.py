"""Start-up check shared by every Pulse process: manage.py, the Celery worker and beat, gunicorn.

Settings are read once, when a process starts. A bad one must stop it with one line naming the
variable and the reason, and exit code 2, never a traceback in the middle of a worker's or
beat's log (or, for gunicorn, a worker that fails to boot over and over).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIGURATION_ERROR_EXIT = 2


def settings_or_exit() -> None:
    """Load the Django settings now; on a bad one, say which and exit with code 2."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load the settings now, to report bad ones plainly
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"pulse: configuration error: {exc}\n")
        sys.exit(CONFIGURATION_ERROR_EXIT)


def worker_seal_key_or_exit() -> None:
    """A Celery worker closes waves, and closing seals them: it must hold PULSE_SEAL_KEY, or
    every close would fail days later instead of now."""
    from django.conf import settings

    if not settings.PULSE_SEAL_KEY:
        sys.stderr.write(
            "pulse: configuration error: PULSE_SEAL_KEY must be set for a Celery worker (it seals the waves "
            "it closes); PULSE_SEAL_PUBLIC_KEY alone is for the web tier\n"
        )
        sys.exit(CONFIGURATION_ERROR_EXIT)


def beat_schedule_writable_or_exit() -> None:
    """Beat rewrites its schedule file (in PULSE_DATA_DIR) on every tick: one it can't write
    (left behind by a beat run as another user, say) stops it now, with the file named."""
    from django.conf import settings

    for path in Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent.glob(
        Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).name + "*"
    ):
        if not os.access(path, os.W_OK):
            sys.stderr.write(
                f"pulse: configuration error: beat's schedule file {str(path)!r} (in PULSE_DATA_DIR) "
                "is not writable by this user\n"
            )
            sys.exit(CONFIGURATION_ERROR_EXIT)
