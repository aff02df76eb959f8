"""A synthetic organisation with a known truth: for tests, benchmarks and the demo.

Pure numpy, no Django: ``simulate`` draws an organisation (divisions, departments, teams,
people), a latent health per person, wave and dimension, who is invited, who answers and what,
and who leaves when and why. Everything follows from the seed (and the first wave's date), so a
benchmark can plant effects and check that the analysis finds them, and a test can rely on exact
numbers. ``simulate_org`` (analytics/management/commands) writes one into the database through
the product's own services; ``ground_truth`` is what it planted, as JSON.

The latent health of person p in wave t on dimension d, on the 1–5 scale and oriented so that
higher is healthier, is

    theta = base[d] + org[t] + loading[d] * (team[τ] + drift[τ, t] + manager[τ, t] + person[p] + transient[p, t])
            + team_dimension[τ, d] + person_dimension[p, d] + decline[τ, t, d]

with ``drift`` an AR(1) process per team, ``org`` small org-wide shocks plus one deliberate
org-wide dip (about 0.4 points in one wave, gone the next: a nuisance every team shares, which
must not flag every team), ``manager`` a step in a few teams whose manager changes, and
``decline`` the planted declines (0.3, 0.5 or 1.0 points on some dimensions of some teams, at
once or over 3–4 waves, lasting). The shared factor makes the dimensions correlate; the
per-dimension loadings and offsets make them differ.

Answers are theta plus an item offset and noise, mapped onto the item's scale (likert5 1..5,
nps11 0..10), rounded and clipped; a reverse-scored item records the mirrored value, as a
respondent who disagrees with "I feel stuck" would. Some items are skipped. Whether someone
answers depends on their own and their team's habits and health, is low in the small "quiet"
teams, and drops in the waves before a voluntary departure. Departures are drawn after each
wave from a hazard on intent to stay, burnout and tenure (voluntary), plus a few involuntary
ones; who has left is not invited again. Nobody joins: the organisation of the first wave is
everyone there ever is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

import numpy as np

LIKERT5 = "likert5"
NPS11 = "nps11"
SCALE_RANGE = {LIKERT5: (1, 5), NPS11: (0, 10)}
ABRUPT = "abrupt"
GRADUAL = "gradual"
VOLUNTARY = "voluntary"
INVOLUNTARY = "involuntary"
EMPLOYEE, MANAGER, HR = "employee", "manager", "hr"
NO_ANSWER = -1  # in SimulatedOrg.answers: not invited, did not respond, or skipped the item


class SimQuestion(NamedTuple):
    """A question as the simulation needs it; a plain tuple, so callers need no Django to pass one."""

    code: str
    dimension: str
    scale: str
    reverse_scored: bool


# The core items of surveys/question_bank.py's QUESTION_BANK (the default survey ``pulse``), in
# survey order. A copy, because that module imports Django; tests/analytics/test_simulation.py
# checks that the two agree. Callers with a database pass the survey's own questions instead.
DEFAULT_QUESTIONS: tuple[SimQuestion, ...] = (
    SimQuestion("workload_1", "workload", LIKERT5, False),
    SimQuestion("workload_2", "workload", LIKERT5, True),
    SimQuestion("workload_3", "workload", LIKERT5, False),
    SimQuestion("growth_1", "growth", LIKERT5, False),
    SimQuestion("growth_2", "growth", LIKERT5, False),
    SimQuestion("growth_3", "growth", LIKERT5, True),
    SimQuestion("connection_1", "connection", LIKERT5, False),
    SimQuestion("connection_2", "connection", LIKERT5, False),
    SimQuestion("connection_3", "connection", LIKERT5, True),
    SimQuestion("burnout_1", "burnout", LIKERT5, False),
    SimQuestion("burnout_2", "burnout", LIKERT5, True),
    SimQuestion("burnout_3", "burnout", LIKERT5, False),
    SimQuestion("intent_to_stay_1", "intent_to_stay", LIKERT5, False),
    SimQuestion("intent_to_stay_2", "intent_to_stay", LIKERT5, True),
    SimQuestion("enps_1", "enps", NPS11, False),
)

# Where each dimension sits on average (1–5, healthier is higher) and how strongly it follows the
# shared factor; a dimension not listed (a custom question) gets the fallback.
DIMENSION_BASE = {
    "workload": 3.4,
    "growth": 3.5,
    "connection": 3.9,
    "burnout": 3.2,
    "intent_to_stay": 3.7,
    "enps": 3.6,
    "manager_support": 3.8,
    "work_life_balance": 3.4,
    "mission": 3.9,
}
DIMENSION_LOADING = {
    "workload": 0.7,
    "growth": 0.8,
    "connection": 0.75,
    "burnout": 0.85,
    "intent_to_stay": 0.95,
    "enps": 0.9,
    "manager_support": 1.0,
    "work_life_balance": 0.7,
    "mission": 0.6,
}
FALLBACK_BASE, FALLBACK_LOADING = 3.5, 0.8
DECLINE_SIZES = (0.3, 0.5, 1.0)
# Dimensions a planted decline hits together: what tends to go wrong in a team at once.
DECLINE_PATTERNS = (
    ("workload", "burnout"),
    ("growth",),
    ("connection",),
    ("intent_to_stay", "enps"),
    ("growth", "intent_to_stay"),
    ("workload",),
    ("burnout",),
    ("connection", "intent_to_stay", "enps"),
)

# (IANA zone, weight, share of German speakers)
TIMEZONES = (
    ("Europe/Berlin", 0.20, 0.75),
    ("Europe/London", 0.15, 0.02),
    ("Europe/Lisbon", 0.05, 0.0),
    ("America/New_York", 0.20, 0.0),
    ("America/Chicago", 0.08, 0.0),
    ("America/Los_Angeles", 0.12, 0.0),
    ("Asia/Kolkata", 0.10, 0.0),
    ("Asia/Singapore", 0.05, 0.0),
    ("Australia/Sydney", 0.05, 0.0),
)
FIRST_NAMES = (
    "Alex", "Sam", "Maria", "Jonas", "Priya", "Lena", "Omar", "Chen", "Sofia", "Lukas", "Aisha", "Tom",
    "Hannah", "Ravi", "Emma", "Felix", "Yuki", "Noah", "Clara", "Mateo", "Amara", "Ben", "Ines", "Kai",
    "Leila", "Max", "Nora", "Pablo", "Rosa", "Theo",
)  # fmt: skip
LAST_NAMES = (
    "Schmidt", "Smith", "Garcia", "Mueller", "Patel", "Johnson", "Kim", "Weber", "Silva", "Nguyen", "Brown",
    "Fischer", "Kumar", "Rossi", "Wagner", "Lopez", "Tanaka", "Becker", "Okafor", "Martin", "Hoffmann",
    "Singh", "Costa", "Meyer", "Novak", "Ali", "Schulz", "Jensen", "Cohen", "Moreau",
)  # fmt: skip


@dataclass(frozen=True)
class SimulationParams:
    """Everything ``simulate`` draws from besides the seed; recorded in the ground truth."""

    employees: int
    waves: int
    seed: int
    start: date  # the first wave's opening day
    cadence_days: int = 14
    days_open: int = 5
    root: str = "Org"
    # structure
    team_size_median: float = 10.0
    team_size_sigma: float = 0.45  # of the log size
    team_size_bounds: tuple[int, int] = (3, 50)
    teams_per_department: float = 4.0
    departments_per_division: float = 3.0
    quiet_team_share: float = 0.05
    decline_team_share: float = 0.10
    manager_change_team_share: float = 0.03
    # latent health
    org_shock_sd: float = 0.05
    org_dip: float = 0.4
    team_sd: float = 0.25
    drift_ar: float = 0.7
    drift_innovation_sd: float = 0.1
    team_dimension_sd: float = 0.15
    person_sd: float = 0.4
    person_dimension_sd: float = 0.3
    transient_sd: float = 0.15
    manager_step: tuple[float, float] = (0.3, 0.6)  # size of the step, either sign
    # answers
    item_offset_sd: float = 0.2
    answer_noise_sd: float = 0.7  # in 1–5 points; scaled to the item's scale
    skip_rate_mean: float = 0.05
    # participation (logit)
    participation_logit: float = 1.3
    participation_person_sd: float = 0.8
    participation_team_sd: float = 0.4
    participation_health: float = 0.5
    quiet_team_penalty: float = 2.0
    leaving_penalty: tuple[float, ...] = (1.6, 1.1, 0.6)  # in the last, second-last, third-last wave
    # departures, per wave between two waves (logit)
    voluntary_logit: float = -5.6
    voluntary_intent: float = 1.3  # per point of intent to stay below its base
    voluntary_burnout: float = 0.6  # per point of burnout health below its base
    voluntary_new_joiner: float = 0.6  # tenure under a year
    voluntary_long_tenure: float = -0.4  # tenure over five years
    involuntary_rate: float = 0.0008


@dataclass(frozen=True)
class PlantedDecline:
    team: int
    dimensions: tuple[str, ...]
    start_wave: int  # the first wave it shows in
    size: float  # points on the 1–5 scale, once fully in
    speed: str  # ABRUPT or GRADUAL
    waves_to_full: int  # 1 for abrupt, 3 or 4 for gradual

    def effect(self, wave: int) -> float:
        """How far down it has brought its dimensions by ``wave`` (points, >= 0)."""
        if wave < self.start_wave:
            return 0.0
        return self.size * min(1.0, (wave - self.start_wave + 1) / self.waves_to_full)


@dataclass(frozen=True)
class ManagerChange:
    team: int
    wave: int  # the first wave under the new manager
    step: float  # the step of the shared factor (either sign); dimension d moves by step × DIMENSION_LOADING[d]
    old_manager: int  # employee index; stays in the team as an employee
    new_manager: int


@dataclass(frozen=True)
class SimulatedTeam:
    index: int
    path: str  # "Org/Division 2/Department 5/Team 17"
    division: int
    department: int
    size: int  # members at the first wave
    quiet: bool  # small and rarely answering
    manager: int  # employee index of the manager at the first wave


@dataclass(frozen=True)
class Departure:
    employee: int
    team: int
    after_wave: int  # the last wave the person was invited to
    left_on: date
    reason: str  # VOLUNTARY or INVOLUNTARY


@dataclass(frozen=True, eq=False)
class SimulatedOrg:
    """One simulated organisation. Arrays are read-only; indices are positions in the tuples.

    Shapes: P people, W waves, D dimensions, Q questions.
    """

    params: SimulationParams
    questions: tuple[SimQuestion, ...]
    dimensions: tuple[str, ...]  # in the order of the questions
    wave_dates: tuple[date, ...]  # opening days
    teams: tuple[SimulatedTeam, ...]
    declines: tuple[PlantedDecline, ...]
    manager_changes: tuple[ManagerChange, ...]
    org_dip_wave: int | None
    org_shift: np.ndarray  # (W,) the org-wide shock of each wave, dip included
    # people
    emails: tuple[str, ...]
    names: tuple[str, ...]
    timezones: tuple[str, ...]
    locales: tuple[str, ...]
    roles: tuple[str, ...]  # at the first wave (EMPLOYEE, MANAGER, HR)
    team_of: np.ndarray  # (P,) team index
    tenure_years: np.ndarray  # (P,) at the first wave
    departures: tuple[Departure, ...]
    # waves
    latent: np.ndarray  # (P, W, D) health on 1–5, higher is healthier
    invited: np.ndarray  # (P, W) bool
    responded: np.ndarray  # (P, W) bool
    answers: np.ndarray  # (P, W, Q) int8: the value as submitted (reverse items not re-oriented), or NO_ANSWER

    @property
    def hr(self) -> int:
        return self.roles.index(HR)

    def manager_of(self, team: int, wave: int) -> int:
        """The employee index of ``team``'s manager in ``wave``."""
        for change in self.manager_changes:
            if change.team == team and wave >= change.wave:
                return change.new_manager
        return self.teams[team].manager


@dataclass(frozen=True, eq=False)
class TeamWaveMeans:
    """Per team × wave (× dimension), as the product aggregates its own team (no coarsening).

    ``mean`` is the mean of the respondents' dimension scores (each their mean over the items of
    the dimension they answered, reverse items re-oriented), NaN where nobody has one.
    """

    teams: tuple[str, ...]  # paths
    dimensions: tuple[str, ...]
    invited: np.ndarray  # (T, W) int
    responded: np.ndarray  # (T, W) int: responses
    respondents: np.ndarray  # (T, W, D) int: responses with a score on the dimension
    mean: np.ndarray  # (T, W, D) float


# ------------------------------------------------------------------------------------ simulate


def simulate(
    *,
    employees: int,
    waves: int,
    seed: int,
    start: date | None = None,
    today: date | None = None,
    questions: Sequence[tuple[str, str, str, bool]] = DEFAULT_QUESTIONS,
    root: str = "Org",
    cadence_days: int = 14,
) -> SimulatedOrg:
    """A simulated organisation of ``employees`` people over ``waves`` waves, every ``cadence_days``.

    The first wave opens on ``start``; without it, the waves end near ``today`` (default: the
    real date): the last opens ``cadence_days`` before it, so the departures after it are past too.
    ``questions`` are (code, dimension, scale, reverse_scored); default the default survey's.
    Same arguments, same organisation.
    """
    if employees < 5:
        raise ValueError(f"a simulated organisation needs at least 5 employees (got {employees})")
    if waves < 1:
        raise ValueError(f"at least one wave (got {waves})")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _-]*", root):
        raise ValueError(f"the root team's name must be letters, digits, spaces, - or _ (got {root!r})")
    qs = tuple(SimQuestion(*q) for q in questions)
    if not qs:
        raise ValueError("at least one question")
    unknown = {q.scale for q in qs} - set(SCALE_RANGE)
    if unknown:
        raise ValueError(f"unknown scale(s) {sorted(unknown)}; expected {sorted(SCALE_RANGE)}")
    if start is None:
        start = (today or date.today()) - timedelta(days=cadence_days * waves)
    params = SimulationParams(
        employees=employees, waves=waves, seed=seed, start=start, cadence_days=cadence_days, root=root
    )
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    return _Builder(params, qs, streams).build()


class _Builder:
    """The steps of ``simulate``, each drawing from its own stream of random numbers, so that
    (say) another question list changes the answers but not the organisation."""

    def __init__(self, params: SimulationParams, questions: tuple[SimQuestion, ...], streams: list) -> None:
        self.p = params
        self.questions = questions
        self.dimensions = tuple(dict.fromkeys(q.dimension for q in questions))
        self.rng_org, self.rng_people, self.rng_latent, self.rng_leave, self.rng_take, self.rng_answer = streams
        self.wave_dates = tuple(params.start + timedelta(days=params.cadence_days * t) for t in range(params.waves))

    def build(self) -> SimulatedOrg:
        sizes, quiet = self._team_sizes()
        team_of = np.repeat(np.arange(len(sizes)), sizes)
        people = self._people(team_of, quiet)
        teams = self._teams(sizes, quiet, team_of)
        declines, changes = self._plants(teams, team_of)
        org_shift, dip = self._org_shift()
        latent = self._latent(team_of, org_shift, declines, changes)
        exempt = {team.manager for team in teams} | {c.new_manager for c in changes} | {people["roles"].index(HR)}
        departures, last_wave = self._departures(latent, team_of, people["tenure"], exempt)
        invited = np.arange(self.p.waves)[None, :] <= last_wave[:, None]
        responded = self._participation(latent, team_of, quiet, invited, last_wave, departures)
        answers = self._answers(latent, responded)
        return SimulatedOrg(
            params=self.p,
            questions=self.questions,
            dimensions=self.dimensions,
            wave_dates=self.wave_dates,
            teams=tuple(teams),
            declines=tuple(declines),
            manager_changes=tuple(changes),
            org_dip_wave=dip,
            org_shift=_frozen(org_shift),
            emails=people["emails"],
            names=people["names"],
            timezones=people["timezones"],
            locales=people["locales"],
            roles=people["roles"],
            team_of=_frozen(team_of),
            tenure_years=_frozen(people["tenure"]),
            departures=tuple(departures),
            latent=_frozen(latent),
            invited=_frozen(invited),
            responded=_frozen(responded),
            answers=_frozen(answers),
        )

    # --- the organisation

    def _team_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """Team sizes (lognormal around the median, clipped) adding up to ``employees``; quiet
        teams of 3–4 shuffled among them."""
        rng, p = self.rng_org, self.p
        low, high = p.team_size_bounds
        expected_teams = p.employees / p.team_size_median
        n_quiet = 0 if p.employees < 40 else max(1, round(expected_teams * p.quiet_team_share))
        quiet_sizes = list(rng.integers(3, 5, size=n_quiet))
        remaining = p.employees - sum(quiet_sizes)
        sizes: list[int] = []
        while remaining > 0:
            size = int(np.clip(round(rng.lognormal(math.log(p.team_size_median), p.team_size_sigma)), low, high))
            if remaining - size < low:  # what would be left could not make a team
                size = remaining if remaining <= high else remaining - low
            sizes.append(size)
            remaining -= size
        all_sizes = np.array(sizes + quiet_sizes, dtype=np.int64)
        quiet = np.array([False] * len(sizes) + [True] * n_quiet)
        order = rng.permutation(len(all_sizes))
        return all_sizes[order], quiet[order]

    def _teams(self, sizes: np.ndarray, quiet: np.ndarray, team_of: np.ndarray) -> list[SimulatedTeam]:
        rng, p = self.rng_org, self.p
        n_teams = len(sizes)
        n_departments = math.ceil(n_teams / p.teams_per_department)
        n_divisions = math.ceil(n_departments / p.departments_per_division)
        department_of = _partition(rng, n_teams, n_departments)
        division_of_department = _partition(rng, n_departments, n_divisions)
        first_member = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        teams = []
        for t in range(n_teams):
            department = int(department_of[t])
            division = int(division_of_department[department])
            path = f"{p.root}/Division {division + 1}/Department {department + 1}/Team {t + 1}"
            manager = int(first_member[t])
            teams.append(SimulatedTeam(t, path, division, department, int(sizes[t]), bool(quiet[t]), manager))
        return teams

    def _people(self, team_of: np.ndarray, quiet: np.ndarray) -> dict[str, Any]:
        rng, p = self.rng_people, self.p
        n = len(team_of)
        zones = [zone for zone, _, _ in TIMEZONES]
        weights = np.array([w for _, w, _ in TIMEZONES])
        weights /= weights.sum()
        german = {zone: share for zone, _, share in TIMEZONES}
        n_teams = int(team_of.max()) + 1
        team_zone = rng.choice(len(zones), size=n_teams, p=weights)
        own_zone = rng.random(n) < 0.85
        person_zone = np.where(own_zone, team_zone[team_of], rng.choice(len(zones), size=n, p=weights))
        timezones = tuple(zones[z] for z in person_zone)
        locale_draw = rng.random(n)
        locales = tuple(
            "de" if draw < german[zone] else "en" for draw, zone in zip(locale_draw, timezones, strict=True)
        )
        first = rng.integers(len(FIRST_NAMES), size=n)
        last = rng.integers(len(LAST_NAMES), size=n)
        names = tuple(f"{FIRST_NAMES[f]} {LAST_NAMES[s]}" for f, s in zip(first, last, strict=True))
        domain = re.sub(r"[^a-z0-9]+", "-", p.root.lower()).strip("-") + ".example"
        emails = tuple(
            f"{FIRST_NAMES[f].lower()}.{LAST_NAMES[s].lower()}.{i + 1}@{domain}"
            for i, (f, s) in enumerate(zip(first, last, strict=True))
        )
        tenure = np.clip(rng.lognormal(math.log(2.5), 0.9, size=n), 0.05, 30.0)
        roles = [EMPLOYEE] * n
        starts = np.flatnonzero(np.r_[True, team_of[1:] != team_of[:-1]])
        for start in starts:
            roles[start] = MANAGER
        # HR: the last member of the first ordinary team of four or more (a new manager is a
        # team's second member, so never HR).
        sizes = np.bincount(team_of)
        hr_team = next((t for t in range(n_teams) if sizes[t] >= 4 and not quiet[t]), int(np.argmax(sizes)))
        roles[int(starts[hr_team] + sizes[hr_team]) - 1] = HR
        return {
            "timezones": timezones,
            "locales": locales,
            "names": names,
            "emails": emails,
            "tenure": tenure,
            "roles": tuple(roles),
        }

    def _plants(
        self, teams: list[SimulatedTeam], team_of: np.ndarray
    ) -> tuple[list[PlantedDecline], list[ManagerChange]]:
        """Planted declines and manager changes, in disjoint sets of ordinary teams of 5 or more."""
        rng, p = self.rng_org, self.p
        waves = p.waves
        eligible = [team.index for team in teams if not team.quiet and team.size >= 5]
        rng.shuffle(eligible)
        declines: list[PlantedDecline] = []
        changes: list[ManagerChange] = []
        if waves < 2 or not eligible:
            return declines, changes
        n_declines = max(1, round(len(teams) * p.decline_team_share))
        n_changes = max(1, round(len(teams) * p.manager_change_team_share)) if len(eligible) > n_declines else 0
        low = min(max(2, waves // 3), waves - 1)
        for team in sorted(eligible[:n_declines]):
            pattern = DECLINE_PATTERNS[rng.integers(len(DECLINE_PATTERNS))]
            dimensions = tuple(d for d in pattern if d in self.dimensions) or (
                self.dimensions[rng.integers(len(self.dimensions))],
            )
            gradual = bool(rng.random() < 0.5)
            declines.append(
                PlantedDecline(
                    team=team,
                    dimensions=dimensions,
                    start_wave=int(rng.integers(low, waves)),
                    size=float(DECLINE_SIZES[rng.integers(len(DECLINE_SIZES))]),
                    speed=GRADUAL if gradual else ABRUPT,
                    waves_to_full=int(rng.integers(3, 5)) if gradual else 1,
                )
            )
        for team in sorted(eligible[n_declines : n_declines + n_changes]):
            step = rng.uniform(*p.manager_step) * (1 if rng.random() < 0.5 else -1)
            old = teams[team].manager
            wave = int(rng.integers(low, waves))
            changes.append(ManagerChange(team, wave, round(float(step), 3), old_manager=old, new_manager=old + 1))
        return declines, changes

    def _org_shift(self) -> tuple[np.ndarray, int | None]:
        rng, p = self.rng_latent, self.p
        shift = rng.normal(0.0, p.org_shock_sd, size=p.waves)
        dip = int(rng.integers(1, p.waves - 1)) if p.waves >= 3 else None
        if dip is not None:
            shift[dip] -= p.org_dip
        return shift, dip

    # --- latent health

    def _latent(
        self,
        team_of: np.ndarray,
        org_shift: np.ndarray,
        declines: list[PlantedDecline],
        changes: list[ManagerChange],
    ) -> np.ndarray:
        rng, p = self.rng_latent, self.p
        n, n_teams, waves, dims = len(team_of), int(team_of.max()) + 1, p.waves, self.dimensions
        base = np.array([DIMENSION_BASE.get(d, FALLBACK_BASE) for d in dims])
        loading = np.array([DIMENSION_LOADING.get(d, FALLBACK_LOADING) for d in dims])
        drift = np.zeros((n_teams, waves))
        stationary_sd = p.drift_innovation_sd / math.sqrt(1 - p.drift_ar**2)
        drift[:, 0] = rng.normal(0.0, stationary_sd, size=n_teams)
        for t in range(1, waves):
            drift[:, t] = p.drift_ar * drift[:, t - 1] + rng.normal(0.0, p.drift_innovation_sd, size=n_teams)
        team_level = rng.normal(0.0, p.team_sd, size=n_teams)[:, None] + drift
        for change in changes:
            team_level[change.team, change.wave :] += change.step
        shared = (
            team_level[team_of]
            + rng.normal(0.0, p.person_sd, size=n)[:, None]
            + rng.normal(0.0, p.transient_sd, size=(n, waves))
        )
        team_dimension = rng.normal(0.0, p.team_dimension_sd, size=(n_teams, len(dims)))
        person_dimension = rng.normal(0.0, p.person_dimension_sd, size=(n, len(dims)))
        latent = (
            base[None, None, :]
            + org_shift[None, :, None]
            + loading[None, None, :] * shared[:, :, None]
            + (team_dimension[team_of] + person_dimension)[:, None, :]
        )
        planted = np.zeros((n_teams, waves, len(dims)))
        for decline in declines:
            columns = [dims.index(d) for d in decline.dimensions]
            effect = np.array([decline.effect(t) for t in range(waves)])
            planted[decline.team][:, columns] -= effect[:, None]
        return latent + planted[team_of]

    # --- departures and participation

    def _departures(
        self, latent: np.ndarray, team_of: np.ndarray, tenure: np.ndarray, exempt: set[int]
    ) -> tuple[list[Departure], np.ndarray]:
        """Who leaves after which wave; and the last wave each person is invited to."""
        rng, p = self.rng_leave, self.p
        n, waves = latent.shape[0], p.waves
        intent = self._dimension_or_mean(latent, "intent_to_stay")
        burnout = self._dimension_or_mean(latent, "burnout")
        intent_base = DIMENSION_BASE.get("intent_to_stay", FALLBACK_BASE)
        burnout_base = DIMENSION_BASE.get("burnout", FALLBACK_BASE)
        can_leave = np.ones(n, dtype=bool)
        can_leave[list(exempt)] = False
        last_wave = np.full(n, waves - 1)
        departures: list[Departure] = []
        for t in range(waves):
            years = tenure + t * p.cadence_days / 365.25
            logit = (
                p.voluntary_logit
                + p.voluntary_intent * (intent_base - intent[:, t])
                + p.voluntary_burnout * (burnout_base - burnout[:, t])
                + np.where(years < 1, p.voluntary_new_joiner, 0.0)
                + np.where(years > 5, p.voluntary_long_tenure, 0.0)
            )
            draw = rng.random(n)
            voluntary = can_leave & (draw < 1 / (1 + np.exp(-logit)))
            involuntary = can_leave & ~voluntary & (rng.random(n) < p.involuntary_rate)
            offsets = rng.integers(1, p.cadence_days, size=n)  # strictly between this wave and the next
            for person in np.flatnonzero(voluntary | involuntary):
                departures.append(
                    Departure(
                        employee=int(person),
                        team=int(team_of[person]),
                        after_wave=t,
                        left_on=self.wave_dates[t] + timedelta(days=int(offsets[person])),
                        reason=VOLUNTARY if voluntary[person] else INVOLUNTARY,
                    )
                )
            left = voluntary | involuntary
            last_wave[left] = t
            can_leave &= ~left
        return departures, last_wave

    def _participation(
        self,
        latent: np.ndarray,
        team_of: np.ndarray,
        quiet: np.ndarray,
        invited: np.ndarray,
        last_wave: np.ndarray,
        departures: list[Departure],
    ) -> np.ndarray:
        rng, p = self.rng_take, self.p
        n, n_teams, waves = latent.shape[0], len(quiet), p.waves
        health = latent.mean(axis=2) - latent.mean()
        logit = (
            p.participation_logit
            + rng.normal(0.0, p.participation_person_sd, size=n)[:, None]
            + rng.normal(0.0, p.participation_team_sd, size=n_teams)[team_of][:, None]
            + p.participation_health * health
            - np.where(quiet[team_of], p.quiet_team_penalty, 0.0)[:, None]
        )
        leaving = np.zeros((n, waves))
        for departure in departures:
            if departure.reason != VOLUNTARY:
                continue  # nobody saw it coming, not even the person
            for before, penalty in enumerate(p.leaving_penalty):
                if departure.after_wave - before >= 0:
                    leaving[departure.employee, departure.after_wave - before] = penalty
        probability = 1 / (1 + np.exp(-(logit - leaving)))
        return invited & (rng.random((n, waves)) < probability)

    def _answers(self, latent: np.ndarray, responded: np.ndarray) -> np.ndarray:
        rng, p = self.rng_answer, self.p
        n, waves = responded.shape
        answers = np.full((n, waves, len(self.questions)), NO_ANSWER, dtype=np.int8)
        skip_rate = rng.beta(1.0, 1.0 / p.skip_rate_mean - 1.0, size=n)
        skipped = rng.random(answers.shape) < skip_rate[:, None, None]
        none_left = skipped.all(axis=2)
        keep = rng.integers(len(self.questions), size=(n, waves))
        skipped[none_left, keep[none_left]] = False  # a response holds at least one answer
        for q, question in enumerate(self.questions):
            low, high = SCALE_RANGE[question.scale]
            per_point = (high - low) / 4  # the 1–5 health scale onto the item's scale
            offset = rng.normal(0.0, p.item_offset_sd)
            health = latent[:, :, self.dimensions.index(question.dimension)] + offset
            value = low + (health - 1) * per_point + rng.normal(0.0, p.answer_noise_sd * per_point, size=(n, waves))
            value = np.clip(np.rint(value), low, high).astype(np.int8)
            if question.reverse_scored:
                value = (low + high - value).astype(np.int8)
            answers[:, :, q] = np.where(responded & ~skipped[:, :, q], value, NO_ANSWER)
        return answers

    def _dimension_or_mean(self, latent: np.ndarray, dimension: str) -> np.ndarray:
        if dimension in self.dimensions:
            return latent[:, :, self.dimensions.index(dimension)]
        return latent.mean(axis=2)


def _partition(rng: np.random.Generator, items: int, groups: int) -> np.ndarray:
    """The group of each of ``items`` consecutive items, in ``groups`` non-empty runs of random length."""
    groups = min(groups, items)
    cuts = np.sort(rng.choice(np.arange(1, items), size=groups - 1, replace=False)) if groups > 1 else []
    group_of = np.zeros(items, dtype=np.int64)
    for cut in cuts:
        group_of[cut:] += 1
    return group_of


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# ------------------------------------------------------------------------------ what it holds


def oriented_answers(sim: SimulatedOrg) -> np.ndarray:
    """(P, W, Q) float: each answer oriented so that higher is healthier, NaN where none."""
    answers = sim.answers.astype(np.float64)
    answers[sim.answers == NO_ANSWER] = np.nan
    for q, question in enumerate(sim.questions):
        if question.reverse_scored:
            low, high = SCALE_RANGE[question.scale]
            answers[:, :, q] = low + high - answers[:, :, q]
    return answers


def team_wave_dimension_means(sim: SimulatedOrg) -> TeamWaveMeans:
    """Aggregate the answers per team × wave × dimension, as the product does (see TeamWaveMeans),
    but every team on its own: no database, no anonymity threshold, no coarsening."""
    n_teams, waves, dims = len(sim.teams), sim.params.waves, sim.dimensions
    oriented = oriented_answers(sim)
    cell = (sim.team_of[:, None] * waves + np.arange(waves)[None, :]).ravel()

    def per_team(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=weights.ravel(), minlength=n_teams * waves).reshape(n_teams, waves)

    respondents = np.zeros((n_teams, waves, len(dims)), dtype=np.int64)
    mean = np.full((n_teams, waves, len(dims)), np.nan)
    for d, dimension in enumerate(dims):
        items = [q for q, question in enumerate(sim.questions) if question.dimension == dimension]
        values = oriented[:, :, items]
        answered = ~np.isnan(values)
        count = answered.sum(axis=2)
        score = np.where(count > 0, np.nansum(values, axis=2) / np.maximum(count, 1), 0.0)
        has_score = count > 0
        n = per_team(has_score.astype(np.float64))
        total = per_team(score)
        respondents[:, :, d] = n.astype(np.int64)
        np.divide(total, n, out=mean[:, :, d], where=n > 0)
    return TeamWaveMeans(
        teams=tuple(team.path for team in sim.teams),
        dimensions=dims,
        invited=per_team(sim.invited.astype(np.float64)).astype(np.int64),
        responded=per_team(sim.responded.astype(np.float64)).astype(np.int64),
        respondents=respondents,
        mean=mean,
    )


def ground_truth(sim: SimulatedOrg) -> dict[str, Any]:
    """What was planted, as JSON-serialisable data (dates as ISO strings, waves as 0-based indices
    into ``waves``)."""
    params = {
        key: value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
        for key, value in asdict(sim.params).items()
    }
    by_team: dict[int, list[Departure]] = {}
    for departure in sim.departures:
        by_team.setdefault(departure.team, []).append(departure)
    declines = {team.index: [] for team in sim.teams}
    for decline in sim.declines:
        declines[decline.team].append(
            {
                "dimensions": list(decline.dimensions),
                "start_wave": decline.start_wave,
                "size": decline.size,
                "speed": decline.speed,
                "waves_to_full": decline.waves_to_full,
            }
        )
    changes = {change.team: change for change in sim.manager_changes}
    teams = []
    for team in sim.teams:
        change = changes.get(team.index)
        teams.append(
            {
                "path": team.path,
                "size": team.size,
                "quiet": team.quiet,
                "manager": sim.emails[team.manager],
                "declines": declines[team.index],
                "manager_change": None
                if change is None
                else {
                    "wave": change.wave,
                    "step": change.step,
                    "dimension_steps": {
                        d: round(change.step * DIMENSION_LOADING.get(d, FALLBACK_LOADING), 4) for d in sim.dimensions
                    },
                    "new_manager": sim.emails[change.new_manager],
                },
                "departures": [
                    {
                        "email": sim.emails[d.employee],
                        "left_on": d.left_on.isoformat(),
                        "reason": d.reason,
                        "after_wave": d.after_wave,
                    }
                    for d in by_team.get(team.index, [])
                ],
            }
        )
    reasons = [d.reason for d in sim.departures]
    return {
        "seed": sim.params.seed,
        "parameters": params,
        "root": sim.params.root,
        "hr": sim.emails[sim.hr],
        "employees": len(sim.emails),
        "dimensions": list(sim.dimensions),
        "questions": [list(q) for q in sim.questions],
        "waves": [
            {
                "index": t,
                "opens_on": day.isoformat(),
                "invited": int(sim.invited[:, t].sum()),
                "responded": int(sim.responded[:, t].sum()),
            }
            for t, day in enumerate(sim.wave_dates)
        ],
        "org_dip": None
        if sim.org_dip_wave is None
        else {"wave": sim.org_dip_wave, "size": sim.params.org_dip, "recovers_at": sim.org_dip_wave + 1},
        "org_shift": [round(float(x), 4) for x in sim.org_shift],
        "teams": teams,
        "departures": {
            "total": len(reasons),
            "voluntary": reasons.count(VOLUNTARY),
            "involuntary": reasons.count(INVOLUNTARY),
        },
    }
