from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from surveys import task_names
from surveys.models import Invitation, Wave
from tests.factories import EmployeeFactory, SurveyFactory, TeamFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def org(db):
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    EmployeeFactory.create_batch(3, team=eng, timezone="Europe/Berlin")
    EmployeeFactory.create_batch(2, team=ml, timezone="America/New_York")
    EmployeeFactory.create_batch(2, team=sales, timezone="Asia/Kolkata")
    SurveyFactory(slug="pulse")
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def _launch(*args: str) -> list[str]:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("launch_wave", *args, stdout=out)
    return out.getvalue().splitlines()


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run a command as `manage.py` would, returning its exit code, stdout and stderr."""
    try:
        # Django is set up already; setting it up again would re-create the logging handlers on
        # capsys's stream, which is closed after this test (breaking later tests' logging).
        with mock.patch("django.setup"):
            ManagementUtility(["manage.py", *argv]).execute()
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_launch_wave_prints_a_summary_and_the_wave_id_last(org):
    # when
    lines = _launch(
        "--survey", "pulse", "--teams", "Acme/Engineering", "--opens", "2026-03-03", "--days", "4",
        "--send-time", "09:00", "--remind-after", "2",
    )  # fmt: skip

    # then
    wave = Wave.objects.get()
    assert lines == [
        f"Launched wave {wave.pk} of survey 'pulse' opening 2026-03-03.",
        "Invitations: 5",
        "Audience: Acme/Engineering",
        "Sends: 09:00 local time on 2026-03-03, 2026-03-03 08:00 to 2026-03-03 14:00 UTC",
        "Closes: 2026-03-08 05:00 UTC (the end of Saturday 2026-03-07 in America/New_York)",
        str(wave.pk),
    ]
    assert (wave.opens_on, wave.remind_after_days, wave.status) == (date(2026, 3, 3), 2, Wave.Status.OPEN)
    assert set(wave.invitations.values_list("reminder_status", flat=True)) == {"pending"}


def test_launch_wave_takes_several_teams_either_way(org):
    # --teams A B and --teams A --teams B mean the same
    _launch("--survey", "pulse", "--teams", "Acme/Engineering", "Acme/Sales", "--opens", "2026-03-03")
    _launch("--survey", "pulse", "--teams", "Acme/Engineering", "--teams", "Acme/Sales", "--opens", "2026-03-03")

    first, second = Wave.objects.order_by("pk")
    assert first.invitations.count() == second.invitations.count() == 7
    assert set(first.teams.all()) == set(second.teams.all()) == {org["eng"], org["sales"]}


def test_launch_wave_without_teams_invites_everyone(org):
    lines = _launch("--survey", "pulse")

    assert lines[1:3] == ["Invitations: 7", "Audience: the whole organisation"]
    assert Wave.objects.get().opens_on == date(2026, 3, 1)


def test_launch_wave_send_now_dispatches_after_commit(org, django_capture_on_commit_callbacks, enqueued):
    with django_capture_on_commit_callbacks() as callbacks:
        lines = _launch("--survey", "pulse", "--send-now")

    assert (len(callbacks), enqueued) == (1, [])
    callbacks[0]()
    assert enqueued == [task_names.INVITATIONS_DISPATCH]
    assert lines[3] == "Sends: now, to all 7 people"
    assert lines[-1] == str(Wave.objects.get().pk)
    assert set(Invitation.objects.values_list("send_at", flat=True)) == {NOW}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--survey", "nope"], "Unknown survey 'nope'"),
        (["--survey", "pulse", "--teams", "Acme/Engineering", "Acme/Nowhere"], "Unknown team path(s): 'Acme/Nowhere'"),
        (["--survey", "pulse", "--opens", "2026-02-30"], "not a date (YYYY-MM-DD): '2026-02-30'"),
        (["--survey", "pulse", "--days", "0"], "--days: must be at least 1: '0'"),
        (["--survey", "pulse", "--send-time", "25:00"], "not a time (HH:MM): '25:00'"),
        (["--teams", "Acme"], "the following arguments are required: --survey"),
    ],
)
def test_launch_wave_refuses_bad_input_and_writes_nothing(org, args, message):
    with pytest.raises(CommandError) as excinfo:
        _launch(*args)

    assert message in str(excinfo.value)
    assert Wave.objects.count() == 0
    assert Invitation.objects.count() == 0


def test_launch_wave_refuses_an_empty_audience(org):
    TeamFactory(name="Empty", parent=org["acme"])

    with pytest.raises(CommandError, match="No active employees to invite in Acme/Empty"):
        _launch("--survey", "pulse", "--teams", "Acme/Empty")
    assert Wave.objects.count() == 0


def test_launch_wave_refuses_an_audience_under_the_anonymity_threshold(org):
    with pytest.raises(CommandError) as refused:
        _launch("--survey", "pulse", "--teams", "Acme/Sales")

    assert str(refused.value) == (
        "A wave must invite at least 5 people (PULSE_MIN_RESPONDENTS, the anonymity threshold), "
        "or its answers could be told apart; Acme/Sales has 2 active employees."
    )
    assert (Wave.objects.count(), Invitation.objects.count()) == (0, 0)


def test_close_wave_without_the_seal_key_is_refused_and_the_wave_stays_open(org, settings):
    # given a launched wave, and a shell whose settings hold only the public half of the key
    wave_id = _launch("--survey", "pulse")[-1]
    settings.PULSE_SEAL_KEY = ""

    # when / then
    with pytest.raises(CommandError, match="PULSE_SEAL_KEY is not set in this process"):
        call_command("close_wave", wave_id, stdout=StringIO())
    wave = Wave.objects.get(pk=wave_id)
    assert (wave.status, wave.sealed) == (Wave.Status.OPEN, False)


def test_close_wave_closes_seals_and_reports(org):
    # given a launched wave
    wave_id = int(_launch("--survey", "pulse")[-1])
    out = StringIO()

    # when
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False):
        call_command("close_wave", str(wave_id), stdout=out)

    # then
    assert out.getvalue().splitlines() == [
        f"Wave {wave_id} closed at 2026-03-02 08:00 UTC.",
        "Responses: 0 of 7 invited",
        "Sealed: yes",
    ]
    wave = Wave.objects.get(pk=wave_id)
    assert (wave.status, wave.sealed) == (Wave.Status.CLOSED, True)
    assert set(wave.invitations.values_list("status", flat=True)) == {"skipped"}


def test_close_wave_twice_says_so(org):
    wave_id = _launch("--survey", "pulse")[-1]
    call_command("close_wave", wave_id, stdout=StringIO())
    out = StringIO()

    call_command("close_wave", wave_id, stdout=out)

    assert out.getvalue().splitlines()[0].startswith(f"Wave {wave_id} was already closed at ")


@pytest.mark.parametrize(("arg", "message"), [("999999", "Unknown wave 999999"), ("abc", "invalid int value")])
def test_close_wave_refuses_an_unknown_wave(org, arg, message):
    with pytest.raises(CommandError, match=message):
        call_command("close_wave", arg, stdout=StringIO())


# The real command line: exit codes and streams. transactional_db because the CLI closes the
# database connection when it is done, as `manage.py` does.


def test_cli_launch_then_close_exit_zero_with_the_id_on_the_last_line(transactional_db, capsys):
    # given
    EmployeeFactory.create_batch(5, team=TeamFactory(name="Acme"))
    SurveyFactory(slug="pulse")

    # when
    code, out, err = _cli(capsys, "launch_wave", "--survey", "pulse", "--opens", "2026-03-03")

    # then
    wave = Wave.objects.get()
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == str(wave.pk)

    # and closing it by that id works too
    # (its stderr carries the log lines of the analysis task when Celery runs eagerly)
    code, out, err = _cli(capsys, "close_wave", out.splitlines()[-1])
    assert code == 0
    assert "Traceback" not in err
    assert "Sealed: yes" in out.splitlines()


def test_cli_errors_exit_one_with_the_reason_on_stderr(transactional_db, capsys):
    SurveyFactory(slug="pulse")

    code, out, err = _cli(capsys, "launch_wave", "--survey", "nope")
    assert (code, out) == (1, "")
    assert err == "CommandError: Unknown survey 'nope'.\n"

    code, out, err = _cli(capsys, "close_wave", "424242")
    assert (code, out) == (1, "")
    assert err == "CommandError: Unknown wave 424242.\n"
    assert Wave.objects.count() == 0


def test_launch_wave_says_who_gets_the_link_now_because_their_send_time_has_passed(org):
    # when launched at noon UTC for today: 10:00 has passed in Berlin and Kolkata, not in New York
    lines = _launch("--survey", "pulse")

    # then
    assert lines[3:] == [
        "Sends: 10:00 local time on 2026-03-01, 2026-03-01 15:00 to 2026-03-01 15:00 UTC; "
        "now to the 5 whose 10:00 has passed",
        "Closes: 2026-03-07 05:00 UTC (the end of Friday 2026-03-06 in America/New_York)",
        str(Wave.objects.get().pk),
    ]


def test_launch_wave_back_filled_says_it_sends_now(org):
    lines = _launch("--survey", "pulse", "--opens", "2026-02-02", "--days", "2")

    assert lines[3:] == [
        "Sends: now, to all 7 people (10:00 local time on 2026-02-02 has passed everywhere)",
        "Closes: 2026-03-04 05:00 UTC (the end of Tuesday 2026-03-03 in America/New_York)",
        str(Wave.objects.get().pk),
    ]
