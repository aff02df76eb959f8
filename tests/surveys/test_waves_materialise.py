from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection

from surveys.models import Invitation, Schedule, Wave
from surveys.waves import waves_materialise
from tests.factories import EmployeeFactory, SurveyFactory, TeamFactory

TUESDAY = 1
WEDNESDAY = 2


def _schedule(**fields) -> Schedule:
    teams = fields.pop("teams", [])
    values = {
        "name": "Team pulse",
        "survey": SurveyFactory(),
        "cadence": Schedule.Cadence.WEEKLY,
        "weekday": TUESDAY,
        "send_time": time(10, 0),
        "days_open": 5,
        "remind_after_days": 3,
        "starts_on": date(2026, 1, 1),
    }
    schedule = Schedule.objects.create(**{**values, **fields})
    schedule.teams.set(teams)
    return schedule


def test_materialise_launches_the_occurrence_with_the_schedules_settings(db):
    # given a weekly Tuesday schedule for Engineering, and people in and out of it
    eng = TeamFactory(name="Engineering")
    berlin = EmployeeFactory(team=eng, timezone="Europe/Berlin")
    kiritimati = EmployeeFactory(team=eng, timezone="Pacific/Kiritimati")
    berliners = EmployeeFactory.create_batch(3, team=eng, timezone="Europe/Berlin")
    EmployeeFactory(team=TeamFactory(name="Sales"))
    schedule = _schedule(teams=[eng], days_open=4, send_time=time(9, 30), remind_after_days=2)

    # when it runs early on Tuesday 3 March (UTC)
    waves = waves_materialise(now=datetime(2026, 3, 3, 6, 0, tzinfo=UTC))

    # then one wave for that Tuesday, with the schedule's audience and settings
    assert len(waves) == 1
    wave = Wave.objects.get()
    assert (wave.schedule, wave.survey, wave.opens_on) == (schedule, schedule.survey, date(2026, 3, 3))
    assert list(wave.teams.all()) == [eng]
    assert (wave.send_time, wave.remind_after_days) == (time(9, 30), 2)
    send_at = dict(wave.invitations.values_list("employee_id", "send_at"))
    assert send_at == {
        berlin.pk: datetime(2026, 3, 3, 8, 30, tzinfo=UTC),
        kiritimati.pk: datetime(2026, 3, 2, 19, 30, tzinfo=UTC),
        **{person.pk: datetime(2026, 3, 3, 8, 30, tzinfo=UTC) for person in berliners},
    }
    # the end of Saturday 7 March (3 March + 4 days) in Berlin, the audience's westernmost zone
    assert wave.closes_at == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    assert set(wave.invitations.values_list("remind_at", flat=True)) == {
        datetime(2026, 3, 5, 8, 30, tzinfo=UTC),
        datetime(2026, 3, 4, 19, 30, tzinfo=UTC),
    }
    # Kiritimati's 09:30 has already passed, so the wave is open at once
    assert wave.status == Wave.Status.OPEN


def test_materialise_is_idempotent(db):
    # given
    EmployeeFactory.create_batch(5, team=TeamFactory())
    _schedule()
    now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    first = waves_materialise(now=now)

    # when it runs again (beat every ten minutes)
    second = waves_materialise(now=now + timedelta(minutes=10))

    # then nothing new
    assert len(first) == 1
    assert second == []
    assert list(Wave.objects.values_list("pk", flat=True)) == [first[0].pk]
    assert Invitation.objects.count() == 5


def test_materialise_launches_tomorrows_wave_as_scheduled_and_opens_it_when_due(db):
    # given a Wednesday schedule and someone in Berlin (10:00 CET = 09:00 UTC)
    EmployeeFactory.create_batch(5, team=TeamFactory(), timezone="Europe/Berlin")
    _schedule(weekday=WEDNESDAY)

    # when it runs on Tuesday: tomorrow's wave exists already, not yet open
    [wave] = waves_materialise(now=datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    assert (wave.opens_on, wave.status) == (date(2026, 3, 4), Wave.Status.SCHEDULED)

    # and just before the first send it is still scheduled
    assert waves_materialise(now=datetime(2026, 3, 4, 8, 59, tzinfo=UTC)) == []
    wave.refresh_from_db()
    assert wave.status == Wave.Status.SCHEDULED

    # then once the first invitation is due it is open
    waves_materialise(now=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    wave.refresh_from_db()
    assert wave.status == Wave.Status.OPEN


def _run_daily(start: date, days: int) -> list[date]:
    for n in range(days):
        waves_materialise(now=datetime.combine(start + timedelta(days=n), time(0, 5), tzinfo=UTC))
    return sorted(Wave.objects.values_list("opens_on", flat=True))


@pytest.mark.parametrize(
    ("cadence", "weekday", "expected"),
    [
        (
            Schedule.Cadence.WEEKLY,
            TUESDAY,
            [date(2026, 1, 6), date(2026, 1, 13), date(2026, 1, 20), date(2026, 1, 27), date(2026, 2, 3)],
        ),
        (Schedule.Cadence.BIWEEKLY, TUESDAY, [date(2026, 1, 6), date(2026, 1, 20), date(2026, 2, 3)]),
        (Schedule.Cadence.MONTHLY, WEDNESDAY, [date(2026, 1, 7), date(2026, 2, 4)]),
    ],
)
def test_materialise_follows_the_cadence(db, cadence, weekday, expected):
    # given a schedule starting on Friday 2 January 2026, and beat running every day for five weeks
    EmployeeFactory.create_batch(5, team=TeamFactory(), timezone="Europe/Berlin")
    _schedule(cadence=cadence, weekday=weekday, starts_on=date(2026, 1, 2))

    # then a wave for each occurrence, once
    assert _run_daily(date(2026, 1, 1), 36) == expected


def test_materialise_catches_up_a_missed_day(db):
    # given beat was down on Tuesday and comes back on Wednesday
    EmployeeFactory.create_batch(5, team=TeamFactory())
    _schedule(weekday=TUESDAY)

    # when
    waves = waves_materialise(now=datetime(2026, 3, 4, 12, 0, tzinfo=UTC))

    # then yesterday's wave is launched
    assert [wave.opens_on for wave in waves] == [date(2026, 3, 3)]


def test_materialise_skips_inactive_and_not_yet_started_schedules(db):
    EmployeeFactory.create_batch(5, team=TeamFactory())
    _schedule(active=False)
    _schedule(starts_on=date(2026, 3, 4))

    assert waves_materialise(now=datetime(2026, 3, 3, 12, 0, tzinfo=UTC)) == []
    assert Wave.objects.count() == 0


def test_a_schedule_with_nobody_or_too_few_to_invite_does_not_stop_the_others(db, caplog):
    # given one schedule for an empty team, one for a team under the threshold (its people
    # left after it was set up), and one for a staffed team
    staffed = TeamFactory(name="Staffed")
    EmployeeFactory.create_batch(5, team=staffed)
    shrunk = TeamFactory(name="Shrunk")
    EmployeeFactory.create_batch(2, team=shrunk)
    _schedule(name="empty", teams=[TeamFactory(name="Empty")])
    _schedule(name="shrunk", teams=[shrunk])
    working = _schedule(name="staffed", teams=[staffed])

    # when
    waves = waves_materialise(now=datetime(2026, 3, 3, 12, 0, tzinfo=UTC))

    # then only the staffed one has a wave; the others are logged and tried again next run
    assert [wave.schedule for wave in waves] == [working]
    assert "No active employees to invite in Empty" in caplog.text
    assert "A wave must invite at least 5 people (PULSE_MIN_RESPONDENTS" in caplog.text
    assert "Shrunk has 2 active employees" in caplog.text
    assert Wave.objects.count() == 1


@pytest.mark.postgres
def test_materialise_from_four_threads_launches_each_occurrence_once(transactional_db):
    # given two schedules with occurrences today (Tuesday) and tomorrow, and 30 people
    team = TeamFactory()
    for _ in range(30):
        EmployeeFactory(team=team)
    _schedule(name="tuesday", weekday=TUESDAY)
    _schedule(name="wednesday", weekday=WEDNESDAY)
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    barrier = threading.Barrier(4)
    created: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            created.extend(wave.pk for wave in waves_materialise(now=now))
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    # when four workers run the task at the same moment
    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then each occurrence has exactly one wave, with its 30 invitations, and no worker failed
    assert errors == []
    assert sorted(Wave.objects.values_list("schedule__name", "opens_on")) == [
        ("tuesday", date(2026, 3, 3)),
        ("wednesday", date(2026, 3, 4)),
    ]
    assert sorted(created) == sorted(Wave.objects.values_list("pk", flat=True))
    assert Invitation.objects.count() == 60


def test_a_scheduled_wave_from_honolulu_to_tokyo_closes_at_the_end_of_the_day_in_honolulu(db):
    # given a weekly Tuesday schedule, five days open, for people from Honolulu to Tokyo
    team = TeamFactory()
    EmployeeFactory.create_batch(3, team=team, timezone="Pacific/Honolulu")
    EmployeeFactory.create_batch(2, team=team, timezone="Asia/Tokyo")
    _schedule(teams=[team])

    # when beat runs on the Monday before, as Tokyo's Tuesday 10:00 comes close
    (wave,) = waves_materialise(now=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))

    # then the wave for Tuesday 3 March closes at the end of Sunday 8 March in Honolulu
    assert (wave.opens_on, wave.status) == (date(2026, 3, 3), Wave.Status.SCHEDULED)
    assert wave.closes_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
