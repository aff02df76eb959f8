from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from surveys import task_names
from surveys.models import Invitation, Wave
from surveys.tokens import token_for, token_hash
from surveys.waves import WaveLaunchError, wave_launch
from tests.factories import EmployeeFactory, SurveyFactory, TeamFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a Sunday; the waves below open on Tuesday 3 March


@pytest.fixture
def org(db):
    """Acme/{Engineering/ML, Sales} and a separate root Other, with people in each."""
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    other = TeamFactory(name="Other")
    people = {
        "ceo": EmployeeFactory(team=acme),
        "engineer": EmployeeFactory(team=eng),
        "scientist": EmployeeFactory(team=ml),
        "seller": EmployeeFactory(team=sales),
        "outsider": EmployeeFactory(team=other),
        "inactive": EmployeeFactory(team=eng, active=False),
        "left": EmployeeFactory(team=ml, left_on=date(2026, 2, 27), left_reason="voluntary"),
        "leaving": EmployeeFactory(team=ml, left_on=date(2026, 3, 31), left_reason="voluntary"),
        "seller2": EmployeeFactory(team=sales),
    }
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales, "other": other, **people}


def colleagues(count: int = 4, **fields) -> None:
    """Enough others for a wave to reach the anonymity threshold (PULSE_MIN_RESPONDENTS, 5)."""
    EmployeeFactory.create_batch(count, team=fields.pop("team", None) or TeamFactory(), **fields)


def _invited(wave: Wave) -> set[int]:
    return set(wave.invitations.values_list("employee_id", flat=True))


def test_launch_invites_active_employees_of_the_subtrees_once(org):
    # given two overlapping subtrees (ML is inside Engineering) and Sales
    survey = SurveyFactory()

    # when
    wave = wave_launch(survey=survey, teams=[org["eng"], org["ml"], org["sales"]], opens_on=date(2026, 3, 3), now=NOW)

    # then everyone active below them is invited exactly once; the inactive, the departed and
    # the people outside are not; someone leaving later this month still is
    assert _invited(wave) == {
        org["engineer"].pk,
        org["scientist"].pk,
        org["seller"].pk,
        org["seller2"].pk,
        org["leaving"].pk,
    }
    assert wave.invitations.count() == 5
    assert set(wave.teams.all()) == {org["eng"], org["ml"], org["sales"]}
    # the invitation keeps the team the employee is in now
    assert {(i.employee_id, i.team_id) for i in wave.invitations.all()} == {
        (org["engineer"].pk, org["eng"].pk),
        (org["scientist"].pk, org["ml"].pk),
        (org["seller"].pk, org["sales"].pk),
        (org["seller2"].pk, org["sales"].pk),
        (org["leaving"].pk, org["ml"].pk),
    }


def test_launch_without_teams_invites_the_whole_organisation(org):
    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), now=NOW)

    # then
    expected = {org[k].pk for k in ("ceo", "engineer", "scientist", "seller", "seller2", "outsider", "leaving")}
    assert _invited(wave) == expected
    assert list(wave.teams.all()) == []


def test_launch_sends_at_ten_in_each_employees_zone(db):
    # given people in five zones
    team = TeamFactory()
    zones = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
    people = {zone: EmployeeFactory(team=team, timezone=zone) for zone in zones}

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), send_time=time(10, 0), now=NOW)

    # then each invitation is due at 10:00 local on the opening day, stored in UTC
    send_at = {i.employee_id: i.send_at for i in wave.invitations.all()}
    assert send_at == {
        people["Europe/Berlin"].pk: datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        people["America/New_York"].pk: datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
        people["Asia/Kolkata"].pk: datetime(2026, 3, 3, 4, 30, tzinfo=UTC),
        people["Pacific/Pago_Pago"].pk: datetime(2026, 3, 3, 21, 0, tzinfo=UTC),
        people["Pacific/Kiritimati"].pk: datetime(2026, 3, 2, 20, 0, tzinfo=UTC),
    }
    # and the invitations are pending, with no reminder when none was asked for
    assert set(wave.invitations.values_list("status", "remind_at", "reminder_status")) == {("pending", None, "")}
    assert wave.status == Wave.Status.OPEN


def test_launch_in_a_spring_forward_gap_sends_after_the_gap(db):
    # given a send time that doesn't exist in Berlin on 29 March 2026
    person = EmployeeFactory(team=TeamFactory(), timezone="Europe/Berlin")
    colleagues(timezone="Europe/Berlin")

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 29), send_time=time(2, 30), now=NOW)

    # then 03:30 CEST
    assert wave.invitations.get(employee=person).send_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_launch_with_reminders_schedules_them(db):
    # given
    person = EmployeeFactory(team=TeamFactory(), timezone="America/New_York")
    colleagues()

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), remind_after_days=2, now=NOW)

    # then
    invitation = wave.invitations.get(employee=person)
    assert invitation.remind_at == datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    assert invitation.reminder_status == "pending"
    assert wave.remind_after_days == 2


def test_launch_send_now_is_due_now_and_dispatches_after_commit(db, django_capture_on_commit_callbacks, enqueued):
    # given
    team = TeamFactory()
    EmployeeFactory(team=team, timezone="Europe/Berlin")
    EmployeeFactory(team=team, timezone="Pacific/Apia")
    colleagues(3, team=team)

    # when launched with --send-now (the callbacks are captured, not run: dispatch is tested
    # in test_dispatch.py)
    with django_capture_on_commit_callbacks() as callbacks:
        wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), send_now=True, now=NOW)

    # then every invitation is due now, and dispatch is enqueued once, after the commit
    assert set(wave.invitations.values_list("send_at", flat=True)) == {NOW}
    assert (len(callbacks), enqueued) == (1, [])
    callbacks[0]()
    assert enqueued == [task_names.INVITATIONS_DISPATCH]
    # sent two days before its opening day, it still stays open until the end of 3 + 5 March
    # in Berlin, the westernmost of Berlin and Apia (UTC+13)
    assert wave.closes_at == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)


def test_launch_without_send_now_enqueues_nothing(db, django_capture_on_commit_callbacks):
    colleagues(5)

    with django_capture_on_commit_callbacks() as callbacks:
        wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), now=NOW)

    assert callbacks == []


def test_launch_freezes_the_thresholds(db, settings):
    # given
    colleagues(7)
    settings.PULSE_MIN_RESPONDENTS = 7
    settings.PULSE_MIN_COMMENT_RESPONDENTS = 12

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), now=NOW)
    settings.PULSE_MIN_RESPONDENTS = 3
    settings.PULSE_MIN_COMMENT_RESPONDENTS = 3

    # then the wave keeps the values it was launched with
    wave.refresh_from_db()
    assert (wave.min_respondents, wave.min_comment_respondents) == (7, 12)


def test_launch_stores_only_the_token_hash(db):
    # given
    colleagues(5)

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), now=NOW)

    # then each invitation's derived token hashes to what is stored, and the token itself is
    # in no column
    invitations = list(wave.invitations.all())
    for invitation in invitations:
        token = token_for(invitation.id)
        assert invitation.token_hash == token_hash(token)
        assert len(invitation.token_hash) == 64
        row = Invitation.objects.filter(pk=invitation.pk).values().get()
        assert token not in {str(value) for value in row.values()}
    # fresh random ids: version 4 uuids, all different
    assert {i.id.version for i in invitations} == {4}
    assert len({i.token_hash for i in invitations}) == 5


def test_launch_closes_at_the_end_of_the_day_days_open_after_opening_in_the_westernmost_zone(db):
    # given an audience in Berlin and New York, the westernmost
    team = TeamFactory()
    EmployeeFactory(team=team, timezone="Europe/Berlin")
    EmployeeFactory(team=team, timezone="America/New_York")
    colleagues(3, team=team, timezone="Europe/Berlin")

    # when
    wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), days_open=4, now=NOW)

    # then it closes at the end of Saturday 7 March in New York (EST, -5): 05:00 UTC on the 8th
    assert wave.closes_at == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert wave.opens_on == date(2026, 3, 3)


def test_launch_back_filled_in_the_past_stays_open_days_open_from_now(db):
    # given a wave opened a month ago (back-filling)
    colleagues(5, timezone="Europe/Berlin")

    # when, at a frozen "now"
    with time_machine.travel(NOW, tick=False):
        wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 2, 2), days_open=5)

    # then its invitations are due (in the past), and as they go out today it accepts answers
    # until the end of the fifth day after today (Friday 6 March in Berlin)
    assert set(wave.invitations.values_list("send_at", flat=True)) == {datetime(2026, 2, 2, 9, 0, tzinfo=UTC)}
    assert wave.closes_at == datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert wave.status == Wave.Status.OPEN


def test_launch_defaults_to_opening_today(db):
    colleagues(5, timezone="UTC")

    with time_machine.travel(NOW, tick=False):
        wave = wave_launch(survey=SurveyFactory())

    assert wave.opens_on == date(2026, 3, 1)
    # 10:00 has passed at noon: the invitation is due at once, and the wave closes at the end of
    # the fifth day after today
    assert set(wave.invitations.values_list("send_at", flat=True)) == {datetime(2026, 3, 1, 10, 0, tzinfo=UTC)}
    assert wave.closes_at == datetime(2026, 3, 7, 0, 0, tzinfo=UTC)


def test_launch_with_nobody_to_invite_is_refused_and_writes_nothing(org):
    # given a team whose only members are inactive or gone
    empty = TeamFactory(name="Empty", parent=org["acme"])
    EmployeeFactory(team=empty, active=False)
    EmployeeFactory(team=empty, left_on=date(2026, 1, 31), left_reason="involuntary")

    # when / then
    with pytest.raises(WaveLaunchError, match="No active employees to invite in Acme/Empty"):
        wave_launch(survey=SurveyFactory(), teams=[empty], opens_on=date(2026, 3, 3), now=NOW)
    assert Wave.objects.count() == 0
    assert Invitation.objects.count() == 0


def test_launch_with_an_unknown_zone_is_refused_and_writes_nothing(db):
    # given someone whose zone slipped past validation
    EmployeeFactory(team=TeamFactory(), timezone="Mars/Olympus_Mons")
    colleagues()

    with pytest.raises(WaveLaunchError, match="Mars/Olympus_Mons"):
        wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), now=NOW)
    assert Wave.objects.count() == 0
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(("days_open", "remind_after_days"), [(0, None), (5, 0)])
def test_launch_with_nonsense_durations_is_refused(db, days_open, remind_after_days):
    colleagues(5)

    with pytest.raises(WaveLaunchError):
        wave_launch(survey=SurveyFactory(), days_open=days_open, remind_after_days=remind_after_days, now=NOW)
    assert Wave.objects.count() == 0


@pytest.mark.parametrize("threshold", [5, 3])
def test_launch_for_fewer_people_than_the_threshold_is_refused_and_writes_nothing(db, settings, threshold):
    # given a team of one less than the anonymity threshold: HR could build it on purpose, and
    # no result of it could ever be shown without pointing at someone
    settings.PULSE_MIN_RESPONDENTS = threshold
    small = TeamFactory(name="Small")
    EmployeeFactory.create_batch(threshold - 1, team=small)

    # when / then
    with pytest.raises(WaveLaunchError) as refused:
        wave_launch(survey=SurveyFactory(), teams=[small], opens_on=date(2026, 3, 3), now=NOW)
    assert str(refused.value) == (
        f"A wave must invite at least {threshold} people (PULSE_MIN_RESPONDENTS, the anonymity threshold), "
        f"or its answers could be told apart; Small has {threshold - 1} active employees."
    )
    assert (Wave.objects.count(), Invitation.objects.count()) == (0, 0)

    # and one more person is enough
    EmployeeFactory(team=small)
    wave = wave_launch(survey=SurveyFactory(), teams=[small], opens_on=date(2026, 3, 3), now=NOW)
    assert wave.invitations.count() == threshold


def test_launch_from_honolulu_to_tokyo_closes_at_the_end_of_the_day_in_honolulu(db):
    # given an audience spanning Pacific/Honolulu (-10) to Asia/Tokyo (+9)
    team = TeamFactory()
    EmployeeFactory.create_batch(3, team=team, timezone="Pacific/Honolulu")
    EmployeeFactory.create_batch(2, team=team, timezone="Asia/Tokyo")

    # when launched on Sunday 1 March for Tuesday 3 March, five days
    with time_machine.travel(NOW, tick=False):
        wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), days_open=5)

    # then it closes at the end of Sunday 8 March in Honolulu (Monday 19:00 in Tokyo), and
    # everyone has at least five days from their own invitation
    assert wave.closes_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    sends = set(wave.invitations.values_list("send_at", flat=True))
    assert sends == {datetime(2026, 3, 3, 20, 0, tzinfo=UTC), datetime(2026, 3, 3, 1, 0, tzinfo=UTC)}
    assert min(wave.closes_at - send_at for send_at in sends) == timedelta(days=5, hours=14)


def test_launch_in_one_zone_closes_at_the_end_of_that_zones_day(db):
    colleagues(5, timezone="Asia/Tokyo")

    with time_machine.travel(NOW, tick=False):
        wave = wave_launch(survey=SurveyFactory(), opens_on=date(2026, 3, 3), days_open=5)

    assert wave.closes_at == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # Monday 9 March, 00:00 in Tokyo


def test_launch_late_in_the_utc_day_counts_from_the_day_the_links_arrive(db):
    # given a Tokyo-only audience and a launch at 16:00 UTC, already 2 March in Tokyo
    colleagues(5, timezone="Asia/Tokyo")

    # when launched for "today" (1 March, UTC) and sent now
    with time_machine.travel(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), tick=False):
        wave = wave_launch(survey=SurveyFactory(), days_open=5, send_now=True)

    # then it stays open to the end of 7 March in Tokyo: five full days from the 2nd
    assert wave.opens_on == date(2026, 3, 1)
    assert wave.closes_at == datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
