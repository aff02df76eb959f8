"""The demo organisation that ``make demo`` shows (``manage.py demo``).

*Acme* is a simulated organisation (analytics/simulation.py, built by analytics/simulated_org.py
through the product's own services): about 300 people, 12 closed, sealed and analysed waves
with planted declines, departures and manager changes. On top of it the demo adds two logins
with a published password (an HR person, and a division head who manages a division with
a declining or flagged team) and one open wave whose invitations go out at once, so that a
printed survey link works.

Every step checks what is there first: running the demo again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import get_language_info

from surveys.models import Employee, Invitation, Survey, Team, Wave
from surveys.org_import import org_csv_build, org_import
from surveys.question_bank import DEFAULT_SURVEY_SLUG
from surveys.roles import user_password_set
from surveys.tokens import survey_link, token_for
from surveys.waves import wave_close, wave_launch

from .models import TeamRisk, TeamTrend
from .simulated_org import simulated_org_create, survey_sim_questions
from .simulation import simulate

DEMO_ROOT = "Acme"
DEMO_EMPLOYEES = 300
DEMO_WAVES = 12
DEMO_SEED = 1
DEMO_HR_EMAIL = "hr@acme.example"
DEMO_MANAGER_EMAIL = "manager@acme.example"
DEMO_PASSWORD = "pulse-demo"  # noqa: S105 - a published demo login, never a real one
DEMO_WAVE_DAYS = 5
FLAGGED_RISK = (TeamRisk.Level.HIGH, TeamRisk.Level.ELEVATED)


class DemoError(Exception):
    """The database holds something the demo can't build on; nothing was written."""


@dataclass(frozen=True)
class DemoLink:
    """One open survey link and whose it is."""

    url: str
    name: str
    team: str
    language: str


@dataclass(frozen=True)
class DemoState:
    """What the demo consists of, as the block at the end of ``manage.py demo`` prints it."""

    built_now: bool
    employees: int
    teams: int
    closed_waves: int
    first_opens_on: str
    last_opens_on: str
    departures: int
    managed: str  # the manager login's division
    managed_teams: int
    declining_teams: int  # in that division (itself included)
    risky_teams: int  # high or elevated churn risk, in that division
    open_wave: int
    open_wave_launched_now: bool
    invited: int
    link: DemoLink | None


def demo_ensure(
    *, on_answers: Callable[[int], None] | None = None, on_stage: Callable[[str], None] | None = None
) -> DemoState:
    """Build whatever of the demo is missing and return what it consists of."""
    built_now = demo_history_ensure(on_answers=on_answers, on_stage=on_stage)
    root = Team.objects.get(path=DEMO_ROOT)
    division = demo_logins_ensure(root=root)
    wave, launched = demo_wave_ensure(root=root)
    return _state(root=root, division=division, wave=wave, built_now=built_now, launched=launched)


# --- the history ---------------------------------------------------------------------------------


def demo_history_ensure(
    *, on_answers: Callable[[int], None] | None = None, on_stage: Callable[[str], None] | None = None
) -> bool:
    """The simulated organisation with its closed, sealed, analysed waves; True when built now.

    Same seed, same organisation: only the dates follow today (the last wave opened two weeks ago).
    """
    root = Team.objects.filter(path=DEMO_ROOT).first()
    if root is not None:
        # More than the history is fine: someone closed the demo's open wave (close_wave).
        sealed = _history_waves(root).count()
        if sealed < DEMO_WAVES:
            raise DemoError(
                f"the team {DEMO_ROOT!r} is in the database with {sealed} sealed waves instead of {DEMO_WAVES}: "
                "an older demo, or a build that stopped midway. Start from a clean data folder (make clean-demo)."
            )
        return False
    survey = Survey.objects.get(slug=DEFAULT_SURVEY_SLUG)
    sim = simulate(
        employees=DEMO_EMPLOYEES,
        waves=DEMO_WAVES,
        seed=DEMO_SEED,
        today=timezone.now().date(),
        questions=survey_sim_questions(survey=survey),
        root=DEMO_ROOT,
    )
    simulated_org_create(sim=sim, survey=survey, on_answers=on_answers, on_stage=on_stage)  # analysed, too
    return True


def _history_waves(root: Team):
    return Wave.objects.filter(teams=root, sealed=True)


# --- the logins ----------------------------------------------------------------------------------


def demo_logins_ensure(*, root: Team) -> Team:
    """The HR and manager logins with the demo password; returns the manager's division.

    Both are imported as people of the organisation (the way HR would add them): the HR login
    in the team of the simulated HR person, the manager as the head of the division with the
    most declining or flagged teams, managing its whole subtree.
    """
    manager = Employee.objects.filter(email=DEMO_MANAGER_EMAIL).select_related("team").first()
    if manager is None:
        division = _division_to_manage(root)
        hr_team = Employee.objects.get(team__path__startswith=DEMO_ROOT + "/", role=Employee.Role.HR).team
        org_import(data=org_csv_build(_login_rows(division=division, hr_team=hr_team)))
    else:
        division = manager.manages.order_by("path").first() or manager.team
    for email in (DEMO_HR_EMAIL, DEMO_MANAGER_EMAIL):
        _password_ensure(email=email)
    return division


def _password_ensure(*, email: str) -> None:
    """The demo password, unless it is set already. A login just imported has no usable password
    to check: hashing costs most of a second on a small machine, so it is set without a check."""
    user = get_user_model().objects.get(username=email)
    if user.has_usable_password():
        user_password_set(email=email, password=DEMO_PASSWORD)
    else:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])


def _login_rows(*, division: Team, hr_team: Team) -> list[dict[str, str]]:
    person = {"timezone": "Europe/Berlin", "left_on": "", "left_reason": ""}
    return [
        {**person, "email": DEMO_HR_EMAIL, "name": "Helga Hartmann", "team": hr_team.path, "locale": "de"}
        | {"role": Employee.Role.HR, "manages": ""},
        {**person, "email": DEMO_MANAGER_EMAIL, "name": "Martin Maier", "team": division.path, "locale": "en"}
        | {"role": Employee.Role.MANAGER, "manages": division.path},
    ]


def _division_to_manage(root: Team) -> Team:
    """The division (the level under the root) with the most flagged teams, then the first by path."""
    divisions = list(Team.objects.filter(parent=root).order_by("path"))
    if not divisions:
        raise DemoError(f"{DEMO_ROOT} has no divisions to give the manager login")
    return max(divisions, key=lambda d: (sum(_flags(d)), -divisions.index(d)))


def _flags(team: Team) -> tuple[int, int]:
    """Teams in ``team``'s subtree that are declining on some dimension, and that are at high or elevated risk."""
    subtree = team.subtree_q("team__")
    declining = TeamTrend.objects.filter(subtree, direction="declining").values("team").distinct().count()
    risky = TeamRisk.objects.filter(subtree, level__in=FLAGGED_RISK).count()
    return declining, risky


# --- the open wave -------------------------------------------------------------------------------


def demo_wave_ensure(*, root: Team) -> tuple[Wave, bool]:
    """One open wave of the default survey for the whole demo organisation, launched now if none is.

    Its invitations are sent at once (``send_now``): on the embedded default the e-mails land as
    files in ``PULSE_DATA_DIR/mail``. A demo wave whose time is up (the embedded default runs no
    beat to close it) is closed first, as beat would have: its links answer no more.
    Returns the wave and whether it was launched now.
    """
    now = timezone.now()
    waves = Wave.objects.filter(teams=root).exclude(status=Wave.Status.CLOSED)
    for expired in waves.filter(closes_at__lte=now):
        wave_close(wave=expired, now=now)
    open_wave = waves.filter(closes_at__gt=now).order_by("-pk").first()
    if open_wave is not None:
        return open_wave, False
    survey = Survey.objects.get(slug=DEFAULT_SURVEY_SLUG)
    return wave_launch(survey=survey, teams=[root], days_open=DEMO_WAVE_DAYS, remind_after_days=2, send_now=True), True


def demo_survey_link(wave: Wave) -> DemoLink | None:
    """A working survey link of someone in ``wave`` who has not answered yet, and whose it is.

    Only the hash of a token is stored; the link is derived again from the invitation with the
    token key, exactly as the e-mail that went out carried it.
    """
    invitation = (
        Invitation.objects.filter(wave=wave, responded=False)
        .exclude(status__in=[Invitation.SendStatus.FAILED, Invitation.SendStatus.SKIPPED])
        .select_related("employee__team")
        .order_by("employee__email")
        .first()
    )
    if invitation is None:
        return None
    employee = invitation.employee
    return DemoLink(
        url=survey_link(token_for(invitation.id)),
        name=employee.name,
        team=employee.team.path,
        language=get_language_info(employee.locale)["name"],
    )


def demo_mail_folder() -> str | None:
    path = getattr(settings, "EMAIL_FILE_PATH", None)
    return str(path) if path and settings.EMAIL_BACKEND.endswith("filebased.EmailBackend") else None


# --- what it consists of -------------------------------------------------------------------------


def _state(*, root: Team, division: Team, wave: Wave, built_now: bool, launched: bool) -> DemoState:
    people = Employee.objects.filter(root.subtree_q("team__"))
    history = _history_waves(root).order_by("opens_on").values_list("opens_on", flat=True)
    declining, risky = _flags(division)
    return DemoState(
        built_now=built_now,
        employees=people.count(),
        teams=Team.objects.filter(root.subtree_q()).count(),
        closed_waves=len(history),
        first_opens_on=f"{history[0]:%Y-%m-%d}",
        last_opens_on=f"{history[len(history) - 1]:%Y-%m-%d}",
        departures=people.exclude(left_on=None).count(),
        managed=division.path,
        managed_teams=Team.objects.filter(division.subtree_q()).count(),
        declining_teams=declining,
        risky_teams=risky,
        open_wave=wave.pk,
        open_wave_launched_now=launched,
        invited=Invitation.objects.filter(wave=wave).aggregate(n=Count("pk"))["n"],
        link=demo_survey_link(wave),
    )
