"""The anonymity gate on simulated organisations: an independent audit of what it releases, how
much secondary suppression costs, and its time per wave.

    .venv/bin/python bench/bench_anonymity.py [--seeds 10] [--employees 3500] [--waves 26] [--k 5]

No database: ``analytics.simulation`` draws the organisations (the same as bench_trend_accuracy.py's),
``surveys.seal.groups_attribute`` attributes the answers, ``analytics.anonymity`` decides.
For every seed, wave and dimension it:

1. builds the frozen tree (Org / division / department / team; the invited teams and their
   ancestors, as the seal freezes it) and the seal's attribution (``groups_attribute``, k, on
   each team's responses): every response belongs to its team or to the ancestor its small
   team passed it to;
2. marks the eligible groups: a team is eligible when every invited member's answers stayed
   inside its subtree (the wave as a whole always is), as ``wave_release`` does;
3. computes the per-node ``Measure`` from the simulated answers (each node: its whole subtree):
   respondents with a score on the dimension, the sum of their scores (a respondent's score is
   the mean of the items they answered, oriented so higher is healthier), item answers,
   favourable answers (4–5 on 1–5, 9–10 on 0–10) and, for eNPS, detractors (0–6);
4. runs the gate, ``measure_release`` (threshold, complement rule, LP audit), timed;
5. audits the result independently over the whole tree: for every group under k — each node's
   own respondents when they are fewer than k and it has sub-teams, and each hidden node's
   subtree with fewer than k — the tightest interval all released sums allow for its mean
   (``interval_of_mean``: every node a variable, every released node an equation), and with
   the bench's own LP the same for its favourable share (and, for eNPS, its detractor share,
   promoters and detractors jointly within each cell's answers); a group counts as pinned when
   its interval is narrower than a quarter of the range (1 point on 1–5, 2.5 on 0–10, 25
   points of a share). It also re-checks the complement rule on the released groups;
6. and once per wave, the participation release: ``counts_release`` on the invited counts per
   group (as ``wave_release`` calls it), with the complement rule re-checked.

It prints the pinned groups (goal 0), the share of cells the gate hides and why, and the gate's
time per wave.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_note, progress
from bench.bench_trend_accuracy import START, OrgTree, django_setup

_EPS = 1e-9
QUARTER = 0.25


@dataclass
class WaveGroups:
    """One wave: the frozen tree, each response's group, and the eligible nodes."""

    tree: object  # analytics.anonymity.Tree
    nodes: list  # tree.nodes(): ROOT (None) first
    index: dict  # node -> position in nodes
    parent_index: np.ndarray  # position of each node's parent (-1 for ROOT)
    order: np.ndarray  # positions, deepest first (for sums up the tree)
    depth: dict  # node -> 0 for the wave, 1 Org, 2 division, 3 department, 4 team
    group_pos: np.ndarray  # (T,) position of the group each team's answers go to (-1: not frozen)
    eligible: list
    invited: dict  # node -> invited in its subtree (by attributed group, as the gate counts it)


def wave_groups(org_tree: OrgTree, *, invited: np.ndarray, responses: np.ndarray, k: int) -> WaveGroups:
    from analytics.anonymity import ROOT, Tree

    group_of = org_tree.groups(invited=invited, responses=responses, k=k)
    parents = org_tree.restricted({int(t) for t in np.flatnonzero(invited > 0)})
    tree = Tree(parents=parents)
    nodes = tree.nodes()
    index = {node: i for i, node in enumerate(nodes)}
    depth: dict = {ROOT: 0}

    def depth_of(node):
        if node not in depth:
            depth[node] = depth_of(parents[node]) + 1
        return depth[node]

    for node in parents:
        depth_of(node)
    parent_index = np.array([-1] + [index[parents[node]] for node in nodes[1:]])
    order = np.array(sorted(range(1, len(nodes)), key=lambda i: -depth[nodes[i]]))
    group_pos = np.full(org_tree.teams, -1)
    for team, group in group_of.items():
        if team < org_tree.teams:
            group_pos[team] = index[group]

    # Eligible: every invited member's answers stayed inside the node's subtree (_answers_leaving).
    leaving = set()
    for team in np.flatnonzero(invited > 0):
        group = group_of[int(team)]
        inside = {ROOT} if group is None else {group, *tree.ancestors(group)}
        for node in [int(team), *tree.ancestors(int(team))]:
            if node is ROOT:
                break
            if group is None or node not in inside:
                leaving.add(node)
    eligible = [node for node in nodes if node not in leaving]

    own = np.zeros(len(nodes))
    np.add.at(own, group_pos[invited > 0], invited[invited > 0])
    counts = _up(own, parent_index, order)
    return WaveGroups(
        tree=tree,
        nodes=nodes,
        index=index,
        parent_index=parent_index,
        order=order,
        depth=depth,
        group_pos=group_pos,
        eligible=eligible,
        invited={node: int(counts[i]) for i, node in enumerate(nodes) if counts[i] > 0},
    )


def _up(own: np.ndarray, parent_index: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Subtree sums from each node's own cell: deepest first, each node adds itself to its parent."""
    total = own.astype(float).copy()
    for i in order:
        total[parent_index[i]] += total[i]
    return total


@dataclass
class Cells:
    """Per node, its own cell of one wave × dimension, and the Measure (subtree sums) built from them."""

    own_n: np.ndarray
    own_items: np.ndarray
    own_fav: np.ndarray
    own_det: np.ndarray | None
    measure: object  # analytics.anonymity.Measure


def cells_build(
    groups: WaveGroups, *, team_of: np.ndarray, responded: np.ndarray, values: np.ndarray, nps: bool
) -> Cells:
    """``values``: (P, items) oriented answers of the dimension in this wave, NaN where none."""
    from analytics.anonymity import Measure

    answered = ~np.isnan(values)
    count = answered.sum(axis=1)
    has = responded & (count > 0)
    score = np.where(has, np.nansum(values, axis=1) / np.maximum(count, 1), 0.0)
    favorable_from = 9 if nps else 4
    fav = (answered & (np.nan_to_num(values, nan=-1) >= favorable_from)).sum(axis=1)
    det = (answered & (np.nan_to_num(values, nan=99) <= 6)).sum(axis=1) if nps else None
    pos = groups.group_pos[team_of[has]]
    size = len(groups.nodes)

    def own(weights):
        return np.bincount(pos, weights=weights[has], minlength=size)

    own_n, own_total, own_items, own_fav = own(np.ones(len(has))), own(score), own(count), own(fav)
    own_det = own(det) if nps else None
    sums = {
        name: _up(arr, groups.parent_index, groups.order)
        for name, arr in (("n", own_n), ("total", own_total), ("items", own_items), ("fav", own_fav))
    }
    det_sum = _up(own_det, groups.parent_index, groups.order) if nps else None
    present = [i for i in range(size) if sums["n"][i] > 0]
    nodes = groups.nodes
    measure = Measure(
        n={nodes[i]: round(sums["n"][i]) for i in present},
        total={nodes[i]: float(sums["total"][i]) for i in present},
        items={nodes[i]: round(sums["items"][i]) for i in present},
        favorable={nodes[i]: round(sums["fav"][i]) for i in present},
        detractors={nodes[i]: round(det_sum[i]) for i in present} if nps else None,
        scale=(0.0, 10.0) if nps else (1.0, 5.0),
    )
    return Cells(own_n, own_items, own_fav, own_det, measure)


# --- the independent audit ------------------------------------------------------------------------


def _membership(groups: WaveGroups, released: set) -> tuple[np.ndarray, list]:
    """Rows: released nodes; columns: every node; 1 where the column's node lies in the row's subtree.
    Built from the parent links here, not from the gate's code."""
    rows = [i for i, node in enumerate(groups.nodes) if node in released]
    row_of = {i: r for r, i in enumerate(rows)}
    matrix = np.zeros((len(rows), len(groups.nodes)))
    for j in range(len(groups.nodes)):
        i = j
        while i >= 0:
            if i in row_of:
                matrix[row_of[i], j] = 1.0
            i = groups.parent_index[i]
    return matrix, rows


def _subtree_positions(groups: WaveGroups, node_pos: int) -> list[int]:
    out = []
    for j in range(len(groups.nodes)):
        i = j
        while i >= 0:
            if i == node_pos:
                out.append(j)
                break
            i = groups.parent_index[i]
    return out


def share_interval(
    *,
    membership: np.ndarray,
    rows: list,
    target: np.ndarray,
    own_items: np.ndarray,
    subtree_fav: np.ndarray,
    subtree_det: np.ndarray | None,
    of: str,
) -> tuple[float, float] | None:
    """Tightest [min, max] of the favourable (or detractor) count of the target cells that the
    released counts allow; each cell's count in [0, its item answers], and for eNPS its
    promoters + detractors within its item answers. None if infeasible."""
    from scipy.optimize import linprog

    size = len(target)
    bounds = [(0.0, float(own_items[v])) for v in range(size)]
    if subtree_det is None:
        a_eq, b_eq, a_ub, b_ub = membership, subtree_fav[rows], None, None
        cost = target
    else:
        zeros = np.zeros_like(membership)
        a_eq = np.block([[membership, zeros], [zeros, membership]])
        b_eq = np.concatenate([subtree_fav[rows], subtree_det[rows]])
        a_ub = np.hstack([np.eye(size), np.eye(size)])
        b_ub = own_items.astype(float)
        bounds = bounds + bounds
        cost = np.concatenate([target, np.zeros(size)] if of == "fav" else [np.zeros(size), target])
    kwargs = {"A_eq": a_eq, "b_eq": b_eq} if len(rows) else {}
    if a_ub is not None:
        kwargs |= {"A_ub": a_ub, "b_ub": b_ub}
    low = linprog(cost, bounds=bounds, method="highs", **kwargs)
    high = linprog(-cost, bounds=bounds, method="highs", **kwargs)
    if low.status != 0 or high.status != 0:
        return None
    return float(low.fun), float(-high.fun)


@dataclass
class Audit:
    groups_checked: int = 0
    pinned_mean: list = field(default_factory=list)  # (seed, wave, dimension, node, n, width)
    pinned_share: list = field(default_factory=list)
    infeasible: int = 0
    complement_broken: list = field(default_factory=list)
    narrowest_mean: float = float("inf")  # width / range, over all groups checked
    narrowest_share: float = float("inf")
    seconds: float = 0.0


def audit(
    groups: WaveGroups, cells: Cells, released: set, *, k: int, label: tuple, result: Audit, dimension: str
) -> None:
    from analytics.anonymity import interval_of_mean

    started = time.perf_counter()
    measure = cells.measure
    nodes = groups.nodes
    n_sub = np.array([measure.n.get(node, 0) for node in nodes], dtype=float)
    children = defaultdict(list)
    for i in range(1, len(nodes)):
        children[groups.parent_index[i]].append(i)
    protected = []
    for i, node in enumerate(nodes):
        if 0 < cells.own_n[i] < k and children[i]:
            protected.append(([i], node))
        if node not in released and 0 < n_sub[i] < k:
            protected.append((_subtree_positions(groups, i), node))
    low, high = measure.scale
    span = high - low
    membership, rows = _membership(groups, released)
    fav_sub = np.array([measure.favorable.get(node, 0) for node in nodes], dtype=float)
    det_sub = None
    if cells.own_det is not None:
        det_sub = np.array([measure.detractors.get(node, 0) for node in nodes], dtype=float)
    for positions, about in protected:
        result.groups_checked += 1
        n_cells = cells.own_n[positions].sum()
        try:
            lo, hi = interval_of_mean(
                tree=groups.tree, cells={nodes[p] for p in positions}, released=released, measure=measure
            )
        except TypeError:  # an infeasible LP has no optimum
            result.infeasible += 1
            continue
        width = (hi - lo) / span
        result.narrowest_mean = min(result.narrowest_mean, width)
        if width < QUARTER - _EPS:
            result.pinned_mean.append((*label, dimension, about, int(n_cells), round(width * span, 4)))
        items_cells = cells.own_items[positions].sum()
        if not items_cells:
            continue
        target = np.zeros(len(nodes))
        target[positions] = 1.0
        for of in ("fav", "det") if det_sub is not None else ("fav",):
            interval = share_interval(
                membership=membership,
                rows=rows,
                target=target,
                own_items=cells.own_items,
                subtree_fav=fav_sub,
                subtree_det=det_sub,
                of=of,
            )
            if interval is None:
                result.infeasible += 1
                continue
            share_width = (interval[1] - interval[0]) / items_cells
            result.narrowest_share = min(result.narrowest_share, share_width)
            if share_width < QUARTER - _EPS:
                result.pinned_share.append((*label, dimension, of, about, int(n_cells), round(share_width, 4)))
    result.complement_broken += [(*label, dimension, node) for node in complement_check(groups, n_sub, released, k=k)]
    result.seconds += time.perf_counter() - started


def complement_check(groups: WaveGroups, counts: np.ndarray, released: set, *, k: int) -> list:
    """Released nodes whose members outside their released sub-groups number 1..k-1."""
    released_pos = {groups.index[node] for node in released}
    below = defaultdict(float)  # per released node: the sum of the released nodes right below it
    for j in released_pos:
        i = groups.parent_index[j]
        while i >= 0 and i not in released_pos:
            i = groups.parent_index[i]
        if i >= 0:
            below[i] += counts[j]
    return [groups.nodes[r] for r in released_pos if below[r] and 0 < counts[r] - below[r] < k]


# --- the run ------------------------------------------------------------------------------------


KINDS = {0: "wave", 1: "org", 2: "division", 3: "department", 4: "team"}


@dataclass
class Shares:
    cells: Counter = field(default_factory=Counter)  # (kind, reason) over eligible cells with respondents
    cells_k: Counter = field(default_factory=Counter)  # (kind, reason) over those with respondents >= k
    participation: Counter = field(default_factory=Counter)  # (kind, reason) over eligible nodes invited
    participation_k: Counter = field(default_factory=Counter)
    upward: Counter = field(default_factory=Counter)  # team-waves with responses: kept / upward
    gate_wave: list = field(default_factory=list)  # seconds per wave (6 dimensions)
    gate_cell: list = field(default_factory=list)  # seconds per wave × dimension
    counts_wave: list = field(default_factory=list)
    baseline_wave: list = field(default_factory=list)  # threshold + complement rule alone, same cells
    nodes: list = field(default_factory=list)
    participation_broken: list = field(default_factory=list)


def run_seed(seed: int, *, employees: int, waves: int, k: int, shares: Shares, result: Audit, bar) -> None:
    from analytics.anonymity import counts_release, measure_release
    from analytics.simulation import NPS11, oriented_answers, simulate, team_wave_dimension_means

    sim = simulate(employees=employees, waves=waves, seed=seed, start=START)
    agg = team_wave_dimension_means(sim)
    oriented = oriented_answers(sim)
    org_tree = OrgTree.of(sim)
    items = {d: [q for q, question in enumerate(sim.questions) if question.dimension == d] for d in sim.dimensions}
    nps = {d: any(sim.questions[q].scale == NPS11 for q in items[d]) for d in sim.dimensions}
    for w in range(waves):
        groups = wave_groups(org_tree, invited=agg.invited[:, w], responses=agg.responded[:, w], k=k)
        shares.nodes.append(len(groups.nodes))
        has = agg.responded[:, w] > 0
        kept = groups.group_pos[has] == np.array([groups.index[t] for t in np.flatnonzero(has)])
        shares.upward.update({"kept": int(kept.sum()), "upward": int((~kept).sum())})

        started = time.perf_counter()
        participation = counts_release(tree=groups.tree, eligible=groups.eligible, counts=groups.invited, k=k)
        shares.counts_wave.append(time.perf_counter() - started)
        for node in groups.eligible:
            invited = groups.invited.get(node, 0)
            if invited:
                reason = str(participation.reasons.get(node, "few_invited") or "shown")
                kind = KINDS[groups.depth[node]]
                shares.participation[(kind, reason)] += 1
                if invited >= k:
                    shares.participation_k[(kind, reason)] += 1
        counts = np.array([groups.invited.get(node, 0) for node in groups.nodes], dtype=float)
        shares.participation_broken += [
            (seed, w, node) for node in complement_check(groups, counts, participation.released(), k=k)
        ]

        wave_seconds = baseline_seconds = 0.0
        for dimension in sim.dimensions:
            cells = cells_build(
                groups,
                team_of=sim.team_of,
                responded=sim.responded[:, w],
                values=oriented[:, w, items[dimension]],
                nps=nps[dimension],
            )
            measure = cells.measure
            eligible = [n for n in groups.eligible if n in measure.n]
            started = time.perf_counter()
            decision = measure_release(tree=groups.tree, eligible=eligible, measure=measure, k=k)
            seconds = time.perf_counter() - started
            wave_seconds += seconds
            shares.gate_cell.append(seconds)
            started = time.perf_counter()
            counts_release(tree=groups.tree, eligible=eligible, counts=measure.n, k=k)  # the baseline: no LP audit
            baseline_seconds += time.perf_counter() - started
            for node, reason in decision.reasons.items():
                kind, why = KINDS[groups.depth[node]], str(reason or "shown")
                shares.cells[(kind, why)] += 1
                if measure.n[node] >= k:
                    shares.cells_k[(kind, why)] += 1
            audit(groups, cells, decision.released(), k=k, label=(seed, w), result=result, dimension=dimension)
        shares.gate_wave.append(wave_seconds)
        shares.baseline_wave.append(baseline_seconds)
        if bar is not None:
            bar.update(1)


def _table(counter: Counter, kinds: list[str], reasons: list[str]) -> None:
    print(f"    {'':<12}" + "".join(f"{r:>14}" for r in [*reasons, "cells"]))
    for kind in [*kinds, "all"]:
        picked = kinds if kind == "all" else [kind]
        total = sum(v for (kd, _), v in counter.items() if kd in picked)
        if not total:
            continue
        row = [sum(counter[(kd, r)] for kd in picked) / total for r in reasons]
        print(f"    {kind:<12}" + "".join(f"{100 * x:>13.2f}%" for x in row) + f"{total:>14,}")


def report(shares: Shares, result: Audit, *, k: int) -> None:
    kinds = ["team", "department", "division", "org", "wave"]
    print(
        f"\nindependent audit: {result.groups_checked:,} groups under k checked "
        f"({result.seconds:.0f} s); infeasible LPs: {result.infeasible}"
    )
    print(f"  means pinned narrower than a quarter of the range: {len(result.pinned_mean)}  (goal 0)")
    for row in result.pinned_mean[:20]:
        print("    seed {}, wave {}, {}: node {} ({} respondents), interval {}".format(*row))
    print(f"  favourable / detractor shares pinned narrower than 25 points: {len(result.pinned_share)}")
    for row in result.pinned_share[:20]:
        print("    seed {}, wave {}, {} {}: node {} ({} respondents), width {}".format(*row))
    print(
        f"  narrowest interval seen: mean {result.narrowest_mean:.3f} of the range, share {result.narrowest_share:.3f}"
    )
    print(
        f"  complement rule broken: dimensions {len(result.complement_broken)}, "
        f"participation {len(shares.participation_broken)}"
    )
    for row in (result.complement_broken + shares.participation_broken)[:10]:
        print(f"    {row}")

    print("\ndimension cells (eligible node × wave × dimension with respondents), by the gate's decision:")
    _table(shares.cells, kinds, ["shown", "few_answers", "complement", "audit"])
    print(f"  of which with respondents >= {k}:")
    _table(shares.cells_k, kinds, ["shown", "complement", "audit"])
    print("\nparticipation (counts_release on invited; eligible nodes with invitees):")
    _table(shares.participation, kinds, ["shown", "few_answers", "complement"])
    print(f"  of which with invited >= {k}:")
    _table(shares.participation_k, kinds, ["shown", "complement"])
    up = shares.upward
    print(
        f"\nteam-waves with responses whose answers went to an ancestor (not eligible): "
        f"{100 * up['upward'] / (up['upward'] + up['kept']):.1f} %  of {up['upward'] + up['kept']:,}"
    )
    gw, gc, bw = np.array(shares.gate_wave), np.array(shares.gate_cell), np.array(shares.baseline_wave)
    print(
        f"\ngate time per wave (measure_release of {len(gc) // len(gw)} dimensions, "
        f"~{statistics.median(shares.nodes):.0f} nodes in the frozen tree):"
    )
    print(
        f"  per wave: median {1000 * np.median(gw):.0f} ms, p90 {1000 * np.percentile(gw, 90):.0f} ms, "
        f"max {1000 * gw.max():.0f} ms, total {gw.sum():.1f} s over {len(gw)} waves"
    )
    print(f"  per wave × dimension: median {1000 * np.median(gc):.1f} ms, max {1000 * gc.max():.0f} ms")
    print(
        f"  baseline, threshold + complement rule alone (counts_release on the same respondents): "
        f"median {1000 * np.median(bw):.1f} ms per wave; gate / baseline {gw.sum() / bw.sum():.0f}"
    )
    print(f"  participation (counts_release on invited): median {1000 * np.median(shares.counts_wave):.1f} ms per wave")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="how many organisations (seeds 1..N)")
    parser.add_argument("--employees", type=int, default=3500)
    parser.add_argument("--waves", type=int, default=26)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    django_setup()
    print(machine_note())
    print(f"configuration: {args.seeds} seeds, {args.employees} employees, {args.waves} waves, k = {args.k}")
    started = time.perf_counter()
    shares, result = Shares(), Audit()
    with progress(total=args.seeds * args.waves, desc="waves") as bar:
        for seed in range(1, args.seeds + 1):
            run_seed(seed, employees=args.employees, waves=args.waves, k=args.k, shares=shares, result=result, bar=bar)
    report(shares, result, k=args.k)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
