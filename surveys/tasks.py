"""Celery tasks of the write side: thin, idempotent, and fed by the database.

Beat runs the four periodic tasks (settings.CELERY_BEAT_SCHEDULE). Each asks the database
what is due; running one twice, or on two workers at once, does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from .dispatch import DispatchError

logger = logging.getLogger(__name__)


@shared_task(name="surveys.tasks.waves_materialise_task")
def waves_materialise_task() -> int:
    from .waves import waves_materialise

    return len(waves_materialise())


@shared_task(name="surveys.tasks.waves_close_due_task")
def waves_close_due_task() -> int:
    from .waves import waves_close_due

    return len(waves_close_due())


@shared_task(name="surveys.tasks.employees_departures_task")
def employees_departures_task() -> int:
    from .services import employees_departures_apply

    return employees_departures_apply()


@shared_task(name="surveys.tasks.invitations_dispatch_task")
def invitations_dispatch_task() -> int:
    from .dispatch import invitations_dispatch

    return invitations_dispatch()


@shared_task(name="surveys.tasks.reminders_dispatch_task")
def reminders_dispatch_task() -> int:
    from .dispatch import reminders_dispatch

    return reminders_dispatch()


# A batch that lost its SMTP connection has handed its rows back; retrying with backoff (and
# beat's next dispatch) sends them once the server is back. The rows are in the database, so
# giving up after the last retry loses nothing: it is a warning, not a task failure.
SMTP_RETRIES = 5
SMTP_BACKOFF, SMTP_BACKOFF_MAX = 30, 10 * 60


def _send_or_retry(task: Task, send: Callable[[], int]) -> int:
    try:
        return send()
    except DispatchError as exc:
        if task.request.retries >= SMTP_RETRIES:
            logger.warning("%s: %s; giving up retrying, beat's next dispatch tries again", task.name, exc)
            return 0
        countdown = get_exponential_backoff_interval(
            factor=SMTP_BACKOFF, retries=task.request.retries, maximum=SMTP_BACKOFF_MAX, full_jitter=True
        )
        raise task.retry(exc=exc, countdown=countdown, max_retries=SMTP_RETRIES) from exc


@shared_task(bind=True, name="surveys.tasks.invitations_send_batch_task")
def invitations_send_batch_task(self: Task) -> int:
    from .dispatch import invitations_send_batch

    return _send_or_retry(self, lambda: invitations_send_batch(chain=True))


@shared_task(bind=True, name="surveys.tasks.reminders_send_batch_task")
def reminders_send_batch_task(self: Task) -> int:
    from .dispatch import reminders_send_batch

    return _send_or_retry(self, lambda: reminders_send_batch(chain=True))
