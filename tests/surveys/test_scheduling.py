from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.scheduling import day_end, local_send_at, schedule_occurrences, wave_closing_time

ALL_ZONES = sorted(available_timezones())
# Wide enough for every zone's offset (LMT offsets reached ±15:xx), so every UTC instant
# whose local time could be a given wall time lies within this distance of it.
_REACH = timedelta(hours=16)
# Sampling offsets hourly is enough: in 1900–2100 no zone keeps an offset for under six hours.
_SAMPLE = timedelta(hours=1)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- known values


@pytest.mark.parametrize(
    ("day", "at", "zone", "expected_utc", "expected_local"),
    [
        # Berlin springs forward at 02:00 → 03:00: 02:30 does not exist and moves to 03:30.
        (date(2026, 3, 29), time(2, 30), "Europe/Berlin", _utc(2026, 3, 29, 1, 30), datetime(2026, 3, 29, 3, 30)),
        # Berlin falls back at 03:00 → 02:00: 02:30 happens twice; the first (CEST) wins.
        (date(2026, 10, 25), time(2, 30), "Europe/Berlin", _utc(2026, 10, 25, 0, 30), datetime(2026, 10, 25, 2, 30)),
        (date(2026, 3, 3), time(10, 0), "Europe/Berlin", _utc(2026, 3, 3, 9, 0), datetime(2026, 3, 3, 10, 0)),
        (date(2026, 7, 7), time(10, 0), "Europe/Berlin", _utc(2026, 7, 7, 8, 0), datetime(2026, 7, 7, 10, 0)),
        (date(2026, 3, 8), time(2, 30), "America/New_York", _utc(2026, 3, 8, 7, 30), datetime(2026, 3, 8, 3, 30)),
        (date(2026, 11, 1), time(1, 30), "America/New_York", _utc(2026, 11, 1, 5, 30), datetime(2026, 11, 1, 1, 30)),
        (date(2026, 1, 6), time(10, 0), "America/New_York", _utc(2026, 1, 6, 15, 0), datetime(2026, 1, 6, 10, 0)),
        # Lord Howe moves its clocks by 30 minutes: +10:30 ↔ +11.
        (
            date(2026, 10, 4),
            time(2, 15),
            "Australia/Lord_Howe",
            _utc(2026, 10, 3, 15, 45),
            datetime(2026, 10, 4, 2, 45),
        ),
        (date(2026, 4, 5), time(1, 45), "Australia/Lord_Howe", _utc(2026, 4, 4, 14, 45), datetime(2026, 4, 5, 1, 45)),
        (date(2026, 6, 2), time(10, 0), "Australia/Lord_Howe", _utc(2026, 6, 1, 23, 30), datetime(2026, 6, 2, 10, 0)),
        # UTC+14 and UTC+13: the local day starts the previous UTC day.
        (date(2026, 6, 1), time(10, 0), "Pacific/Kiritimati", _utc(2026, 5, 31, 20, 0), datetime(2026, 6, 1, 10, 0)),
        (date(2026, 6, 1), time(10, 0), "Pacific/Apia", _utc(2026, 5, 31, 21, 0), datetime(2026, 6, 1, 10, 0)),
        # Samoa and Kiribati skipped a whole calendar day when they crossed the date line:
        # the wall time moves forward by the 24-hour gap, to the same time next day.
        (date(2011, 12, 30), time(10, 0), "Pacific/Apia", _utc(2011, 12, 30, 20, 0), datetime(2011, 12, 31, 10, 0)),
        (date(1994, 12, 31), time(10, 0), "Pacific/Kiritimati", _utc(1994, 12, 31, 20, 0), datetime(1995, 1, 1, 10)),
        (date(2026, 6, 1), time(10, 0), "Asia/Kolkata", _utc(2026, 6, 1, 4, 30), datetime(2026, 6, 1, 10, 0)),
        (date(2026, 6, 1), time(10, 0), "UTC", _utc(2026, 6, 1, 10, 0), datetime(2026, 6, 1, 10, 0)),
    ],
)
def test_local_send_at_known_values(day, at, zone, expected_utc, expected_local):
    # when
    send_at = local_send_at(day, at, zone)

    # then
    assert send_at == expected_utc
    assert send_at.tzinfo is UTC
    assert send_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == expected_local


def test_local_send_at_accepts_a_zoneinfo():
    assert local_send_at(date(2026, 6, 1), time(10), ZoneInfo("Asia/Kolkata")) == _utc(2026, 6, 1, 4, 30)


def test_local_send_at_ignores_a_fold_on_the_time():
    # An ambiguous time always means its first occurrence, whatever fold the caller passed.
    assert local_send_at(date(2026, 10, 25), time(2, 30, fold=1), "Europe/Berlin") == _utc(2026, 10, 25, 0, 30)


# ------------------------------------------------------- every zone, every transition


def _check(zone: ZoneInfo, wall: datetime) -> None:
    """Check one result against an oracle that only converts UTC → local (never local → UTC).

    The instants whose local time is ``wall`` are ``wall - offset`` for the offsets in force
    near it; the oracle finds them by trying every offset seen within reach and keeping those
    that convert back to ``wall``.
    """
    name = zone.key
    send_at = local_send_at(wall.date(), wall.time(), zone)
    assert send_at.tzinfo is UTC, name
    as_utc = wall.replace(tzinfo=UTC)
    offsets = {
        (as_utc + _SAMPLE * k).astimezone(zone).utcoffset() for k in range(-_REACH // _SAMPLE, _REACH // _SAMPLE + 1)
    }
    instants = sorted(u for u in (as_utc - off for off in offsets) if u.astimezone(zone).replace(tzinfo=None) == wall)
    local = send_at.astimezone(zone).replace(tzinfo=None)
    if instants:
        # It exists: exactly that wall time, and its first occurrence when it is ambiguous.
        assert send_at == instants[0], (name, wall, send_at, instants)
        assert local == wall, (name, wall, local)
    else:
        # It falls in a gap: later than asked, by no more than the gap.
        assert wall < local <= wall + (max(offsets) - min(offsets)), (name, wall, local, offsets)


@settings(max_examples=30, deadline=None)
@given(
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    at=st.times().map(lambda t: t.replace(microsecond=0)),
)
def test_local_send_at_in_every_zone(day, at):
    # every zone, in a fixed order, for each drawn local date and time
    wall = datetime.combine(day, at)
    for name in ALL_ZONES:
        _check(ZoneInfo(name), wall)


def _offset_at(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset()


def _transition_between(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant after ``lo`` with ``hi``'s offset, to the second (bisection)."""
    before = _offset_at(zone, lo)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _offset_at(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


@functools.cache
def _transitions() -> list[tuple[str, datetime, timedelta, timedelta]]:
    """Every offset change of every zone in 2025–2027: (zone, instant, offset before, after)."""
    found = []
    start = _utc(2025, 1, 1)
    for name in ALL_ZONES:
        zone = ZoneInfo(name)
        previous = _offset_at(zone, start)
        for d in range(1, 3 * 365 + 1):
            instant = start + timedelta(days=d)
            offset = _offset_at(zone, instant)
            if offset != previous:
                at = _transition_between(zone, instant - timedelta(days=1), instant)
                found.append((name, at, previous, offset))
                previous = offset
    return found


def test_transitions_were_found():
    # The scan is the fixture of the next tests: make sure it sees the transitions we know.
    transitions = {(name, at) for name, at, _, _ in _transitions()}
    assert ("Europe/Berlin", _utc(2026, 3, 29, 1)) in transitions
    assert ("Europe/Berlin", _utc(2026, 10, 25, 1)) in transitions
    assert ("America/New_York", _utc(2026, 3, 8, 7)) in transitions
    assert ("Australia/Lord_Howe", _utc(2026, 10, 3, 15, 30)) in transitions
    assert not any(name == "Asia/Kolkata" for name, _ in transitions)


def test_local_send_at_around_every_transition():
    # Every wall time in ten-minute steps from two hours before each transition's local time
    # (read on either side of it) to two hours after: inside gaps, overlaps and just outside.
    for name, at, before, after in _transitions():
        zone = ZoneInfo(name)
        for local in {(at + before).replace(tzinfo=None), (at + after).replace(tzinfo=None)}:
            for step in range(-12, 13):
                _check(zone, local + timedelta(minutes=10 * step))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_local_send_at_near_a_transition(data):
    # given any transition and any second within three hours of its local time
    name, at, before, after = data.draw(st.sampled_from(_transitions()))
    side = data.draw(st.sampled_from([before, after]))
    seconds = data.draw(st.integers(min_value=-3 * 3600, max_value=3 * 3600))

    # then
    _check(ZoneInfo(name), (at + side).replace(tzinfo=None) + timedelta(seconds=seconds))


# ------------------------------------------------------------------------- cadence


def test_weekly_is_every_weekday_from_the_start():
    # given a Tuesday schedule starting on a Thursday
    occurrences = schedule_occurrences(
        cadence="weekly", weekday=1, starts_on=date(2026, 3, 5), start=date(2026, 3, 1), end=date(2026, 3, 31)
    )

    # then the first Tuesday on or after the start, and every Tuesday after it
    assert occurrences == [date(2026, 3, 10), date(2026, 3, 17), date(2026, 3, 24), date(2026, 3, 31)]


def test_weekly_includes_the_start_day_when_it_is_the_weekday():
    assert schedule_occurrences(
        cadence="weekly", weekday=1, starts_on=date(2026, 3, 10), start=date(2026, 3, 10), end=date(2026, 3, 10)
    ) == [date(2026, 3, 10)]


def test_biweekly_counts_from_the_first_weekday_on_or_after_the_start():
    # given a Monday schedule starting on Monday 2026-01-05
    occurrences = schedule_occurrences(
        cadence="biweekly", weekday=0, starts_on=date(2026, 1, 5), start=date(2026, 1, 1), end=date(2026, 2, 28)
    )

    assert occurrences == [date(2026, 1, 5), date(2026, 1, 19), date(2026, 2, 2), date(2026, 2, 16)]


def test_biweekly_rhythm_does_not_depend_on_the_window():
    # given the same schedule asked about a window that starts on an "off" Monday
    occurrences = schedule_occurrences(
        cadence="biweekly", weekday=0, starts_on=date(2026, 1, 5), start=date(2026, 1, 12), end=date(2026, 1, 26)
    )

    # then only the on-rhythm Monday is in it
    assert occurrences == [date(2026, 1, 19)]
    # and a one-day window on an off Monday is empty
    assert (
        schedule_occurrences(
            cadence="biweekly", weekday=0, starts_on=date(2026, 1, 5), start=date(2026, 1, 12), end=date(2026, 1, 12)
        )
        == []
    )


def test_monthly_is_the_first_weekday_of_each_month():
    # given a Wednesday schedule starting mid-January
    occurrences = schedule_occurrences(
        cadence="monthly", weekday=2, starts_on=date(2026, 1, 10), start=date(2025, 12, 1), end=date(2026, 5, 31)
    )

    # then January's first Wednesday (the 7th) is before the start and is left out
    assert occurrences == [date(2026, 2, 4), date(2026, 3, 4), date(2026, 4, 1), date(2026, 5, 6)]


def test_monthly_crosses_the_year():
    assert schedule_occurrences(
        cadence="monthly", weekday=4, starts_on=date(2025, 1, 1), start=date(2025, 12, 1), end=date(2026, 1, 31)
    ) == [date(2025, 12, 5), date(2026, 1, 2)]


def test_nothing_before_the_schedule_starts():
    assert (
        schedule_occurrences(
            cadence="weekly", weekday=1, starts_on=date(2026, 6, 1), start=date(2026, 3, 1), end=date(2026, 3, 31)
        )
        == []
    )


@pytest.mark.parametrize(("cadence", "weekday"), [("daily", 1), ("weekly", 7), ("weekly", -1)])
def test_bad_cadence_or_weekday_is_refused(cadence, weekday):
    with pytest.raises(ValueError, match=r"cadence|weekday"):
        schedule_occurrences(
            cadence=cadence, weekday=weekday, starts_on=date(2026, 1, 1), start=date(2026, 1, 1), end=date(2026, 2, 1)
        )


@pytest.mark.parametrize(
    ("day", "zone", "expected"),
    [
        (date(2026, 3, 8), "Pacific/Honolulu", datetime(2026, 3, 9, 10, 0, tzinfo=UTC)),
        (date(2026, 3, 8), "Asia/Tokyo", datetime(2026, 3, 8, 15, 0, tzinfo=UTC)),
        # New York springs forward at 02:00 on 8 March: that day is 23 hours long
        (date(2026, 3, 8), "America/New_York", datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        # Havana's clocks skip its midnight (00:00 -> 01:00 on 8 March): the day ends at the jump
        (date(2026, 3, 7), "America/Havana", datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
    ],
)
def test_day_end_is_the_first_moment_of_the_next_local_day(day, zone, expected):
    assert day_end(day, zone) == expected


def test_a_wave_closes_at_the_end_of_its_nth_day_in_the_westernmost_zone():
    # given sends at 10:00 local on Tuesday 3 March, from Honolulu (-10) to Tokyo (+9)
    opens_on = date(2026, 3, 3)
    sends = {zone: local_send_at(opens_on, time(10, 0), zone) for zone in ("Asia/Tokyo", "Pacific/Honolulu", "UTC")}

    # when, launched days before
    closes_at, zone = wave_closing_time(
        sends=sends, opens_on=opens_on, days_open=5, now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    )

    # then the end of Sunday 8 March in Honolulu, at least five days after every send
    assert (closes_at, zone) == (datetime(2026, 3, 9, 10, 0, tzinfo=UTC), "Pacific/Honolulu")
    assert min(closes_at - send_at for send_at in sends.values()) == timedelta(days=5, hours=14)


def test_a_link_that_goes_out_on_a_later_local_day_counts_from_that_day():
    # given a Tokyo-only audience launched at 16:00 UTC on 1 March, already 01:00 on 2 March in
    # Tokyo, so the links (due at 10:00 on the 1st, long past) arrive on the 2nd
    now = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    sends = {"Asia/Tokyo": local_send_at(date(2026, 3, 1), time(10, 0), "Asia/Tokyo")}

    closes_at, zone = wave_closing_time(sends=sends, opens_on=date(2026, 3, 1), days_open=5, now=now)

    # then it closes at the end of 7 March in Tokyo, not of the 6th (under five days from now)
    assert (closes_at, zone) == (datetime(2026, 3, 7, 15, 0, tzinfo=UTC), "Asia/Tokyo")
    assert closes_at - now > timedelta(days=5)
