"""Local-time and cadence arithmetic for waves: pure functions, no Django models.

Kept apart from the services so that the time-zone rules can be tested exhaustively (every
IANA zone, every DST transition) without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKLY = "weekly"
BIWEEKLY = "biweekly"
MONTHLY = "monthly"
CADENCES = (WEEKLY, BIWEEKLY, MONTHLY)


def zone_get(zone: str | ZoneInfo) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``ZoneInfoNotFoundError`` for an unknown one)."""
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def local_send_at(day: date, at: time, zone: str | ZoneInfo) -> datetime:
    """The instant (aware, UTC) at which the wall clock in ``zone`` shows ``at`` on ``day``.

    A wall time that does not exist (the clocks spring forward over it) moves forward by the
    size of the gap: PEP 495's ``fold=0`` reads it with the offset in force *before* the jump,
    so Berlin's 02:30 on 2026-03-29 becomes 01:30 UTC, i.e. 03:30 local. An employee is then
    invited as soon after the intended time as the clock allows, never before it. (A zone that
    skipped a whole day, like Pacific/Apia on 2011-12-30, moves to the same time next day.)
    An ambiguous wall time (the clocks fall back over it) takes its first occurrence, which is
    also what ``fold=0`` means: Berlin's 02:30 on 2026-10-25 is 00:30 UTC, not 01:30.
    """
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone_get(zone))
    return wall.astimezone(UTC)


def day_end(day: date, zone: str | ZoneInfo) -> datetime:
    """The instant (aware, UTC) at which ``day`` ends in ``zone``: the first moment of the next.

    A midnight the clocks skip ends the day at the jump, as ``local_send_at`` reads it.
    """
    return local_send_at(day + timedelta(days=1), time(0), zone)


def wave_closing_time(
    *, sends: Mapping[str, datetime], opens_on: date, days_open: int, now: datetime
) -> tuple[datetime, str]:
    """When a wave closes, and the zone whose day end sets it (``sends``: send instant by zone).

    The wave stays open at least ``days_open`` days for everyone: it closes at the end of the
    day that lies ``days_open`` days after its opening day in the audience's westernmost zone
    (the zone whose day ends last). For someone whose invitation goes out on a later day of
    their own (a wave launched late in the day, sent now, or back-filled with a past opening
    day: a send time that has passed means now), that later day counts, so nobody gets less.
    """
    ends = []
    for zone, send_at in sends.items():
        arrives = max(send_at, now).astimezone(zone_get(zone)).date()
        opening_day = max(opens_on, arrives)
        ends.append((day_end(opening_day + timedelta(days=days_open), zone), zone))
    return max(ends)


def weekday_on_or_after(day: date, weekday: int) -> date:
    """The first date on or after ``day`` that falls on ``weekday`` (Monday = 0)."""
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def schedule_occurrences(*, cadence: str, weekday: int, starts_on: date, start: date, end: date) -> list[date]:
    """The dates in ``[start, end]`` (inclusive) on which a schedule opens a wave.

    - weekly: every ``weekday`` on or after ``starts_on``;
    - biweekly: every second such weekday, counted from the first one on or after ``starts_on``
      (so the rhythm never depends on the window asked about);
    - monthly: the first ``weekday`` of each month, when it is on or after ``starts_on``.
    """
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}; expected one of {', '.join(CADENCES)}")
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday); got {weekday}")
    lower = max(start, starts_on)
    if lower > end:
        return []
    if cadence == MONTHLY:
        return _monthly(weekday=weekday, lower=lower, end=end)
    step = 7 if cadence == WEEKLY else 14
    anchor = weekday_on_or_after(starts_on, weekday)
    # The first occurrence on or after `lower` that keeps the anchor's rhythm.
    behind = max((lower - anchor).days, 0)
    first = anchor + timedelta(days=-(-behind // step) * step)
    return [first + timedelta(days=step * n) for n in range((end - first).days // step + 1)] if first <= end else []


def _monthly(*, weekday: int, lower: date, end: date) -> list[date]:
    occurrences = []
    month = date(lower.year, lower.month, 1)
    while month <= end:
        first = weekday_on_or_after(month, weekday)
        if lower <= first <= end:
            occurrences.append(first)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return occurrences
