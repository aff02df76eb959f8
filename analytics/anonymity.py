"""The gate: what of a wave may be shown, decided once per wave and dimension (DESIGN.md, Anonymity).

Every number any reader sees (API, pages, exports, e-mails, trend points, risk flags) is one
the gate released and stored (``GroupRelease``, ``DimensionRelease``); nothing else reads the
rollups. The rules, in order:

1. **Threshold.** A group with fewer than k respondents (``Wave.min_respondents``, frozen on
   the wave) is hidden; comments need ``min_comment_respondents``. Participation (invited,
   responded) is shown only for groups with at least k invited.
2. **Complement rule.** For every released group, the people in it but in none of its released
   sub-groups number 0 or at least k; otherwise the smallest released sub-group is hidden too
   (secondary suppression), until it holds. This covers every released pair (a parent and a
   child, a grandparent and a grandchild under a hidden parent).
3. **Release audit.** For every group under k (a hidden team, or the own members of a team
   next to its sub-teams), ``scipy.optimize.linprog`` finds the tightest interval that all
   released sums and counts of the wave and dimension allow for its mean, favourable share and
   (eNPS) detractor share. An interval narrower than a quarter of the range (1 point on 1–5,
   2.5 on 0–10, 25 points of a share) hides more: the smallest released group beside it under
   their smallest released common ancestor, or that ancestor itself.

The tree is the one the seal froze. A team holds results only when all its members' answers
stayed inside its subtree (``eligible``); one whose answers went to an ancestor has none of its
own. Respondent counts are participation: released for every group that holds results, and
the audit treats every count as known.

The functions here work on plain mappings (team id → parent, counts, sums) so that they can
be tested by hand; ``wave_release`` at the end feeds them from the rollups and stores the result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from django.db import transaction
from django.utils import timezone
from scipy.optimize import linprog

from surveys import selectors as surveys

from .models import DimensionRelease, DimensionRollup, GroupRelease, Suppression, WaveAnalysis

Key = int | None  # a team id; None is the wave as a whole (the root of every wave's tree)
ROOT: Key = None

AUDIT_SHARE_OF_RANGE = 0.25  # a hidden group's interval must stay at least this wide
_EPS = 1e-9


@dataclass(frozen=True)
class Tree:
    """A wave's frozen tree with the wave as a whole as its root."""

    parents: Mapping[int, Key]  # every team → its parent (None: under the root)

    @cached_property
    def children(self) -> dict[Key, list[int]]:
        kids: dict[Key, list[int]] = defaultdict(list)
        for team, parent in self.parents.items():
            kids[parent].append(team)
        return dict(kids)

    @cached_property
    def _subtrees(self) -> dict[Key, list[Key]]:
        return {}

    def nodes(self) -> list[Key]:
        return [ROOT, *self.parents]

    def ancestors(self, node: Key) -> list[Key]:
        """From the node's parent up to the root (the root has none)."""
        chain: list[Key] = []
        while node is not ROOT:
            node = self.parents.get(node)
            chain.append(node)
        return chain

    def subtree(self, node: Key) -> list[Key]:
        cached = self._subtrees.get(node)
        if cached is None:
            kids = self.children
            cached, stack = [], [node]
            while stack:
                current = stack.pop()
                cached.append(current)
                stack.extend(kids.get(current, ()))
            self._subtrees[node] = cached
        return cached


@dataclass(frozen=True)
class Measure:
    """One wave × dimension, per node (its whole subtree): what a release would publish.

    ``n`` respondents, ``total`` the sum of their scores, ``items`` item answers,
    ``favorable`` and ``detractors`` counts of item answers. ``scale`` is (min, max).
    """

    n: Mapping[Key, int]
    total: Mapping[Key, float]
    items: Mapping[Key, int]
    favorable: Mapping[Key, int]
    detractors: Mapping[Key, int] | None = None  # eNPS only
    scale: tuple[float, float] = (1.0, 5.0)


@dataclass
class Decision:
    """Released nodes map to None, hidden ones to their reason."""

    reasons: dict[Key, str] = field(default_factory=dict)

    def released(self) -> set[Key]:
        return {node for node, reason in self.reasons.items() if reason is None}


def counts_release(*, tree: Tree, eligible: Iterable[Key], counts: Mapping[Key, int], k: int) -> Decision:
    """Threshold and complement rule over counts alone (participation, comments)."""
    decision = _threshold(eligible=eligible, counts=counts, k=k)
    _complement_enforce(tree=tree, decision=decision, counts=counts, k=k)
    return decision


def participation_release(*, tree: Tree, eligible: Iterable[Key], invited: Mapping[Key, int], k: int) -> Decision:
    """Participation (invited, responded) is a release too: only for groups with at least k
    invited, under the complement rule on the invited counts."""
    decision = counts_release(tree=tree, eligible=eligible, counts=invited, k=k)
    for node, reason in decision.reasons.items():
        if reason == Suppression.FEW_ANSWERS:
            decision.reasons[node] = Suppression.FEW_INVITED
    return decision


def live_participation_release(*, wave_id: int, k: int) -> tuple[dict[Key, int], dict[Key, int], Decision]:
    """An open wave's participation per team (its subtree, over the tree as it is now) and what
    of it is released: (invited, responded so far, decision). Decided from the invited counts,
    fixed at launch, so every reader gets the same set while the wave is open."""
    tree = Tree(parents={pk: parent for pk, parent, _ in surveys.teams_tree()})
    invited: dict[Key, int] = defaultdict(int)
    responded: dict[Key, int] = defaultdict(int)
    for team, (n_invited, n_responded) in surveys.wave_live_participation(wave_id=wave_id).items():
        for node in [team, *tree.ancestors(team)]:
            invited[node] += n_invited
            responded[node] += n_responded
    decision = participation_release(tree=tree, eligible=list(invited), invited=invited, k=k)
    return dict(invited), dict(responded), decision


def measure_release(*, tree: Tree, eligible: Iterable[Key], measure: Measure, k: int) -> Decision:
    """Threshold, complement rule and the release audit for one wave × dimension."""
    decision = _threshold(eligible=eligible, counts=measure.n, k=k)
    while True:
        _complement_enforce(tree=tree, decision=decision, counts=measure.n, k=k)
        if _audit_enforce(tree=tree, decision=decision, measure=measure, k=k):
            continue
        if not _person_audit_enforce(tree=tree, decision=decision, measure=measure):
            return decision


def _threshold(*, eligible: Iterable[Key], counts: Mapping[Key, int], k: int) -> Decision:
    decision = Decision()
    for node in eligible:
        if counts.get(node, 0) > 0:
            decision.reasons[node] = None if counts[node] >= k else Suppression.FEW_ANSWERS
    return decision


def _maximal_released_below(tree: Tree, node: Key, released: set[Key]) -> list[int]:
    """The released groups under ``node`` with no released group between them and it."""
    kids = tree.children
    out, stack = [], list(kids.get(node, ()))
    while stack:
        current = stack.pop()
        if current in released:
            out.append(current)
        else:
            stack.extend(kids.get(current, ()))
    return out


def _complement_enforce(*, tree: Tree, decision: Decision, counts: Mapping[Key, int], k: int) -> None:
    changed = True
    while changed:
        changed = False
        released = decision.released()
        for node in sorted(released, key=lambda n: -counts.get(n, 0)):
            below = _maximal_released_below(tree, node, released)
            rest = counts.get(node, 0) - sum(counts.get(b, 0) for b in below)
            if 0 < rest < k and below:
                smallest = min(below, key=lambda b: (counts.get(b, 0), b))
                decision.reasons[smallest] = Suppression.COMPLEMENT
                changed = True
                break


def _own(tree: Tree, values: Mapping[Key, float]) -> dict[Key, float]:
    """Each node's own cell: its subtree's value minus its children's (what only it holds)."""
    kids = tree.children
    return {node: values.get(node, 0) - sum(values.get(c, 0) for c in kids.get(node, ())) for node in tree.nodes()}


def _protected(tree: Tree, measure: Measure, decision: Decision, k: int) -> list[tuple[set[Key], Key]]:
    """Groups under k that the audit must keep vague: (their cells, the node they are about).

    A hidden node's whole subtree, and each node's own members (its cell) when they number
    fewer than k.
    """
    own_n = _own(tree, measure.n)
    groups = []
    released = decision.released()
    for node in tree.nodes():
        n = measure.n.get(node, 0)
        if 0 < n < k and node not in released:
            groups.append((set(tree.subtree(node)), node))
        if 0 < own_n[node] < k and tree.children.get(node):
            groups.append(({node}, node))
    return groups


def _audit_enforce(*, tree: Tree, decision: Decision, measure: Measure, k: int) -> bool:
    """Hide one more group if the audit pins a group under k; returns whether it did."""
    released = decision.released()
    for cells, about in _protected(tree, measure, decision, k):
        covers = [a for a in [about, *tree.ancestors(about)] if a in released]
        if not covers:
            continue  # nothing released holds it: unconstrained
        cover = covers[0]
        if not _pinned(tree=tree, cover=cover, cells=cells, released=released, measure=measure):
            continue
        inside = [
            node
            for node in released
            if node != cover and cover in tree.ancestors(node) and not (set(tree.subtree(node)) & cells)
        ]
        victim = min(inside, key=lambda n: (measure.n.get(n, 0), n)) if inside else cover
        decision.reasons[victim] = Suppression.AUDIT
        return True
    return False


def _person_audit_enforce(*, tree: Tree, decision: Decision, measure: Measure) -> bool:
    """Hide one more group if the released values pin one person's answers; returns whether it did.

    A group of any size pins each of its members when its released mean sits at (or within
    a quarter of the range divided by its size of) an end of the scale: a team of 7 whose mean
    is 1.0 says that each of the 7 answered 1, including a one-person team counted inside it.
    So for every node's own respondents (a cell, the finest thing the rollups know), the
    interval the released values allow for *one* of them must be at least a quarter of the
    range wide. The shares narrow it too: a favourable share of 1 (or 0) says every answer
    in the group is 4–5 (or 1–3), and "no promoter and no detractor" says every eNPS answer is
    7 or 8; so a mean of 4.0 with every answer favourable pins each member at 4, as does an eNPS
    of 0 with no promoter (each is 7 or 8: one point of 0–10). Every released group holding the
    cell gives such bounds, and so does its cover less the released groups beside it.

    The released groups form a laminar family, so the cell's interval is exact without an LP:
    its cover's (smallest released ancestor's) sum, minus the released groups under the cover
    beside it, minus the range of every other cell under the cover outside those. When a pin
    remains even with the groups beside it hidden, the cover itself is hidden; otherwise the
    smallest group beside it.
    """
    released = decision.released()
    own = {name: _own(tree, values) for name, values in _families(measure).items()}
    for cell in tree.nodes():
        if own["n"][cell] <= 0:
            continue
        covers = [a for a in [cell, *tree.ancestors(cell)] if a in released]
        if not covers:
            continue
        cover = covers[0]
        beside = _maximal_released_below(tree, cover, released)
        if not _person_pinned(tree, measure, own, cell=cell, cover=cover, beside=beside, released=released):
            continue
        if beside and not _person_pinned(tree, measure, own, cell=cell, cover=cover, beside=[], released=released):
            # hiding a group beside the cell keeps its people vague: hidden for their sake
            victim = min(beside, key=lambda b: (measure.n.get(b, 0), b))
            decision.reasons[victim] = Suppression.AUDIT
        else:
            # the cover's own values say what its members answered
            decision.reasons[cover] = Suppression.PINNED
        return True
    return False


def _person_pinned(
    tree: Tree,
    measure: Measure,
    own: dict[str, dict[Key, float]],
    *,
    cell: Key,
    cover: Key,
    beside: list[int],
    released: set[Key],
) -> bool:
    inside_beside = {node for b in beside for node in tree.subtree(b)}
    free = [c for c in tree.subtree(cover) if c != cell and c not in inside_beside]
    n = own["n"][cell]
    # what the shares say of every answer in the cell and the free cells around it
    low, high = _share_bounds(tree, measure, cover=cover, beside=beside, released=released)
    # the mean: the cell's score sum, then one of its n people (the others anywhere in the bounds)
    known = _value(measure, "total", cover) - sum(_value(measure, "total", b) for b in beside)
    cell_low = max(low * n, known - sum(high * own["n"][c] for c in free))
    cell_high = min(high * n, known - sum(low * own["n"][c] for c in free))
    person = min(high, cell_high - (n - 1) * low) - max(low, cell_low - (n - 1) * high)
    scale_low, scale_high = measure.scale
    return person < AUDIT_SHARE_OF_RANGE * (scale_high - scale_low) - _EPS


def _share_bounds(
    tree: Tree, measure: Measure, *, cover: Key, beside: list[int], released: set[Key]
) -> tuple[float, float]:
    """The range every answer under ``cover`` outside ``beside`` must lie in, by the published
    favourable and detractor counts: of the cover less the groups beside it, and of every
    released group above the cover."""
    low, high = measure.scale
    favourable_from = 9.0 if high > 5 else 4.0  # 4–5 on 1–5, promoters 9–10 on 0–10
    regions = [(cover, beside)] + [(a, []) for a in tree.ancestors(cover) if a in released]
    families = ["favorable"] + (["detractors"] if measure.detractors is not None else [])
    for node, minus in regions:
        items = _value(measure, "items", node) - sum(_value(measure, "items", b) for b in minus)
        if items <= 0:
            continue
        for family in families:
            count = _value(measure, family, node) - sum(_value(measure, family, b) for b in minus)
            if family == "favorable":
                if count >= items:
                    low = max(low, favourable_from)
                elif count <= 0:
                    high = min(high, favourable_from - 1)
            elif count >= items:  # every answer a detractor: 0–6
                high = min(high, 6.0)
            elif count <= 0:
                low = max(low, 7.0)
    return low, high


def _families(measure: Measure) -> dict[str, Mapping[Key, float]]:
    families: dict[str, Mapping[Key, float]] = {
        "n": measure.n,
        "items": measure.items,
        "total": measure.total,
        "favorable": measure.favorable,
    }
    if measure.detractors is not None:
        families["detractors"] = measure.detractors
    return families


def _value(measure: Measure, family: str, node: Key) -> float:
    return float(_families(measure)[family].get(node, 0))


def _lp_system(
    tree: Tree, variables: list[Key], released: set[Key], cells: set[Key]
) -> tuple[list[Key], np.ndarray, np.ndarray]:
    """The released nodes among ``variables`` (one equation each: the sum of its subtree's cells),
    their membership matrix, and the objective picking out ``cells``."""
    index = {node: i for i, node in enumerate(variables)}
    constraints = [node for node in variables if node in released]
    membership = np.zeros((len(constraints), len(variables)))
    for row, node in enumerate(constraints):
        for member in tree.subtree(node):
            membership[row, index[member]] = 1.0
    target = np.zeros(len(variables))
    for node in cells:
        target[index[node]] = 1.0
    return constraints, membership, target


def _pinned(*, tree: Tree, cover: Key, cells: set[Key], released: set[Key], measure: Measure) -> bool:
    """Whether the released values under ``cover`` pin the mean or a share of ``cells`` too narrowly."""
    variables = tree.subtree(cover)
    constraints, membership, target = _lp_system(tree, variables, released, cells)

    own_n, own_items = _own(tree, measure.n), _own(tree, measure.items)
    n_cells = sum(own_n[c] for c in cells)
    items_cells = sum(own_items[c] for c in cells)
    low, high = measure.scale
    span = high - low

    # The mean: each cell's score sum lies in [low·n, high·n].
    bounds = [(low * own_n[v], high * own_n[v]) for v in variables]
    sums = np.array([measure.total.get(node, 0.0) for node in constraints])
    if n_cells and _width(target, membership, sums, bounds) / n_cells < AUDIT_SHARE_OF_RANGE * span - _EPS:
        return True

    if not items_cells:
        return False
    # Favourable (and detractor) counts: each cell's in [0, its item answers].
    item_bounds = [(0.0, float(own_items[v])) for v in variables]
    fav = np.array([measure.favorable.get(node, 0) for node in constraints], dtype=float)
    if measure.detractors is None:
        return _width(target, membership, fav, item_bounds) / items_cells < AUDIT_SHARE_OF_RANGE - _EPS
    det = np.array([measure.detractors.get(node, 0) for node in constraints], dtype=float)
    return _pinned_promoters_detractors(target, membership, fav, det, item_bounds, items_cells)


def _width(target: np.ndarray, a_eq: np.ndarray, b_eq: np.ndarray, bounds: list[tuple[float, float]]) -> float:
    """max − min of target·x subject to a_eq·x = b_eq and the bounds."""
    kwargs = {"A_eq": a_eq, "b_eq": b_eq} if len(b_eq) else {}
    low = linprog(target, bounds=bounds, method="highs", **kwargs)
    high = linprog(-target, bounds=bounds, method="highs", **kwargs)
    if low.status != 0 or high.status != 0:
        # Infeasible can only mean rounding in the published values; treat it as pinned.
        return 0.0
    return float(-high.fun - low.fun)


def _pinned_promoters_detractors(
    target: np.ndarray,
    membership: np.ndarray,
    fav: np.ndarray,
    det: np.ndarray,
    item_bounds: list[tuple[float, float]],
    items_cells: float,
) -> bool:
    """eNPS: promoters y and detractors z per cell, y + z within the cell's item answers."""
    size = len(target)
    zeros = np.zeros_like(membership)
    a_eq = np.block([[membership, zeros], [zeros, membership]])
    b_eq = np.concatenate([fav, det])
    a_ub = np.hstack([np.eye(size), np.eye(size)])
    b_ub = np.array([hi for _, hi in item_bounds])
    bounds = item_bounds + item_bounds
    for part in (np.concatenate([target, np.zeros(size)]), np.concatenate([np.zeros(size), target])):
        kwargs = {"A_eq": a_eq, "b_eq": b_eq} if len(b_eq) else {}
        low = linprog(part, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", **kwargs)
        high = linprog(-part, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", **kwargs)
        if low.status != 0 or high.status != 0:
            return True
        if (-high.fun - low.fun) / items_cells < AUDIT_SHARE_OF_RANGE - _EPS:
            return True
    return False


def interval_of_mean(*, tree: Tree, cells: set[Key], released: set[Key], measure: Measure) -> tuple[float, float]:
    """The tightest interval the released sums allow for the mean of ``cells`` (for tests and the bench)."""
    variables = tree.nodes()
    constraints, membership, target = _lp_system(tree, variables, released, cells)
    own_n = _own(tree, measure.n)
    low, high = measure.scale
    bounds = [(low * own_n[v], high * own_n[v]) for v in variables]
    sums = np.array([measure.total.get(node, 0.0) for node in constraints])
    kwargs = {"A_eq": membership, "b_eq": sums} if constraints else {}
    lo = linprog(target, bounds=bounds, method="highs", **kwargs)
    hi = linprog(-target, bounds=bounds, method="highs", **kwargs)
    n_cells = sum(own_n[c] for c in cells)
    return lo.fun / n_cells, -hi.fun / n_cells


# --- the stored release of a sealed wave ------------------------------------------------------------


def wave_release(*, wave_id: int) -> bool:
    """Decide and store what of a sealed, rolled-up wave is released. Once: a published wave
    is never re-released (a second, different release would hand two readers a difference)."""
    with transaction.atomic():
        analysis = WaveAnalysis.objects.select_for_update().filter(wave_id=wave_id).first()
        if analysis is None or analysis.released_at is not None or not analysis.rollup_version:
            return False
        wave = surveys.wave_get(wave_id=wave_id)
        frozen = surveys.wave_frozen_tree(wave_id=wave_id)
        tree = Tree(parents={t.team: t.parent for t in frozen})
        upward_to = _answers_leaving(tree=tree, frozen=frozen)
        eligible = [node for node in tree.nodes() if node not in upward_to]
        holds_all = _holding_the_audience(tree=tree, frozen=frozen)
        invited, responded = _participation_by_node(
            tree=tree, kept=surveys.wave_participation(wave_id=wave_id), holds_all=holds_all
        )
        k, kc = wave.min_respondents, wave.min_comment_respondents
        participation = participation_release(tree=tree, eligible=eligible, invited=invited, k=k)
        comments = counts_release(tree=tree, eligible=eligible, counts=responded, k=kc)
        paths = {t.team: t.path for t in frozen}
        GroupRelease.objects.bulk_create(
            _group_release(
                wave=wave,
                node=node,
                path=paths.get(node, ""),
                upward=upward_to.get(node),
                counts=(invited.get(node, 0), responded.get(node, 0)),
                participation=participation.reasons.get(node, Suppression.FEW_INVITED),
                comments=comments.reasons.get(node, Suppression.FEW_ANSWERS),
            )
            for node in tree.nodes()
        )
        DimensionRelease.objects.bulk_create(
            _dimension_releases(wave=wave, tree=tree, eligible=eligible, k=k, holds_all=holds_all)
        )
        analysis.released_at = timezone.now()
        analysis.save(update_fields=["released_at"])
    return True


def _answers_leaving(*, tree: Tree, frozen: list[surveys.FrozenTeam]) -> dict[Key, tuple[Key, bool]]:
    """Teams some of whose members' answers went above them: {team: (where, whether its own members')}.

    A team holds results of its own only when every invited member below it had their answers
    kept inside its subtree. Answers kept for the wave as a whole count as inside a team that
    holds the wave's whole audience (a single root, say): its results are the wave's.
    """
    holds_all = _holding_the_audience(tree=tree, frozen=frozen)
    leaving: dict[Key, tuple[Key, bool]] = {}
    for member in frozen:
        if not member.invited:
            continue
        inside = {member.group, *tree.ancestors(member.group)} if member.group is not None else holds_all
        for node in [member.team, *tree.ancestors(member.team)]:
            if node is ROOT:
                break
            if node not in inside:
                own = node == member.team
                if own or node not in leaving:
                    leaving[node] = (member.group, own)
    return leaving


def _holding_the_audience(*, tree: Tree, frozen: list[surveys.FrozenTeam]) -> set[int]:
    """Teams whose subtree holds every invitee of the wave (a single root of a whole-organisation
    wave, and the teams above the audience's top): their results are the wave's as a whole."""
    invited_teams = {member.team for member in frozen if member.invited}
    return {node for node in tree.parents if invited_teams <= set(tree.subtree(node))}


def _participation_by_node(
    *, tree: Tree, kept: Mapping[Key, tuple[int, int]], holds_all: set[int]
) -> tuple[dict[Key, int], dict[Key, int]]:
    invited: dict[Key, int] = defaultdict(int)
    responded: dict[Key, int] = defaultdict(int)
    for group, (n_invited, n_responded) in kept.items():
        for node in [group, *tree.ancestors(group)] if group is not ROOT else [ROOT, *holds_all]:
            invited[node] += n_invited
            responded[node] += n_responded
    return dict(invited), dict(responded)


def _group_release(
    *,
    wave: object,
    node: Key,
    path: str,
    upward: tuple[Key, bool] | None,
    counts: tuple[int, int],
    participation: str | None,
    comments: str | None,
) -> GroupRelease:
    if upward is not None:
        where, own = upward
        reason = Suppression.UPWARD if own else Suppression.PARTIAL
        return GroupRelease(
            wave=wave,
            team_id=node,
            path=path,
            state=GroupRelease.State.UPWARD,
            group_id=where,
            participation_reason=reason,
            comments_reason=reason,
        )
    invited, responded = counts
    shown = participation is None
    return GroupRelease(
        wave=wave,
        team_id=node,
        path=path,
        state=GroupRelease.State.RESULTS if responded else GroupRelease.State.NONE,
        group_id=node,
        invited=invited if shown else None,
        responded=responded if shown else None,
        participation_reason=participation or "",
        comments_released=comments is None,
        comments_reason=comments or "",
    )


def _dimension_releases(
    *, wave: object, tree: Tree, eligible: list[Key], k: int, holds_all: set[int]
) -> list[DimensionRelease]:
    rollups: dict[str, dict[Key, DimensionRollup]] = defaultdict(dict)
    for rollup in DimensionRollup.objects.filter(wave=wave):
        rollups[rollup.dimension][rollup.team_id] = rollup
    for by_node in rollups.values():
        # A team holding the whole audience holds the wave's answers, those kept for the wave
        # as a whole included (its own rollup covers only the groups in its subtree).
        if ROOT in by_node:
            for node in holds_all:
                by_node[node] = by_node[ROOT]
    scales = surveys.dimension_scales()
    releases = []
    for dimension, by_node in rollups.items():
        low, high = scales.get(dimension, (1, 5))
        nps = high == 10
        measure = Measure(
            n={node: r.respondents for node, r in by_node.items()},
            total={node: r.score_sum for node, r in by_node.items()},
            items={node: r.items for node, r in by_node.items()},
            favorable={node: r.favorable for node, r in by_node.items()},
            detractors={node: r.detractors for node, r in by_node.items()} if nps else None,
            scale=(float(low), float(high)),
        )
        decision = measure_release(tree=tree, eligible=[n for n in eligible if n in by_node], measure=measure, k=k)
        for node, reason in decision.reasons.items():
            rollup = by_node[node]
            shown = reason is None
            releases.append(
                DimensionRelease(
                    wave=wave,
                    team_id=node,
                    dimension=dimension,
                    respondents=rollup.respondents,
                    mean=round(rollup.score_sum / rollup.respondents, 2) if shown else None,
                    favorable=round(rollup.favorable / rollup.items, 3) if shown and rollup.items else None,
                    enps=round(100 * (rollup.favorable - rollup.detractors) / rollup.items, 1)
                    if shown and nps and rollup.items
                    else None,
                    reason=reason or "",
                )
            )
    return releases
