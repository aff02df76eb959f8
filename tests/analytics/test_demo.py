"""``manage.py demo`` (``make demo``): the simulated organisation with its analysed history, the
demo logins, one open wave with working links, and a block at the end that says where to go."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.commands import runserver
from django.test import Client
from django.utils import timezone

from analytics.demo import (
    DEMO_EMPLOYEES,
    DEMO_PASSWORD,
    DEMO_ROOT,
    DEMO_SEED,
    DEMO_WAVES,
    demo_history_ensure,
    demo_wave_ensure,
)
from analytics.models import GroupRelease, TeamRisk, TeamTrend, WaveAnalysis
from analytics.simulated_org import survey_sim_questions
from analytics.simulation import simulate
from pulse.celery import app as celery_app
from surveys.models import Employee, Invitation, Response, Team, Wave
from surveys.selectors import teams_visible_to
from surveys.tokens import token_hash
from surveys.waves import wave_launch
from tests.factories import EmployeeFactory, TeamFactory, WaveFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
LINK = re.compile(r"^  Survey link of (?P<name>.+) \((?P<team>.+)\), in (?P<language>\w+),$")


@pytest.fixture
def eager_celery():
    """Celery eager, as on the embedded default ``make demo`` runs on, even when the suite runs
    with a broker."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def demo(settings, django_capture_on_commit_callbacks, eager_celery):
    """Run ``manage.py demo`` as ``make demo`` does, its after-commit work (dispatch) included."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # logins, not hashing

    def run(*args: str) -> list[str]:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("demo", *args, stdout=out)
        return out.getvalue().splitlines()

    return run


def _counts() -> dict[str, int]:
    models = (Team, Employee, User, Wave, Invitation, Response, GroupRelease, TeamTrend, TeamRisk)
    return {model.__name__: model.objects.count() for model in models} | {"mail": len(mail.outbox)}


def test_demo_builds_an_analysed_history_logins_and_an_open_wave_and_a_second_run_changes_nothing(
    demo, default_survey, settings, monkeypatch
):
    # when
    output = demo()

    # then the simulated organisation of the default seed, every one of its waves closed,
    # sealed, released and analysed
    sim = simulate(
        employees=DEMO_EMPLOYEES,
        waves=DEMO_WAVES,
        seed=DEMO_SEED,
        today=timezone.now().date(),
        questions=survey_sim_questions(survey=default_survey),
        root=DEMO_ROOT,
    )
    root = Team.objects.get(path=DEMO_ROOT)
    people = Employee.objects.filter(root.subtree_q("team__"))
    assert people.count() == DEMO_EMPLOYEES + 2  # and the two demo logins
    history = Wave.objects.filter(teams=root, status=Wave.Status.CLOSED, sealed=True).order_by("opens_on")
    assert [wave.opens_on for wave in history] == list(sim.wave_dates)
    assert len(history) == DEMO_WAVES == 12
    for wave in history:
        assert GroupRelease.objects.filter(wave=wave, team=root).exists()
        assert WaveAnalysis.objects.get(wave=wave).analysed_at is not None
    assert Response.objects.count() == sim.responded.sum()
    departed = set(people.exclude(left_on=None).values_list("email", flat=True))
    assert departed == {sim.emails[d.employee] for d in sim.departures}
    assert len(departed) >= 10
    assert TeamTrend.objects.filter(direction="declining").exists()
    assert TeamRisk.objects.filter(level__in=[TeamRisk.Level.HIGH, TeamRisk.Level.ELEVATED]).exists()

    # and the logins work with the demo password: HR sees everything, the manager a division
    # that has results and declining or flagged teams
    client = Client()
    assert client.login(username="hr@acme.example", password=DEMO_PASSWORD)
    hr = User.objects.get(username="hr@acme.example")
    assert set(teams_visible_to(hr)) == set(Team.objects.all())
    manager = User.objects.get(username="manager@acme.example")
    assert Client().login(username="manager@acme.example", password=DEMO_PASSWORD)
    [division] = Employee.objects.get(user=manager).manages.all()
    assert division.parent == root
    subtree = Team.objects.filter(division.subtree_q())
    assert set(teams_visible_to(manager)) == set(subtree)
    results = GroupRelease.objects.filter(team__in=subtree, wave=history.last(), state=GroupRelease.State.RESULTS)
    assert results.count() >= 10
    declining = TeamTrend.objects.filter(team__in=subtree, direction="declining").values("team").distinct().count()
    risky = TeamRisk.objects.filter(team__in=subtree, level__in=[TeamRisk.Level.HIGH, TeamRisk.Level.ELEVATED]).count()
    assert declining + risky >= 1

    # and one open wave for everyone still there, its invitations e-mailed once each
    [open_wave] = Wave.objects.exclude(status=Wave.Status.CLOSED)
    invited = Invitation.objects.filter(wave=open_wave)
    assert open_wave.status == Wave.Status.OPEN
    assert invited.count() == people.filter(active=True).count() == DEMO_EMPLOYEES + 2 - len(departed)
    assert invited.filter(status=Invitation.SendStatus.SENT).count() == invited.count() == len(mail.outbox)

    # and the output ends with the block: URL, logins, whose survey link it is
    base = settings.PULSE_BASE_URL
    assert output[0].startswith(f"Built {DEMO_ROOT}; open wave #{open_wave.pk} launched now")
    block = output[1:]
    assert block[:3] == [
        "",
        f"Pulse demo: {base}/",
        f"  Acme (simulated): {DEMO_EMPLOYEES + 2} people in {Team.objects.filter(root.subtree_q()).count()} teams; "
        f"12 closed waves, {sim.wave_dates[0]:%Y-%m-%d} to {sim.wave_dates[-1]:%Y-%m-%d}; {len(departed)} departures.",
    ]
    assert f"  Log in with the password {DEMO_PASSWORD}:" in block
    assert any(line.startswith("    HR       hr@acme.example ") for line in block)
    assert (
        f"    Manager  manager@acme.example  sees {division.path} ({subtree.count()} teams, {declining} declining,"
        in block
    )
    assert block[-2] == f"  from the open wave #{open_wave.pk} ({invited.count()} invited):"
    link = block[-1].strip()
    assert link.startswith(f"{base}/s/")
    whose = LINK.match(block[-3])
    invitation = Invitation.objects.select_related("employee__team").get(
        token_hash=token_hash(link.removeprefix(f"{base}/s/").rstrip("/"))
    )
    assert invitation.wave == open_wave
    assert whose["name"] == invitation.employee.name
    assert whose["team"] == invitation.employee.team.path
    assert whose["language"] == {"en": "English", "de": "German"}[invitation.employee.locale]
    assert sum(link in message.body for message in mail.outbox) == 1

    # and the printed link opens the form
    survey = Client()
    opened = survey.get(link.removeprefix(base))
    assert (opened.status_code, opened["Location"]) == (302, "/s/")
    assert survey.get("/s/").status_code == 200

    # when run again, as make demo does (with the server, which here binds and returns at once)
    before = _counts()
    monkeypatch.setattr(runserver, "run", lambda addr, port, handler, *, on_bind, **kwargs: on_bind(port))
    # before it serves, the server closes the database connections: that would end the test's transaction
    monkeypatch.setattr(runserver, "connections", SimpleNamespace(all=lambda **kwargs: []))
    again = demo("--serve", "127.0.0.1:8123")

    # then nothing changed, and the same block comes last, after the server's banner
    assert _counts() == before
    assert again[0].startswith(f"{DEMO_ROOT} is there already; open wave #{open_wave.pk} already open")
    assert "Starting development server at http://127.0.0.1:8123/" in again
    assert again[-len(block) :] == block


def test_an_older_demo_in_the_database_is_refused_and_nothing_is_written(demo, default_survey):
    # given the root of the old 60-person seed, without the simulated history
    TeamFactory(name=DEMO_ROOT)
    before = _counts()

    # when / then
    with pytest.raises(CommandError, match=r"'Acme' is in the database with 0 sealed waves.*make clean-demo"):
        demo()
    assert _counts() == before


def test_a_demo_whose_open_wave_was_closed_is_still_there_and_is_not_built_again(db):
    # given the history and the demo's open wave, closed by hand (close_wave)
    root = TeamFactory(name=DEMO_ROOT)
    for _ in range(DEMO_WAVES + 1):
        WaveFactory(status=Wave.Status.CLOSED, sealed=True).teams.set([root])

    # when / then
    assert demo_history_ensure() is False
    assert not Employee.objects.exists()
    assert Team.objects.count() == 1


def test_an_open_demo_wave_whose_time_is_up_is_closed_and_another_launched(
    default_survey, django_capture_on_commit_callbacks, eager_celery
):
    # given a demo wave launched ten days ago, never closed (no beat on the embedded default)
    root = TeamFactory(name=DEMO_ROOT)
    team = TeamFactory(name="Team 1", parent=root)
    EmployeeFactory.create_batch(6, team=team)
    stale = wave_launch(survey=default_survey, teams=[root], now=timezone.now() - timedelta(days=10))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        wave, launched = demo_wave_ensure(root=root)

    # then the old one is closed and sealed, and the new one invites everyone
    stale.refresh_from_db()
    assert (stale.status, stale.sealed) == (Wave.Status.CLOSED, True)
    assert (wave.status, launched) == (Wave.Status.OPEN, True)
    assert wave.closes_at > timezone.now()
    assert Invitation.objects.filter(wave=wave).count() == 6
    assert demo_wave_ensure(root=root) == (wave, False)
