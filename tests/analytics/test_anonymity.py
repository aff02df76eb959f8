"""The gate (analytics/anonymity.py): threshold, complement rule with secondary suppression, and
the LP release audit — on trees given by hand, and as a property over random trees."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.anonymity import (
    ROOT,
    Measure,
    Tree,
    counts_release,
    interval_of_mean,
    measure_release,
)
from analytics.models import Suppression

K = 5


def measure_of(tree: Tree, own: dict, scale=(1.0, 5.0)) -> Measure:
    """Subtree sums from each node's own respondents: own = {node: [score, ...]}."""
    n, total, items, fav = defaultdict(int), defaultdict(float), defaultdict(int), defaultdict(int)
    for node, scores in own.items():
        for target in [node, *tree.ancestors(node)] if node is not ROOT else [ROOT]:
            n[target] += len(scores)
            total[target] += sum(scores)
            items[target] += len(scores)
            fav[target] += sum(1 for s in scores if s >= 4)
    return Measure(n=dict(n), total=dict(total), items=dict(items), favorable=dict(fav), scale=scale)


def test_the_worked_case_parent_12_child_8_pins_the_hidden_4_and_is_not_released():
    # given Eng (1) n=12 mean 3.5 with ML (2) n=8 mean 3.75: the other 4 sum to 42 - 30 = 12
    tree = Tree(parents={1: None, 2: 1})
    measure = Measure(
        n={ROOT: 12, 1: 12, 2: 8},
        total={ROOT: 42.0, 1: 42.0, 2: 30.0},
        items={ROOT: 12, 1: 12, 2: 8},
        favorable={ROOT: 6, 1: 6, 2: 6},
    )

    # then releasing both would pin Eng's own 4 at exactly 12 / 4 = 3.0
    assert interval_of_mean(tree=tree, cells={1}, released={ROOT, 1, 2}, measure=measure) == (3.0, 3.0)

    # and the gate does not release both
    released = measure_release(tree=tree, eligible=[ROOT, 1, 2], measure=measure, k=K).released()
    assert not {1, 2} <= released
    assert released == {ROOT, 1}  # the child (the smaller) is hidden; the parent holds 12


def test_a_team_with_direct_members_and_children():
    # given P (1) has 2 own respondents in this dimension (others skipped it), children C1 (6) and C2 (7)
    tree = Tree(parents={1: None, 2: 1, 3: 1})
    own = {1: [3, 4], 2: [2, 3, 3, 4, 4, 5], 3: [1, 2, 3, 3, 4, 5, 5]}
    measure = measure_of(tree, own)

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 2, 3], measure=measure, k=K)

    # then P minus both children would be the 2: the smaller child is hidden too
    assert decision.reasons[2] == Suppression.COMPLEMENT
    assert decision.released() == {ROOT, 1, 3}
    low, high = interval_of_mean(tree=tree, cells={1}, released=decision.released(), measure=measure)
    assert high - low >= 1.0  # a quarter of the 1–5 range at least


def test_three_levels_where_only_the_grandparent_difference_exposes_a_group():
    # given G (1) ── P (2) ── C (3): P's own members' answers went up to G (P holds no results),
    # G holds 3 own + C's 17. G and C pass every parent–child check (P is not released), but
    # G minus C is the 3.
    tree = Tree(parents={1: None, 2: 1, 3: 2})
    own = {1: [2, 2, 3], 3: [4] * 17}
    measure = measure_of(tree, own)

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 3], measure=measure, k=K)

    assert decision.reasons[3] == Suppression.COMPLEMENT
    assert decision.released() == {ROOT, 1}


def test_a_small_group_is_hidden_with_its_reason():
    tree = Tree(parents={1: None, 2: 1, 3: 1})
    measure = measure_of(tree, {2: [3, 3, 3], 3: [4] * 9, 1: [2] * 5})

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 2, 3], measure=measure, k=K)

    assert decision.reasons[2] == Suppression.FEW_ANSWERS


def test_the_audit_hides_more_when_extreme_values_pin_a_hidden_group():
    # given P (1) with 3 own respondents in this dimension (the rest skipped), all at 5, and
    # children C (2) of 10, all at 1, and C3 (3) of 5, all at 5
    tree = Tree(parents={1: None, 2: 1, 3: 1})
    own = {1: [5, 5, 5], 2: [1] * 10, 3: [5] * 5}
    measure = measure_of(tree, own)

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 2, 3], measure=measure, k=K)

    # P - C - C3 = 3: the complement rule hides the smaller child (C3, 5)...
    assert decision.reasons[3] == Suppression.COMPLEMENT
    # ...and then P's own 3 plus C3's 5 sum to 40 = 8 × 5, the maximum: the audit finds P's own
    # 3 pinned at 5.0 and hides the remaining child C, leaving P's sum of 18 alone
    assert decision.reasons[2] == Suppression.AUDIT
    released = decision.released()
    assert released == {ROOT, 1}
    assert interval_of_mean(tree=tree, cells={1}, released=released, measure=measure) == (1.0, 5.0)


def test_a_group_at_the_end_of_the_scale_is_hidden_it_would_say_what_each_member_answered():
    # given (the outside tester's case) Platform (2): its own 6 and Infra's 1, counted with it,
    # all answered 1; Eng (1) has 9 others with ordinary answers
    tree = Tree(parents={1: None, 2: 1, 3: 2})
    own = {2: [1.0] * 7, 1: [3, 4, 2, 3, 3, 4, 2, 3, 3]}
    measure = measure_of(tree, own)

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 2], measure=measure, k=K)

    # then Platform's mean of 1.0 is not released; Eng's (16, mean 2.06) is, and leaves each
    # of Platform's 7 anywhere from 1 to 5
    assert decision.reasons[2] == Suppression.PINNED
    assert decision.released() == {ROOT, 1}
    low, high = interval_of_mean(tree=tree, cells={2}, released=decision.released(), measure=measure)
    assert high * 7 - 6 * 1.0 - max(1.0, low * 7 - 6 * 5.0) >= 1.0


def enps_measure_of(tree: Tree, own: dict) -> Measure:
    """Like measure_of, on 0–10 with promoters (9–10) and detractors (0–6) counted."""
    n, total, items, promoters, detractors = (defaultdict(int) for _ in range(5))
    for node, scores in own.items():
        for target in [node, *tree.ancestors(node)] if node is not ROOT else [ROOT]:
            n[target] += len(scores)
            total[target] += sum(scores)
            items[target] += len(scores)
            promoters[target] += sum(1 for s in scores if s >= 9)
            detractors[target] += sum(1 for s in scores if s <= 6)
    return Measure(
        n=dict(n),
        total={k: float(v) for k, v in total.items()},
        items=dict(items),
        favorable=dict(promoters),
        detractors=dict(detractors),
        scale=(0.0, 10.0),
    )


def test_a_mean_with_every_answer_favourable_says_what_each_member_answered():
    # given (the outside tester's case) six people who all answered 4: mean 4.0, 100 % favourable
    tree = Tree(parents={1: None})
    measure = measure_of(tree, {1: [4.0] * 6})

    decision = measure_release(tree=tree, eligible=[ROOT, 1], measure=measure, k=K)

    # then neither the team nor the wave (the same six) is released
    assert decision.released() == set()
    assert decision.reasons[1] == Suppression.PINNED


def test_a_mean_with_no_answer_favourable_at_its_ceiling_is_hidden_too():
    tree = Tree(parents={1: None})
    measure = measure_of(tree, {1: [3.0] * 7})  # mean 3.0, nobody favourable: each answered 3

    assert measure_release(tree=tree, eligible=[1], measure=measure, k=K).reasons[1] == Suppression.PINNED


def test_all_favourable_leaves_each_member_a_whole_point_and_is_released():
    tree = Tree(parents={1: None})
    measure = measure_of(tree, {1: [4.0, 5.0, 4.0, 5.0, 4.0, 5.0]})  # mean 4.5: each 4 or 5

    assert measure_release(tree=tree, eligible=[1], measure=measure, k=K).released() == {1}


@pytest.mark.parametrize(
    ("answers", "released"),
    [
        ([8] * 6, False),  # eNPS 0, no promoter: everyone answered 7 or 8, and the mean says 8
        ([7, 8, 7, 8, 8, 7], False),  # no promoter, no detractor: each is 7 or 8, one point of 0–10
        ([7, 8, 9, 8, 2, 7], True),  # a promoter and a detractor: anyone could be anywhere
        ([0, 3, 6, 5, 2, 6], True),  # all detractors: each 0–6, wider than a quarter of the range
    ],
)
def test_enps_shares_that_bound_every_answer_to_one_point_are_hidden(answers, released):
    tree = Tree(parents={1: None})
    measure = enps_measure_of(tree, {1: answers})

    decision = measure_release(tree=tree, eligible=[1], measure=measure, k=K)

    assert (decision.reasons[1] is None) is released


def test_counts_release_for_participation():
    # given invited: P (1) 12 = own 3 + C (2) 9
    tree = Tree(parents={1: None, 2: 1})
    decision = counts_release(tree=tree, eligible=[ROOT, 1, 2], counts={ROOT: 12, 1: 12, 2: 9}, k=K)

    assert decision.reasons[2] == Suppression.COMPLEMENT
    assert decision.released() == {ROOT, 1}


# --- the property: over random trees, no group under k is pinned ---------------------------------


@st.composite
def trees_with_answers(draw):
    size = draw(st.integers(min_value=1, max_value=9))
    parents = {}
    for node in range(1, size + 1):
        parents[node] = draw(st.sampled_from([None, *range(1, node)]))
    own = {}
    for node in [ROOT, *parents]:
        count = draw(st.integers(min_value=0, max_value=14))
        # extremes are likelier than not, so that the audit has something to find
        own[node] = draw(st.lists(st.sampled_from([1, 1, 5, 5, 3, 2, 4]), min_size=count, max_size=count))
    eligible = [ROOT, *draw(st.lists(st.sampled_from(list(parents)), unique=True))]
    return Tree(parents=parents), own, eligible


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees_with_answers())
def test_no_release_pins_a_group_under_k(case):
    tree, own, eligible = case
    measure = measure_of(tree, own)

    released = measure_release(tree=tree, eligible=eligible, measure=measure, k=K).released()

    # every released group holds k, and every released pair differs by 0 or at least k
    assert all(measure.n.get(node, 0) >= K for node in released)
    for node in released:
        for other in released:
            if node in tree.ancestors(other) or (other is not ROOT and node is ROOT):
                assert measure.n[node] - measure.n[other] == 0 or measure.n[node] - measure.n[other] >= K
    # no group under k — a node's own respondents, or a whole subtree — is pinned by the LP over
    # the whole tree (not just the part the gate looked at)
    own_n = {node: len(scores) for node, scores in own.items()}
    groups = [{node} for node in tree.nodes() if 0 < own_n.get(node, 0) < K and tree.children.get(node)]
    groups += [
        set(tree.subtree(node)) for node in tree.nodes() if node not in released and 0 < measure.n.get(node, 0) < K
    ]
    for cells in groups:
        low, high = interval_of_mean(tree=tree, cells=cells, released=released, measure=measure)
        assert high - low >= 1.0 - 1e-6, (cells, low, high)
    # and no single person's answer is pinned either, in any node's own respondents
    for node in tree.nodes():
        n = own_n.get(node, 0)
        if n == 0:
            continue
        low, high = interval_of_mean(tree=tree, cells={node}, released=released, measure=measure)
        person = min(5.0, high * n - (n - 1) * 1.0) - max(1.0, low * n - (n - 1) * 5.0)
        assert person >= 1.0 - 1e-6, (node, low, high, n)
    # nor by a share with its mean: every answer favourable (4–5) at a mean of 4.0 says each is
    # 4; none favourable (1–3) at a mean of 3.0 says each is 3
    for node in released:
        if measure.favorable.get(node) == measure.items.get(node):
            assert measure.total[node] != 4.0 * measure.n[node], node
        if measure.favorable.get(node) == 0:
            assert measure.total[node] != 3.0 * measure.n[node], node


@pytest.mark.parametrize("scale", [(1.0, 5.0), (0.0, 10.0)])
def test_the_audit_catches_what_the_complement_rule_lets_through(scale):
    # given P (1) = its own 3 (the rest skipped) + C (2) 4 + D (3) 8: P - D = 7 passes the
    # complement rule, but P's own 3 and C's 4 all answered the scale's top, so with P and D
    # released their 7 sum to the maximum and each of P's own 3 is pinned there
    low, high = scale
    tree = Tree(parents={1: None, 2: 1, 3: 1})
    measure = measure_of(tree, {1: [high] * 3, 2: [high] * 4, 3: [low] * 8}, scale=scale)
    assert interval_of_mean(tree=tree, cells={1}, released={ROOT, 1, 3}, measure=measure) == (high, high)

    decision = measure_release(tree=tree, eligible=[ROOT, 1, 2, 3], measure=measure, k=K)

    # then the audit hides D, and P's own 3 keep a wide interval
    assert decision.reasons[2] == Suppression.FEW_ANSWERS
    assert decision.reasons[3] == Suppression.AUDIT
    assert decision.released() == {ROOT, 1}
    lo, hi = interval_of_mean(tree=tree, cells={1}, released=decision.released(), measure=measure)
    assert hi - lo >= (high - low) / 4
