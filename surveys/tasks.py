"""Celery tasks of the write side: thin, idempotent, and fed by the database.

Beat runs the four periodic tasks (settings.CELERY_BEAT_SCHEDULE). Each asks the database
what is due; running one twice, or on two workers at once, does no harm.
"""

from __future__ import annotations

from celery import shared_task

from .dispatch import DispatchError


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
# giving up after the last retry loses nothing.
_SMTP_RETRY = {
    "autoretry_for": (DispatchError,),
    "retry_backoff": 30,
    "retry_backoff_max": 10 * 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="surveys.tasks.invitations_send_batch_task", **_SMTP_RETRY)
def invitations_send_batch_task() -> int:
    from .dispatch import invitations_send_batch

    return invitations_send_batch(chain=True)


@shared_task(name="surveys.tasks.reminders_send_batch_task", **_SMTP_RETRY)
def reminders_send_batch_task() -> int:
    from .dispatch import reminders_send_batch

    return reminders_send_batch(chain=True)
