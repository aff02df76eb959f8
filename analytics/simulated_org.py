"""Write a simulated organisation (analytics/simulation.py) into the database, the way real use
would have: through the org import, ``wave_launch``, answer intake and ``wave_close``.

The history is back-filled wave by wave, in the order it would have happened:

1. the organisation of the first wave is imported from a CSV in DESIGN.md's format
   (``surveys.org_import.org_import``), every manager and the HR person with their login;
2. before each wave, what HR would have recorded since the last one is imported the same way:
   the departures (``left_on``, ``left_reason``), which make those people inactive, and the
   manager changes. ``wave_launch`` invites the active people whose leaving date has not
   come *today*, so a departure must not be recorded before the waves its person was still
   invited to: recorded all at once up front, every leaver would be missing from every wave;
3. each wave is launched for the simulated root team's subtree only, opening on its past date
   (a back-filled wave stays open from now, so intake accepts its answers), then answered, then
   closed and sealed (``wave_close``), in one transaction per wave: a wave is in the database
   whole or not at all;
4. the departures after the last wave are imported at the end;
5. every wave is analysed, once, at the end (``analytics.services.waves_analyse``): rollups and
   the gate's release per wave, then trends and risk over all of them. Trends and risk are
   recomputed whole from the releases, so this ends where analysing after every close would (as
   ``close_wave`` does), without redoing them for every wave; and the results are readable
   when the command returns, with or without a broker.

Answers go in through ``surveys.intake.response_record`` with each invitation's real token
(``surveys.tokens.token_for``), exactly as a respondent's would. A bulk equivalent (the same
sealed boxes and ``responded`` marks, a batch per statement) was measured and dropped: it saved
under 10 % of a run (10,000 people × 2 waves on PostgreSQL: 18.4 s against 19.7 s; 300 × 12 on
SQLite: 2.3 s against 2.7 s), because the seal at close costs more than intake.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np
from django.db import reset_queries, transaction
from django.utils import timezone

from surveys.intake import response_record, survey_questions
from surveys.models import Employee, Invitation, Survey, Team, Wave
from surveys.org_import import org_csv_build, org_import
from surveys.tokens import token_for
from surveys.waves import wave_close, wave_launch

from .services import waves_analyse
from .simulation import EMPLOYEE, HR, MANAGER, NO_ANSWER, SimQuestion, SimulatedOrg

CLOSING_TIME = time(18, 0)  # UTC, on the wave's last day: when the simulated waves were closed


class SimulationRefused(Exception):
    """The database can't take this simulated organisation; nothing was written."""


class SimulationMismatch(Exception):
    """The product did something the simulation did not expect (a wave invited other people)."""


@dataclass(frozen=True)
class SimulatedOrgResult:
    employees: int
    teams: int
    waves: list[int]  # wave ids, in order
    responses: int
    departures: int


def survey_sim_questions(*, survey: Survey) -> tuple[SimQuestion, ...]:
    """The survey's active questions, in its order, as the simulation takes them."""
    return tuple(
        SimQuestion(q.code, q.dimension, q.scale, q.reverse_scored)
        for q in survey_questions(survey_id=survey.pk).values()
    )


def simulated_org_create(
    *,
    sim: SimulatedOrg,
    survey: Survey,
    on_answers: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> SimulatedOrgResult:
    """Build ``sim`` in the database (see the module docstring). Refuses, writing nothing, when
    the simulated root team or any of its people are there already: a simulated history is
    written once, never appended to. ``on_answers(n)`` and ``on_stage(text)`` report progress.
    """
    _refuse_unless_absent(sim)
    questions = survey_questions(survey_id=survey.pk)
    if tuple(SimQuestion(q.code, q.dimension, q.scale, q.reverse_scored) for q in questions.values()) != sim.questions:
        raise SimulationRefused(f"the simulation was drawn for other questions than survey {survey.slug!r} asks")
    stage = on_stage or (lambda text: None)
    stage("importing the organisation")
    org_import(data=org_csv_build(_rows(sim, wave=0)))
    members = Employee.objects.filter(team__path__startswith=sim.params.root + "/")
    employee_pk = dict(members.values_list("email", "pk"))
    person_of = {employee_pk[email]: person for person, email in enumerate(sim.emails)}
    root = Team.objects.get(path=sim.params.root)
    wave_ids, responses = [], 0
    for t, opens_on in enumerate(sim.wave_dates):
        changes = _changes_before(sim, wave=t)
        if changes:
            stage(f"wave {t + 1}: recording {len(changes)} departures and manager changes")
            org_import(data=org_csv_build(changes))
        stage(f"wave {t + 1} of {len(sim.wave_dates)}, opening {opens_on:%Y-%m-%d}")
        with transaction.atomic():
            wave = wave_launch(survey=survey, teams=[root], opens_on=opens_on, days_open=sim.params.days_open)
            invitations = _invitations(wave=wave, person_of=person_of, sim=sim, t=t)
            respondents = _respondents(sim, t=t)
            _record([(invitations[p], _answers(sim, p, t)) for p in respondents], on_answers=on_answers)
            closed_at = datetime.combine(opens_on + timedelta(days=sim.params.days_open), CLOSING_TIME, tzinfo=UTC)
            wave_close(wave=wave, now=min(closed_at, timezone.now()), analyse=False)
        wave_ids.append(wave.pk)
        responses += len(respondents)
        reset_queries()
    last = _changes_before(sim, wave=len(sim.wave_dates))
    if last:
        stage(f"recording {len(last)} departures after the last wave")
        org_import(data=org_csv_build(last))
    stage("analysing")
    waves_analyse()
    return SimulatedOrgResult(
        employees=len(sim.emails),
        teams=Team.objects.filter(root.subtree_q()).count(),
        waves=wave_ids,
        responses=responses,
        departures=len(sim.departures),
    )


def _refuse_unless_absent(sim: SimulatedOrg) -> None:
    if Team.objects.filter(path=sim.params.root).exists():
        raise SimulationRefused(
            f"the team {sim.params.root!r} exists already: a simulated organisation is written once, never "
            "added to; use a fresh database or another root"
        )
    domain = sim.emails[0].rpartition("@")[2]  # every simulated person has the root's own domain
    clash = Employee.objects.filter(email__endswith="@" + domain).values_list("email", flat=True).first()
    if clash is not None:
        raise SimulationRefused(f"{clash} is already an employee; use a fresh database or another root")


# --- the organisation as CSV rows ----------------------------------------------------------------


def _rows(sim: SimulatedOrg, *, wave: int, people: Iterable[int] | None = None) -> list[dict[str, str]]:
    """Import rows of ``people`` (default everyone) as they are at ``wave``: role, managed team,
    and a departure recorded before it."""
    managers = {sim.manager_of(team.index, wave): team.path for team in sim.teams}
    left = {d.employee: d for d in sim.departures if d.after_wave < wave}
    rows = []
    for person in range(len(sim.emails)) if people is None else people:
        role = HR if sim.roles[person] == HR else MANAGER if person in managers else EMPLOYEE
        departure = left.get(person)
        rows.append(
            {
                "email": sim.emails[person],
                "name": sim.names[person],
                "team": sim.teams[int(sim.team_of[person])].path,
                "timezone": sim.timezones[person],
                "locale": sim.locales[person],
                "role": role,
                "manages": managers.get(person, ""),
                "left_on": departure.left_on.isoformat() if departure else "",
                "left_reason": departure.reason if departure else "",
            }
        )
    return rows


def _changes_before(sim: SimulatedOrg, *, wave: int) -> list[dict[str, str]]:
    """Rows of what changed since the previous wave: who left after it, whose manager role changed."""
    people = {d.employee for d in sim.departures if d.after_wave == wave - 1}
    for change in sim.manager_changes:
        if change.wave == wave:
            people |= {change.old_manager, change.new_manager}
    return _rows(sim, wave=wave, people=sorted(people))


# --- one wave ------------------------------------------------------------------------------------


def _invitations(*, wave: Wave, person_of: dict[int, int], sim: SimulatedOrg, t: int) -> dict[int, uuid.UUID]:
    """person → invitation id; checks that the wave invited exactly whom the simulation did."""
    invitations = {
        person_of[employee]: invitation
        for invitation, employee in Invitation.objects.filter(wave=wave).values_list("pk", "employee_id")
    }
    expected = set(np.flatnonzero(sim.invited[:, t]).tolist())
    if set(invitations) != expected:
        raise SimulationMismatch(
            f"wave {t + 1} invited {len(invitations)} people, {len(set(invitations) - expected)} of them unexpected; "
            f"the simulation invited {len(expected)}"
        )
    return invitations


def _respondents(sim: SimulatedOrg, *, t: int) -> list[int]:
    """Who answered wave ``t``, in an order of arrival drawn from the seed (not the employee order)."""
    respondents = np.flatnonzero(sim.responded[:, t])
    rng = np.random.default_rng([sim.params.seed, t])
    return [int(p) for p in rng.permutation(respondents)]


def _answers(sim: SimulatedOrg, person: int, t: int) -> dict[str, int]:
    """What the person submitted in wave ``t``, as the form or the API would send it."""
    row = sim.answers[person, t]
    return {question.code: int(v) for question, v in zip(sim.questions, row, strict=True) if v != NO_ANSWER}


def _record(ballots: list[tuple[uuid.UUID, dict[str, int]]], *, on_answers: Callable[[int], None] | None) -> None:
    """Each response through intake, with the invitation's real token, as its respondent would."""
    for n, (invitation, answers) in enumerate(ballots, start=1):
        response_record(token=token_for(invitation), answers=answers)
        if n % 100 == 0:
            reset_queries()  # with DEBUG on, Django keeps every statement, sealed boxes and all
            if on_answers:
                on_answers(100)
    if on_answers and len(ballots) % 100:
        on_answers(len(ballots) % 100)
