"""Trend accuracy on simulated organisations: false alarms, detection of planted declines, lead
time, and the time ``trend_test`` + ``combine_statistics`` take at 1,000 and 10,000 teams.

    .venv/bin/python bench/bench_trend_accuracy.py [--seeds 20] [--employees 3500] [--waves 26] [--plant 40]

No database: ``analytics.simulation`` draws the organisations, ``surveys.seal.groups_attribute``
decides which teams keep their own answers, ``analytics.stats`` tests them. For every seed it:

1. simulates the organisation (``simulate``; about 340 teams at 3,500 people, median 6
   respondents per team and wave, a planted decline in 10 % of the teams, manager changes in
   3 %, one org-wide dip of 0.4 points) and aggregates it per team × wave × dimension
   (``team_wave_dimension_means``);
2. releases a team's point of a wave and dimension only where the product would hold one: the
   seal's attribution (``groups_attribute``, k = ``--k``, on the frozen tree
   Org / division / department / team) keeps the team's answers as a group of its own, and at
   least k of them have a score on the dimension. Secondary suppression is left out here
   (bench_anonymity.py measures how much of it there is); the org-wide mean of each wave is the
   mean over all respondents (the wave as a whole, always released);
3. at every wave from the third on, tests every team and dimension the way that wave's
   analysis would: ``trend_test`` on the released columns up to that wave (alpha ``--alpha``,
   window 6, the product's defaults), and the composite: ``combine_statistics`` of the six
   per-dimension ``z_calibrated``, flagged when its ``p_decline`` <= alpha;
4. does all of that twice: on the organisation as simulated (the false alarms, the simulation's
   own declines), and with ``--plant`` extra declines planted into the team-level means on top
   of it (the detection figures: the simulation plants too few declines of each size for stable
   estimates over 5 seeds).

Counting. A team-wave counts for a dimension when the team has a released point at that wave
and at least 3 released points (a wave without a new point repeats the previous test).
False alarms: "declining" flags per such team-wave on team-dimensions where nothing was ever
planted (no decline on that dimension, no manager change in the team); the composite on teams
with nothing planted on any dimension. Detection: a decline is found when its dimension (or the
team's composite) is flagged at some wave from its first wave to five waves later; declines
starting less than six waves before the end are left out. Team size: the team's median number
of responses per wave. Lead time: waves from the decline's first wave to its first flag, among
those found.

``--plant N`` (default 40 per organisation, 0 = none): N more teams, drawn from the ordinary
teams of 5 or more with nothing planted (as the simulation draws its own), half of them with a
median of more than 10 responses per wave where there are enough such teams; sizes 0.3, 0.5 and
1.0 in turn, dimensions from the simulation's own patterns, half abrupt and half gradual over
3–4 waves, starting between the simulation's earliest start and six waves before the end. The
decline's effect (``PlantedDecline.effect``) is subtracted from the team's mean of each wave
before the org-wide mean is taken, so the org mean moves with it as it would. (The simulation
plants on the latent scale, where rounding and clipping of the answers dampen it a little; the
bench's run without plants reports its detection of those for comparison.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_note, progress

START = date(2026, 1, 5)  # the first wave's opening day: any fixed date (only the seed matters)
WINDOW = 6  # the product's window: the last 6 released points
FOLLOW_UP = 6  # a decline counts as found if flagged within this many waves of its start
BIG = 10  # teams with more than this median number of responses per wave are "big"


def django_setup() -> None:
    """``surveys.seal`` and ``analytics.anonymity`` import Django models: settings, no database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


# --- the frozen tree and the seal's attribution ----------------------------------------------------


@dataclass(frozen=True)
class OrgTree:
    """The simulated organisation as the seal would freeze it: team ids 0..T-1 are the teams,
    then the departments, the divisions and the root team ``Org`` (whose parent is None)."""

    parents: dict[int, int | None]
    root: int
    teams: int

    @classmethod
    def of(cls, sim) -> OrgTree:
        n_teams = len(sim.teams)
        departments = sorted({t.department for t in sim.teams})
        divisions = sorted({t.division for t in sim.teams})
        dep_id = {d: n_teams + i for i, d in enumerate(departments)}
        div_id = {d: n_teams + len(departments) + i for i, d in enumerate(divisions)}
        root = n_teams + len(departments) + len(divisions)
        parents: dict[int, int | None] = {root: None}
        for division in divisions:
            parents[div_id[division]] = root
        for team in sim.teams:
            parents[dep_id[team.department]] = div_id[team.division]
            parents[team.index] = dep_id[team.department]
        return cls(parents=parents, root=root, teams=n_teams)

    def restricted(self, teams: set[int]) -> dict[int, int | None]:
        """The tree the seal freezes for a wave: the invited teams and all their ancestors."""
        keep: set[int] = set()
        for team in teams:
            node: int | None = team
            while node is not None and node not in keep:
                keep.add(node)
                node = self.parents[node]
        return {node: self.parents[node] for node in keep}

    def groups(self, *, invited: np.ndarray, responses: np.ndarray, k: int) -> dict[int, int | None]:
        """``groups_attribute`` for one wave: every frozen team → the group its answers go to."""
        from surveys.seal import groups_attribute

        teams = {int(t) for t in np.flatnonzero(invited > 0)}
        parents = self.restricted(teams)
        counts = Counter({int(t): int(responses[t]) for t in teams if responses[t] > 0})
        return groups_attribute(parents=parents, tops={self.root}, responses=counts, k=k)


# --- one organisation's released team-level arrays ---------------------------------------------------


@dataclass(frozen=True)
class Decline:
    team: int
    dimensions: tuple[int, ...]  # indices into the dimensions
    start: int
    size: float
    speed: str
    waves_to_full: int
    planted_by: str  # "sim" (the simulation) or "bench"

    def effect(self, wave: int) -> float:
        if wave < self.start:
            return 0.0
        return self.size * min(1.0, (wave - self.start + 1) / self.waves_to_full)


@dataclass
class Org:
    seed: int
    dimensions: tuple[str, ...]
    n: np.ndarray  # (T, W, D) released respondents, 0 where not released
    mean: np.ndarray  # (T, W, D) released means, NaN where not released
    org_mean: np.ndarray  # (W, D) over all respondents
    declines: list[Decline]
    changed: np.ndarray  # (T,) bool: a manager change
    size: np.ndarray  # (T,) median responses per wave
    dip: int | None
    kept_share: float  # share of team-waves with responses whose answers stayed in the team
    released_share: float  # share of team-wave-dimensions with respondents that are released

    @property
    def planted(self) -> np.ndarray:
        """(T, D) bool: some decline on this team and dimension."""
        out = np.zeros(self.n.shape[::2], dtype=bool)
        for decline in self.declines:
            out[decline.team, list(decline.dimensions)] = True
        return out


def org_build(*, seed: int, employees: int, waves: int, k: int, plant: int) -> Org:
    from analytics.simulation import DECLINE_PATTERNS, DECLINE_SIZES, GRADUAL, simulate, team_wave_dimension_means

    sim = simulate(employees=employees, waves=waves, seed=seed, start=START)
    agg = team_wave_dimension_means(sim)
    dims = sim.dimensions
    n_teams = len(sim.teams)
    respondents = agg.respondents.astype(float)
    mean = agg.mean.copy()
    size = np.median(agg.responded, axis=1)
    changed = np.zeros(n_teams, dtype=bool)
    changed[[c.team for c in sim.manager_changes]] = True
    declines = [
        Decline(
            d.team, tuple(dims.index(x) for x in d.dimensions), d.start_wave, d.size, d.speed, d.waves_to_full, "sim"
        )
        for d in sim.declines
    ]

    if plant:
        rng = np.random.default_rng([seed, 7])  # its own stream: the simulation is untouched
        taken = {d.team for d in declines} | set(np.flatnonzero(changed).tolist())
        free = [t.index for t in sim.teams if not t.quiet and t.size >= 5 and t.index not in taken]
        big = [t for t in free if size[t] > BIG]
        small = [t for t in free if size[t] <= BIG]
        rng.shuffle(big)
        rng.shuffle(small)
        n_big = min(len(big), plant // 2)
        chosen = [(t, i) for i, t in enumerate(big[:n_big])] + [(t, i) for i, t in enumerate(small[: plant - n_big])]
        low = min(max(2, waves // 3), waves - 1)
        high = max(low, waves - FOLLOW_UP)
        for team, i in chosen:
            pattern = DECLINE_PATTERNS[rng.integers(len(DECLINE_PATTERNS))]
            gradual = bool(rng.random() < 0.5)
            decline = Decline(
                team=int(team),
                dimensions=tuple(dims.index(x) for x in pattern if x in dims),
                start=int(rng.integers(low, high + 1)),
                size=float(DECLINE_SIZES[i % len(DECLINE_SIZES)]),
                speed=GRADUAL if gradual else "abrupt",
                waves_to_full=int(rng.integers(3, 5)) if gradual else 1,
                planted_by="bench",
            )
            effect = np.array([decline.effect(w) for w in range(waves)])
            for d in decline.dimensions:
                mean[team, :, d] -= effect
            declines.append(decline)

    with np.errstate(invalid="ignore", divide="ignore"):
        org_mean = np.nansum(np.where(respondents > 0, mean * respondents, 0.0), axis=0) / respondents.sum(axis=0)

    tree = OrgTree.of(sim)
    kept = np.zeros((n_teams, waves), dtype=bool)
    for w in range(waves):
        group_of = tree.groups(invited=agg.invited[:, w], responses=agg.responded[:, w], k=k)
        for team, group in group_of.items():
            if team < n_teams and group == team:
                kept[team, w] = True
    released = kept[:, :, None] & (respondents >= k)
    has = agg.responded > 0
    return Org(
        seed=seed,
        dimensions=dims,
        n=np.where(released, respondents, 0.0),
        mean=np.where(released, mean, np.nan),
        org_mean=org_mean,
        declines=declines,
        changed=changed,
        size=size,
        dip=sim.org_dip_wave,
        kept_share=float(kept[has].mean()),
        released_share=float(released[respondents > 0].mean()),
    )


# --- the tests of every wave -----------------------------------------------------------------


@dataclass
class Flags:
    """Per team × wave: flagged declining (per dimension, and the composite) and testable."""

    dim: np.ndarray  # (T, W, D) bool
    dim_testable: np.ndarray  # (T, W, D) bool
    comp: np.ndarray  # (T, W) bool
    comp_testable: np.ndarray  # (T, W) bool
    seconds: float = 0.0
    # mean off-diagonal correlation of the six z_calibrated, per wave: teams with nothing planted,
    # big and small apart, and the pooled one combine_statistics uses
    correlation: dict[str, list[float]] = field(default_factory=dict)
    # the composite's flags / tests on those teams with their own group's correlation matrix
    own_strata: dict[str, list[int]] = field(default_factory=dict)


def flags_compute(org: Org, *, alpha: float, bar=None) -> Flags:
    from analytics import stats

    n_teams, waves, n_dims = org.n.shape
    dim = np.zeros((n_teams, waves, n_dims), dtype=bool)
    dim_testable = np.zeros_like(dim)
    comp = np.zeros((n_teams, waves), dtype=bool)
    comp_testable = np.zeros_like(comp)
    null = (~org.planted & ~org.changed[:, None]).all(axis=1)
    strata = {"big": null & (org.size > BIG), "small": null & (org.size <= BIG)}
    correlation: dict[str, list[float]] = {"big": [], "small": [], "pooled": []}
    own_strata: dict[str, list[int]] = {}
    upper = np.triu_indices(n_dims, 1)
    diagnostics = 0.0
    started = time.perf_counter()
    for w in range(2, waves):
        z = {}
        for d, name in enumerate(org.dimensions):
            result = stats.trend_test(
                org.mean[:, : w + 1, d], org.n[:, : w + 1, d], org.org_mean[: w + 1, d], window=WINDOW, alpha=alpha
            )
            new_point = org.n[:, w, d] > 0
            testable = new_point & (result.direction != "insufficient_data")
            dim[:, w, d] = testable & (result.direction == "declining")
            dim_testable[:, w, d] = testable
            z[name] = np.where(testable, result.z_calibrated, np.nan)
        combined = stats.combine_statistics_by_size(z, org.size)  # as analytics/trends.py does
        testable = np.isfinite(combined.z)
        comp[:, w] = testable & (combined.p_decline <= alpha)
        comp_testable[:, w] = testable
        # Diagnostics (not timed): the correlation of the six statistics among the teams with
        # nothing planted, big and small apart, and the composite with each group's own.
        diagnostic = time.perf_counter()
        stacked = np.column_stack([z[name] for name in org.dimensions])
        for label, rows in strata.items():
            own_corr = stats.statistic_correlation(stacked[rows], min_teams=10)
            own = stats.combine_statistics(stacked[rows], correlation=own_corr)
            hits, total = own_strata.setdefault(label, [0, 0])
            own_strata[label] = [hits + int((own.p_decline <= alpha).sum()), total + int(np.isfinite(own.z).sum())]
            if w >= 2 * WINDOW:  # enough teams with a full window
                correlation[label].append(float(own_corr[upper].mean()))
        if w >= 2 * WINDOW:
            correlation["pooled"].append(float(combined.correlation[upper].mean()))
        diagnostics += time.perf_counter() - diagnostic
        if bar is not None:
            bar.update(1)
    seconds = time.perf_counter() - started - diagnostics
    return Flags(dim, dim_testable, comp, comp_testable, seconds, correlation, own_strata)


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Rate:
    hits: int = 0
    total: int = 0

    def add(self, hits: int, total: int) -> None:
        self.hits += int(hits)
        self.total += int(total)

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    def interval(self) -> tuple[float, float]:
        """Wilson 95 % interval."""
        if not self.total:
            return float("nan"), float("nan")
        z, n, p = 1.96, self.total, self.hits / self.total
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def pct(self) -> str:
        low, high = self.interval()
        return f"{100 * self.value:.2f} % ({self.hits}/{self.total}; 95 % CI {100 * low:.2f}–{100 * high:.2f})"

    def share(self) -> str:
        low, high = self.interval()
        return f"{self.value:.2f} ({self.hits}/{self.total}; {low:.2f}–{high:.2f})"


@dataclass
class Tally:
    false_dim: dict[str, Rate] = field(default_factory=lambda: {})
    false_comp: dict[str, Rate] = field(default_factory=lambda: {})
    per_seed_dim: list[float] = field(default_factory=list)
    per_seed_comp: list[float] = field(default_factory=list)
    found_dim: dict[tuple, Rate] = field(default_factory=dict)
    found_comp: dict[tuple, Rate] = field(default_factory=dict)
    lead_dim: dict[tuple, list[int]] = field(default_factory=dict)
    lead_comp: dict[tuple, list[int]] = field(default_factory=dict)
    found_comp_by_width: dict[tuple, Rate] = field(default_factory=dict)  # (size, dimensions hit)
    censored: int = 0
    seconds: list[float] = field(default_factory=list)
    kept: list[float] = field(default_factory=list)
    released: list[float] = field(default_factory=list)
    declines: Counter = field(default_factory=Counter)
    correlation: dict[str, list[float]] = field(default_factory=dict)
    own_strata: dict[str, Rate] = field(default_factory=dict)


def _period(waves: int, dip: int | None) -> np.ndarray:
    """Label of each wave: the dip wave, the 5 after it (their windows still hold the dip), the rest."""
    out = np.full(waves, "other", dtype=object)
    if dip is not None:
        out[dip] = "dip"
        out[dip + 1 : dip + WINDOW] = "after"
    return out


def tally_add(tally: Tally, org: Org, flags: Flags) -> None:
    waves = org.n.shape[1]
    period = _period(waves, org.dip)
    big = org.size > BIG
    nothing = ~org.planted & ~org.changed[:, None]  # (T, D)
    team_nothing = nothing.all(axis=1)
    hits_seed = total_seed = 0
    for label in ("dip", "after", "other"):
        cols = period == label
        for size_label, rows in (("big", big), ("small", ~big)):
            mask = (nothing & rows[:, None])[:, None, :] & cols[None, :, None]
            hits = int((flags.dim & mask).sum())
            total = int((flags.dim_testable & mask).sum())
            tally.false_dim.setdefault((label, size_label), Rate()).add(hits, total)
            hits_seed += hits
            total_seed += total
            cmask = (team_nothing & rows)[:, None] & cols[None, :]
            tally.false_comp.setdefault((label, size_label), Rate()).add(
                (flags.comp & cmask).sum(), (flags.comp_testable & cmask).sum()
            )
    tally.per_seed_dim.append(hits_seed / max(total_seed, 1))
    cmask = team_nothing[:, None]
    tally.per_seed_comp.append(float((flags.comp & cmask).sum() / max((flags.comp_testable & cmask).sum(), 1)))
    for decline in org.declines:
        if decline.start + FOLLOW_UP > waves:
            tally.censored += 1
            continue
        size_label = "big" if org.size[decline.team] > BIG else "small"
        key = (decline.size, size_label)
        tally.declines[(decline.size, size_label, decline.planted_by)] += 1
        span = slice(decline.start, decline.start + FOLLOW_UP)
        for d in decline.dimensions:
            hit = np.flatnonzero(flags.dim[decline.team, span, d])
            tally.found_dim.setdefault(key, Rate()).add(hit.size > 0, 1)
            if hit.size:
                tally.lead_dim.setdefault(key, []).append(int(hit[0]))
        hit = np.flatnonzero(flags.comp[decline.team, span])
        tally.found_comp.setdefault(key, Rate()).add(hit.size > 0, 1)
        tally.found_comp_by_width.setdefault((decline.size, len(decline.dimensions)), Rate()).add(hit.size > 0, 1)
        if hit.size:
            tally.lead_comp.setdefault(key, []).append(int(hit[0]))
    tally.seconds.append(flags.seconds)
    for label, values in flags.correlation.items():
        tally.correlation.setdefault(label, []).extend(values)
    for label, (hits, total) in flags.own_strata.items():
        tally.own_strata.setdefault(label, Rate()).add(hits, total)
    tally.kept.append(org.kept_share)
    tally.released.append(org.released_share)


def _merge(rates: dict, keys) -> Rate:
    out = Rate()
    for key in keys:
        if key in rates:
            out.add(rates[key].hits, rates[key].total)
    return out


def _lead(leads: dict, keys) -> str:
    values = [v for key in keys for v in leads.get(key, [])]
    return f"{statistics.median(values):.1f}" if values else "–"


def report(plain: Tally, planted: Tally | None, *, alpha: float) -> None:
    print(f"\nfalse alarms per team-wave, nothing planted (goal <= {100 * alpha:.0f} %), organisation as simulated:")
    for name, rates in (("per dimension", plain.false_dim), ("composite", plain.false_comp)):
        print(f"  {name}:")
        for label, title in (
            ("dip", "org-dip wave"),
            ("after", f"the {WINDOW - 1} waves after the dip"),
            ("other", "all other waves"),
        ):
            print(f"    {title:<28} {_merge(rates, [(label, 'big'), (label, 'small')]).pct()}")
        for size_label, title in (("big", f"teams > {BIG} responses"), ("small", f"teams <= {BIG}")):
            keys = [(label, size_label) for label in ("dip", "after", "other")]
            print(f"    {title:<28} {_merge(rates, keys).pct()}")
        everything = _merge(rates, list(rates))
        print(f"    {'all waves':<28} {everything.pct()}")
    print(
        f"  per seed, all waves: per dimension {', '.join(f'{100 * x:.2f}' for x in plain.per_seed_dim)} %; "
        f"composite {', '.join(f'{100 * x:.2f}' for x in plain.per_seed_comp)} %"
    )
    corr = {label: statistics.median(values) for label, values in plain.correlation.items() if values}
    if corr:
        print(
            "  correlation between the dimensions' z_calibrated (mean off-diagonal, median over waves >= "
            f"{2 * WINDOW + 1}), nothing planted: teams > {BIG} {corr['big']:.2f}, teams <= {BIG} "
            f"{corr['small']:.2f}; the pooled one combine_statistics uses {corr['pooled']:.2f}"
        )
        print(
            "  composite with each group's own correlation matrix instead, nothing planted: "
            f"teams > {BIG} {plain.own_strata['big'].pct()}, teams <= {BIG} {plain.own_strata['small'].pct()}"
        )
    if planted is not None:
        for name, rates in (("per dimension", planted.false_dim), ("composite", planted.false_comp)):
            print(f"  with the bench's plants too, {name}: {_merge(rates, list(rates)).pct()}")

    for title, tally in (("the simulation's own declines (no plants)", plain), ("with plants", planted)):
        if tally is None:
            continue
        print(f"\ndetection within {FOLLOW_UP} waves of the start, {title}:")
        counted = ", ".join(f"{size} {team} {by}: {n}" for (size, team, by), n in sorted(tally.declines.items()))
        print(f"  declines counted: {counted}; left out (start too late): {tally.censored}")
        print(
            f"  {'size':>5}  {'per dimension > 10':<26} {'per dimension <= 10':<26} {'composite > 10':<26} "
            f"{'composite <= 10':<26} lead (dim / comp)"
        )
        for size in (0.3, 0.5, 1.0):
            cells = [
                _merge(tally.found_dim, [(size, "big")]).share(),
                _merge(tally.found_dim, [(size, "small")]).share(),
                _merge(tally.found_comp, [(size, "big")]).share(),
                _merge(tally.found_comp, [(size, "small")]).share(),
            ]
            keys = [(size, "big"), (size, "small")]
            lead = f"{_lead(tally.lead_dim, keys)} / {_lead(tally.lead_comp, keys)}"
            all_dim = _merge(tally.found_dim, keys).share()
            all_comp = _merge(tally.found_comp, keys).share()
            print(f"  {size:>5}  " + " ".join(f"{c:<26}" for c in cells) + f" {lead}   all: {all_dim} / {all_comp}")
        print("  composite by how many of the 6 dimensions the decline hits:")
        for size in (0.3, 0.5, 1.0):
            widths = sorted(w for s, w in tally.found_comp_by_width if s == size)
            print(f"  {size:>5}  " + "; ".join(f"{w}: {tally.found_comp_by_width[(size, w)].share()}" for w in widths))
    tally = planted or plain
    print(
        f"\nkept as the team's own group: {100 * np.mean(tally.kept):.1f} % of team-waves with responses; "
        f"released: {100 * np.mean(tally.released):.1f} % of team-wave-dimensions with respondents"
    )
    print(f"tests of every wave (trend_test × 6 + combine): {statistics.median(tally.seconds):.1f} s per organisation")


# --- timing -------------------------------------------------------------------------------------


def timing(org: Org, *, sizes: list[int], rounds: int, alpha: float) -> dict[int, list[float]]:
    """trend_test of all waves for each dimension, then combine_statistics, on the org tiled to ``sizes`` teams."""
    from analytics import stats

    times: dict[int, list[float]] = {size: [] for size in sizes}
    n_teams = org.n.shape[0]
    for r in range(rounds):
        for size in sizes if r % 2 == 0 else sizes[::-1]:
            rows = np.arange(size) % n_teams
            n, mean = org.n[rows], org.mean[rows]
            started = time.perf_counter()
            z = {}
            for d, name in enumerate(org.dimensions):
                z[name] = stats.trend_test(mean[:, :, d], n[:, :, d], org.org_mean[:, d], alpha=alpha).z_calibrated
            stats.combine_statistics(z)
            times[size].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many organisations (seeds 1..N)")
    parser.add_argument("--employees", type=int, default=3500)
    parser.add_argument("--waves", type=int, default=26)
    parser.add_argument("--plant", type=int, default=40, help="extra declining teams per organisation (0: none)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--timing-teams", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds")
    args = parser.parse_args()
    django_setup()
    print(machine_note())
    print(
        f"configuration: {args.seeds} seeds, {args.employees} employees, {args.waves} waves, k = {args.k}, "
        f"alpha = {args.alpha}, window {WINDOW}, --plant {args.plant}"
    )
    started = time.perf_counter()
    plain, planted = Tally(), Tally() if args.plant else None
    passes = 2 if args.plant else 1
    first_org = None
    with progress(total=args.seeds * passes * (args.waves - 2), desc="waves tested") as bar:
        for seed in range(1, args.seeds + 1):
            org = org_build(seed=seed, employees=args.employees, waves=args.waves, k=args.k, plant=0)
            first_org = first_org or org
            print(
                f"seed {seed}: {org.n.shape[0]} teams, {len(org.declines)} declines planted by the simulation "
                f"({dict(Counter(d.size for d in org.declines))}), org dip at wave {org.dip}"
            )
            tally_add(plain, org, flags_compute(org, alpha=args.alpha, bar=bar))
            if planted is not None:
                org = org_build(seed=seed, employees=args.employees, waves=args.waves, k=args.k, plant=args.plant)
                tally_add(planted, org, flags_compute(org, alpha=args.alpha, bar=bar))
    report(plain, planted, alpha=args.alpha)
    print(f"accuracy part: {time.perf_counter() - started:.0f} s")

    times = timing(first_org, sizes=args.timing_teams, rounds=args.rounds, alpha=args.alpha)
    print(f"\ntrend_test (6 dimensions × {args.waves} waves) + combine_statistics, seed 1's organisation tiled:")
    medians = {size: statistics.median(values) for size, values in times.items()}
    for size, values in times.items():
        print(f"  {size:>6} teams: median {medians[size]:.2f} s  {[round(v, 2) for v in values]}")
    if len(medians) >= 2:
        small, large = min(medians), max(medians)
        print(f"  {large} / {small} = {medians[large] / medians[small]:.2f}  (goal: {large} under 5 s, ratio <= 11)")


if __name__ == "__main__":
    main()
