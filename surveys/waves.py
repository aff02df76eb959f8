"""Waves: launching one (by hand or from a schedule), opening, closing and sealing it.

A wave's invitations are the outbox: launching writes them with their send times and
nothing else; dispatch (``surveys/dispatch.py``) reads what is due. Closing seals the wave's
answers so that nothing stored — not even the database's own row order — links them to the
people who gave them (DESIGN.md, Anonymity 1).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfoNotFoundError

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from . import task_names, tokens
from .crypto import SealKeyError
from .models import Employee, Invitation, Schedule, Submission, Survey, Team, Wave
from .scheduling import local_send_at, schedule_occurrences, wave_closing_time
from .seal import wave_seal
from .selectors import teams_subtree_q

logger = logging.getLogger(__name__)

BULK_BATCH = 2000


class WaveLaunchError(Exception):
    """A wave that cannot be launched as asked; nothing was written."""


# ---------------------------------------------------------------------------- launch


def wave_launch(
    *,
    survey: Survey,
    teams: list[Team] | None = None,
    opens_on: date | None = None,
    days_open: int = 5,
    send_time: time = time(10, 0),
    remind_after_days: int | None = None,
    send_now: bool = False,
    schedule: Schedule | None = None,
    now: datetime | None = None,
) -> Wave:
    """Create a wave and one invitation per active employee of ``teams`` (all teams if none).

    Each invitation is due at ``send_time`` on ``opens_on`` in its employee's own time zone
    (``scheduling.local_send_at``), or at once with ``send_now``. The wave closes at the end of
    the day ``days_open`` days after ``opens_on`` in the audience's westernmost time zone, and
    never leaves anyone less: a wave sent now or back-filled with ``opens_on`` in the past
    counts from the day its links actually go out (``scheduling.wave_closing_time``), and
    ``close_wave`` may end it sooner. The anonymity thresholds in force now are frozen on the wave.
    A wave made from a schedule whose first send is still ahead is SCHEDULED (opened by
    ``waves_open_due`` or by its first dispatch); any other wave is OPEN at once.
    Raises ``WaveLaunchError`` (and writes nothing) when fewer than PULSE_MIN_RESPONDENTS people
    are to be invited: a smaller audience could never be reported without exposing someone.
    """
    now = now or timezone.now()
    opens_on = opens_on or now.date()
    if days_open < 1:
        raise WaveLaunchError(f"A wave must stay open at least one day (got {days_open}).")
    if remind_after_days is not None and remind_after_days < 1:
        raise WaveLaunchError(f"Reminders go at least one day after the invitation (got {remind_after_days}).")
    teams = list(teams or [])
    audience = _audience(teams=teams, today=now.date())
    where = ", ".join(team.path for team in teams) if teams else gettext("the organisation")
    if not audience:
        raise WaveLaunchError(f"No active employees to invite in {where}.")
    if len(audience) < settings.PULSE_MIN_RESPONDENTS:
        raise WaveLaunchError(audience_too_small_message(invited=len(audience), where=where))
    send_at_by_zone = _send_times(zones={zone for _, _, zone in audience}, day=opens_on, at=send_time)
    if send_now:
        send_at_by_zone = dict.fromkeys(send_at_by_zone, now)
    first_send = min(send_at_by_zone.values())
    closes_at, _ = wave_closing_time(sends=send_at_by_zone, opens_on=opens_on, days_open=days_open, now=now)
    reminder = timedelta(days=remind_after_days) if remind_after_days is not None else None

    with transaction.atomic():
        wave = Wave.objects.create(
            survey=survey,
            schedule=schedule,
            opens_on=opens_on,
            closes_at=closes_at,
            status=Wave.Status.SCHEDULED if schedule is not None and first_send > now else Wave.Status.OPEN,
            send_time=send_time,
            remind_after_days=remind_after_days,
            min_respondents=settings.PULSE_MIN_RESPONDENTS,
            min_comment_respondents=settings.PULSE_MIN_COMMENT_RESPONDENTS,
        )
        wave.teams.set(teams)
        Invitation.objects.bulk_create(
            (
                _invitation(wave, employee_id, team_id, send_at_by_zone[zone], reminder)
                for employee_id, team_id, zone in audience
            ),
            batch_size=BULK_BATCH,
        )
        if send_now:
            transaction.on_commit(_invitations_dispatch_enqueue)
    return wave


def _invitations_dispatch_enqueue() -> None:
    # By name: surveys.tasks imports this module, never the other way round.
    current_app.signature(task_names.INVITATIONS_DISPATCH).delay()


def audience_too_small_message(*, invited: int, where: str) -> str:
    return ngettext(
        "A wave must invite at least %(k)d people (PULSE_MIN_RESPONDENTS, the anonymity threshold), "
        "or its answers could be told apart; %(where)s has %(count)d active employee.",
        "A wave must invite at least %(k)d people (PULSE_MIN_RESPONDENTS, the anonymity threshold), "
        "or its answers could be told apart; %(where)s has %(count)d active employees.",
        invited,
    ) % {"k": settings.PULSE_MIN_RESPONDENTS, "where": where, "count": invited}


def audience_size(*, teams: list[Team], today: date | None = None) -> int:
    """How many people a wave for ``teams`` (all teams if none) would invite today."""
    return len(_audience(teams=teams, today=today or timezone.now().date()))


def _audience(*, teams: list[Team], today: date) -> list[tuple[int, int, str]]:
    """(employee id, team id, time zone) of everyone to invite, each once.

    One query with the subtrees OR-ed together, so someone in two overlapping subtrees is one
    row. People who are inactive or whose recorded departure date has come are left out.
    """
    employees = Employee.objects.filter(active=True).exclude(left_on__lte=today)
    if teams:
        employees = employees.filter(teams_subtree_q(teams, prefix="team__"))
    return list(employees.order_by("pk").values_list("pk", "team_id", "timezone"))


def _send_times(*, zones: Iterable[str], day: date, at: time) -> dict[str, datetime]:
    """The send instant for each distinct zone (a few dozen), not for each employee."""
    send_times = {}
    for zone in zones:
        try:
            send_times[zone] = local_send_at(day, at, zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise WaveLaunchError(f"Unknown time zone {zone!r} on an employee; fix it in the org import.") from None
    return send_times


def _invitation(
    wave: Wave, employee_id: int, team_id: int, send_at: datetime, reminder: timedelta | None
) -> Invitation:
    # The id is drawn here, not by the database, because the token is derived from it; only
    # the token's hash is stored.
    invitation_id = uuid.uuid4()
    return Invitation(
        id=invitation_id,
        wave_id=wave.pk,
        employee_id=employee_id,
        team_id=team_id,
        token_hash=tokens.token_hash(tokens.token_for(invitation_id)),
        send_at=send_at,
        remind_at=send_at + reminder if reminder is not None else None,
        reminder_status=Invitation.SendStatus.PENDING if reminder is not None else "",
    )


# ----------------------------------------------------------------- from schedules


def waves_materialise(*, now: datetime | None = None) -> list[Wave]:
    """Create the waves that active schedules call for around today, and open scheduled ones.

    The window is yesterday to tomorrow (UTC dates) because an employee at UTC+14 reaches
    10:00 on a given day at 20:00 UTC the day before, and because a beat that was down for a
    while should catch up. Safe to run twice or concurrently: the unique constraint
    ``wave_once_per_schedule_day`` lets exactly one launch of an occurrence commit.
    """
    now = now or timezone.now()
    today = now.date()
    created = []
    for schedule in Schedule.objects.filter(active=True).select_related("survey").prefetch_related("teams"):
        occurrences = schedule_occurrences(
            cadence=schedule.cadence,
            weekday=schedule.weekday,
            starts_on=schedule.starts_on,
            start=today - timedelta(days=1),
            end=today + timedelta(days=1),
        )
        for day in occurrences:
            wave = _schedule_wave_launch(schedule=schedule, day=day, now=now)
            if wave is not None:
                created.append(wave)
    waves_open_due(now=now)
    return created


def _schedule_wave_launch(*, schedule: Schedule, day: date, now: datetime) -> Wave | None:
    if Wave.objects.filter(schedule=schedule, opens_on=day).exists():
        return None
    try:
        # wave_launch's own atomic block: a savepoint when a caller holds a transaction, so a
        # lost race rolls back this launch only.
        return wave_launch(
            survey=schedule.survey,
            teams=list(schedule.teams.all()),
            opens_on=day,
            days_open=schedule.days_open,
            send_time=schedule.send_time,
            remind_after_days=schedule.remind_after_days,
            schedule=schedule,
            now=now,
        )
    except IntegrityError:
        if Wave.objects.filter(schedule=schedule, opens_on=day).exists():
            return None  # another worker launched this occurrence first
        raise
    except WaveLaunchError as exc:
        # One schedule with nobody to invite must not stop the others; it is retried next run.
        logger.warning("schedule %s, %s: %s", schedule.pk, day, exc)
        return None


def waves_open_due(*, now: datetime | None = None) -> int:
    """Mark scheduled waves open once their first invitation is due."""
    now = now or timezone.now()
    due = (
        Wave.objects.filter(status=Wave.Status.SCHEDULED)
        .annotate(first_send=Min("invitations__send_at"))
        .filter(first_send__lte=now)
        .values("pk")
    )
    return Wave.objects.filter(pk__in=due, status=Wave.Status.SCHEDULED).update(status=Wave.Status.OPEN)


# ----------------------------------------------------------------------------- close


def wave_close(*, wave: Wave, now: datetime | None = None, analyse: bool = True) -> Wave:
    """Close a wave, seal its answers (surveys/seal.py) and ask for its analysis.

    ``analyse=False`` leaves the analysis to the caller: a back-fill of many waves
    (analytics/simulated_org.py) analyses them once at the end instead of once per wave.

    Idempotent: closing a closed wave changes nothing and returns it. The wave row is locked
    first, so a close serialises with submissions (the intake checks the wave's status inside
    its own statement, FOR SHARE): an answer is either in before the seal or refused.

    Everything happens in one transaction: the seal writes the responses in plaintext for the
    first time, deletes the submissions and rewrites every invitation of the wave, so that no
    plaintext answer shares a transaction id with fewer invitations than the whole wave. Raises
    ``SealKeyError`` (and changes nothing) in a process without ``PULSE_SEAL_KEY``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.status == Wave.Status.CLOSED:
            return wave
        wave.status, wave.closed_at = Wave.Status.CLOSED, now
        result = wave_seal(wave=wave)
        wave.sealed, wave.responses_discarded = True, result.discarded
        wave.save(update_fields=["status", "closed_at", "sealed", "responses_discarded"])
        logger.info("wave %s sealed: %d responses, %d comments", wave.pk, result.responses, result.comments)
        # robust: a failed VACUUM is logged and must not keep the analysis from being enqueued.
        transaction.on_commit(_sealed_tables_vacuum, robust=True)
        wave_id = wave.pk
        if analyse:
            transaction.on_commit(
                lambda: current_app.signature(task_names.ANALYTICS_WAVE_CLOSED, args=(wave_id,)).delay()
            )
    return wave


def _sealed_tables_vacuum() -> None:
    """Remove the old row versions of submissions and invitations from the heap (PostgreSQL
    only), after the commit.

    They hold ciphertext and participation marks, never a plaintext answer, so this is hygiene,
    not what anonymity rests on: an open snapshot elsewhere (a ``pg_dump``, a replica with
    ``hot_standby_feedback``) keeps VACUUM from removing them, and that is fine. VACUUM cannot
    run inside a transaction block, hence after the commit; when a caller still holds an outer
    transaction (tests, a larger unit of work) it is left to autovacuum.
    """
    if connection.vendor != "postgresql":
        return
    if connection.in_atomic_block:
        logger.info("seal: inside an outer transaction; leaving the old row versions to autovacuum")
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in (Submission, Invitation))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {tables}")


def waves_close_due(*, now: datetime | None = None) -> list[Wave]:
    """Close every wave whose closing time has passed; returns the ones closed.

    A wave that can't be sealed (its boxes need a seal key this process lacks) stays open and
    is logged as an error on every run until the key is there; it never keeps the other due
    waves from closing.
    """
    now = now or timezone.now()
    due = Wave.objects.filter(~Q(status=Wave.Status.CLOSED), closes_at__lte=now).order_by("closes_at", "pk")
    closed = []
    for wave in due:
        try:
            closed.append(wave_close(wave=wave, now=now))
        except SealKeyError as exc:
            logger.error("wave %s is due to close but can't be sealed: %s", wave.pk, exc)
    return closed
