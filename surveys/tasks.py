"""Celery tasks of the write side: thin, idempotent, and fed by the database.

Beat runs the periodic tasks (settings.CELERY_BEAT_SCHEDULE). Each asks the database what is
due; running one twice, or on two workers at once, does no harm. The services never import
this module: they enqueue by the names in ``surveys/task_names.py``, registered here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from . import task_names
from .dispatch import (
    DispatchError,
    invitations_dispatch,
    invitations_send_batch,
    reminders_dispatch,
    reminders_send_batch,
)
from .services import employees_departures_apply
from .waves import waves_close_due, waves_materialise

logger = logging.getLogger(__name__)


@shared_task(name=task_names.WAVES_MATERIALISE)
def waves_materialise_task() -> int:
    return len(waves_materialise())


@shared_task(name=task_names.WAVES_CLOSE_DUE)
def waves_close_due_task() -> int:
    return len(waves_close_due())


@shared_task(name=task_names.EMPLOYEES_DEPARTURES)
def employees_departures_task() -> int:
    return employees_departures_apply()


@shared_task(name=task_names.INVITATIONS_DISPATCH)
def invitations_dispatch_task() -> int:
    return invitations_dispatch()


@shared_task(name=task_names.REMINDERS_DISPATCH)
def reminders_dispatch_task() -> int:
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


@shared_task(bind=True, name=task_names.INVITATIONS_SEND_BATCH)
def invitations_send_batch_task(self: Task) -> int:
    return _send_or_retry(self, lambda: invitations_send_batch(chain=True))


@shared_task(bind=True, name=task_names.REMINDERS_SEND_BATCH)
def reminders_send_batch_task(self: Task) -> int:
    return _send_or_retry(self, lambda: reminders_send_batch(chain=True))
