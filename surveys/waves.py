"""Waves: launching one (by hand or from a schedule), opening, closing and sealing it.

A wave's invitations are the outbox: launching writes them with their send times and
nothing else; dispatch (``surveys/dispatch.py``) reads what is due. Closing seals the wave's
answers so that nothing stored — not even the database's own row order — links them to the
people who gave them (DESIGN.md, Anonymity 1).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfoNotFoundError

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from . import tokens
from .models import Answer, Comment, Employee, Invitation, Response, Schedule, Survey, Team, Wave
from .scheduling import local_send_at, schedule_occurrences
from .selectors import teams_subtree_q
from .tasks import invitations_dispatch_task

logger = logging.getLogger(__name__)

BULK_BATCH = 2000
ANALYSIS_TASK = "analytics.wave_closed"  # defined by analytics; enqueued by name, never imported
UNSENT = (Invitation.SendStatus.PENDING, Invitation.SendStatus.SENDING)


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
    (``scheduling.local_send_at``), or at once with ``send_now``. The wave closes ``days_open``
    days after its last send, but never less than ``days_open`` days from now: a wave
    back-filled with ``opens_on`` in the past still accepts its answers for that long (or
    until ``close_wave``). The anonymity thresholds in force now are frozen on the wave.
    A wave made from a schedule whose first send is still ahead is SCHEDULED (opened by
    ``waves_open_due`` or by its first dispatch); any other wave is OPEN at once.
    Raises ``WaveLaunchError`` (and writes nothing) when nobody is to be invited.
    """
    now = now or timezone.now()
    opens_on = opens_on or now.date()
    if days_open < 1:
        raise WaveLaunchError(f"A wave must stay open at least one day (got {days_open}).")
    if remind_after_days is not None and remind_after_days < 1:
        raise WaveLaunchError(f"Reminders go at least one day after the invitation (got {remind_after_days}).")
    teams = list(teams or [])
    audience = _audience(teams=teams, today=now.date())
    if not audience:
        where = ", ".join(team.path for team in teams) if teams else "the organisation"
        raise WaveLaunchError(f"No active employees to invite in {where}.")
    send_at_by_zone = _send_times(zones={zone for _, _, zone in audience}, day=opens_on, at=send_time)
    if send_now:
        send_at_by_zone = dict.fromkeys(send_at_by_zone, now)
    first_send, last_send = min(send_at_by_zone.values()), max(send_at_by_zone.values())
    reminder = timedelta(days=remind_after_days) if remind_after_days is not None else None

    with transaction.atomic():
        wave = Wave.objects.create(
            survey=survey,
            schedule=schedule,
            opens_on=opens_on,
            closes_at=max(last_send, now) + timedelta(days=days_open),
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
            transaction.on_commit(invitations_dispatch_task.delay)
    return wave


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


def wave_close(*, wave: Wave, now: datetime | None = None) -> Wave:
    """Close a wave, skip what was not sent, seal its answers and ask for its analysis.

    Idempotent: closing a closed wave changes nothing and returns it. The wave row is locked
    first, so a close serialises with submissions (the intake checks the wave's status inside
    its own transaction): an answer is either in before the seal or refused.

    Sealing rewrites every response, answer and comment of the wave in a random order with
    fresh uuid4 ids, in this transaction, so that ids, physical order (``ctid``) and
    transaction ids (``xmin``) no longer follow the order people answered in. On PostgreSQL a
    ``VACUUM`` after the commit removes the old row versions from the tables. Copies outside
    the tables are the operator's concern: the write-ahead log (and WAL archives or replicas
    fed from it) and backups taken while the wave was open keep the pre-seal order until they
    are recycled, and freed space in data pages is reused, not wiped.
    """
    now = now or timezone.now()
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.status == Wave.Status.CLOSED:
            return wave
        wave.status, wave.closed_at = Wave.Status.CLOSED, now
        invitations = Invitation.objects.filter(wave=wave)
        # A batch sending right now keeps its claim on the rows, so the message it has under way
        # is still recorded as sent; its next lease renewal finds the rest skipped.
        invitations.filter(status__in=UNSENT).update(status=Invitation.SendStatus.SKIPPED, lease_until=None)
        invitations.filter(reminder_status__in=UNSENT).update(
            reminder_status=Invitation.SendStatus.SKIPPED, lease_until=None
        )
        # Rewrite the answered invitations too: their row versions were written by the
        # submissions, so their xmin would otherwise keep the order in which people answered.
        invitations.filter(responded=True).update(responded=True)
        _wave_seal(wave=wave)
        wave.sealed = True
        wave.save(update_fields=["status", "closed_at", "sealed"])
        # robust: a failed VACUUM is logged and must not keep the analysis from being enqueued.
        transaction.on_commit(_answer_tables_vacuum, robust=True)
        wave_id = wave.pk
        transaction.on_commit(lambda: current_app.signature(ANALYSIS_TASK, args=(wave_id,)).delay())
    return wave


def _wave_seal(*, wave: Wave) -> None:
    """Delete the wave's responses, answers and comments and re-insert them shuffled, new ids."""
    shuffle = secrets.SystemRandom().shuffle
    responses = list(Response.objects.filter(wave=wave).values_list("pk", "team_id"))
    answers_by_response: dict[uuid.UUID, list[tuple[int, int]]] = {pk: [] for pk, _ in responses}
    for response_id, question_id, value in Answer.objects.filter(response__wave=wave).values_list(
        "response_id", "question_id", "value"
    ):
        answers_by_response[response_id].append((question_id, value))
    comments = list(Comment.objects.filter(wave=wave).values_list("team_id", "text"))

    Answer.objects.filter(response__wave=wave).delete()
    Response.objects.filter(wave=wave).delete()
    Comment.objects.filter(wave=wave).delete()

    shuffle(responses)
    shuffle(comments)
    new_responses, new_answers = [], []
    for old_id, team_id in responses:
        response = Response(id=uuid.uuid4(), wave_id=wave.pk, team_id=team_id)
        new_responses.append(response)
        answers = answers_by_response[old_id]
        shuffle(answers)
        new_answers.extend(Answer(id=uuid.uuid4(), response_id=response.id, question_id=q, value=v) for q, v in answers)
    Response.objects.bulk_create(new_responses, batch_size=BULK_BATCH)
    Answer.objects.bulk_create(new_answers, batch_size=BULK_BATCH)
    Comment.objects.bulk_create(
        (Comment(id=uuid.uuid4(), wave_id=wave.pk, team_id=team_id, text=text) for team_id, text in comments),
        batch_size=BULK_BATCH,
    )


def _answer_tables_vacuum() -> None:
    """Remove the pre-seal row versions from the heap (PostgreSQL only), after the commit.

    Deleted rows stay in the table files as dead tuples, with their old ids, ``xmin`` and
    physical order, readable with page-inspection tools until autovacuum gets to them, which
    may be hours away. VACUUM cannot run inside a transaction block, hence after the commit;
    when a caller still holds an outer transaction (tests, a larger unit of work) it is left
    to autovacuum. ``INDEX_CLEANUP`` forces the indexes' old entries out too (PostgreSQL
    otherwise skips index cleanup when few pages have dead tuples).
    """
    if connection.vendor != "postgresql":
        return
    if connection.in_atomic_block:
        logger.info("seal: inside an outer transaction; leaving the old row versions to autovacuum")
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Response, Answer, Comment, Invitation)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {tables}")


def waves_close_due(*, now: datetime | None = None) -> list[Wave]:
    """Close every wave whose closing time has passed."""
    now = now or timezone.now()
    due = Wave.objects.filter(~Q(status=Wave.Status.CLOSED), closes_at__lte=now).order_by("closes_at", "pk")
    return [wave_close(wave=wave, now=now) for wave in due]
