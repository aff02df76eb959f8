"""Rollups against a straightforward Python computation over sealed waves written as the seal
leaves them (frozen tree, attributed responses, answers), on random data and on the packing's
edges (more than one 64-bit word of questions, the ends of both scales)."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import DimensionRollup, QuestionRollup
from analytics.rollups import wave_rollup
from surveys.models import Answer, Question, Response, WaveTeam
from tests.factories import QuestionFactory, SealedWaveFactory, TeamFactory

pytestmark = pytest.mark.django_db

NPS, LIKERT = Question.Scale.NPS11, Question.Scale.LIKERT5


def sealed_wave(*, parents: list[int | None], questions: list[Question], responses: list[tuple[int | None, dict]]):
    """A sealed wave over fresh teams: ``parents[i]`` is team i's parent index in the frozen tree;
    each response is (index of its attributed group or None, {question index: value}).

    The live tree is flat (no team has a parent): only the frozen one may count."""
    teams = [TeamFactory() for _ in parents]
    wave = SealedWaveFactory()
    WaveTeam.objects.bulk_create(
        WaveTeam(wave=wave, team=team, parent=None if p is None else teams[p], path=team.path, group=team)
        for team, p in zip(teams, parents, strict=True)
    )
    rows, answers = [], []
    for group, answered in responses:
        response = Response(id=uuid.uuid4(), wave=wave, team=None if group is None else teams[group])
        rows.append(response)
        answers += [Answer(response=response, question=questions[q], value=v) for q, v in answered.items()]
    Response.objects.bulk_create(rows)
    Answer.objects.bulk_create(answers)
    return wave, teams


def oriented(question: Question, value: int) -> int:
    top = 10 if question.scale == NPS else 6
    return top - value if question.reverse_scored else value


def expected_rollups(*, parents, teams, questions, responses):
    """{(team pk or None, dimension): row} and {(team pk or None, question pk): row}, computed directly."""

    def in_subtree(group: int | None, top: int) -> bool:
        while group is not None:
            if group == top:
                return True
            group = parents[group]
        return False

    scopes = {None: responses} | {teams[t].pk: [r for r in responses if in_subtree(r[0], t)] for t in range(len(teams))}
    dimensions, per_question = {}, {}
    for scope, members in scopes.items():
        scores, items = defaultdict(list), defaultdict(list)
        for _, answered in members:
            by_dimension = defaultdict(list)
            for q, v in answered.items():
                question = questions[q]
                by_dimension[question.dimension].append((question, oriented(question, v)))
                items[q].append(oriented(question, v))
            for dimension, values in by_dimension.items():
                scores[dimension].append(values)
        for dimension, respondents in scores.items():
            means = [sum(v for _, v in values) / len(values) for values in respondents]
            flat = [(question, v) for values in respondents for question, v in values]
            dimensions[(scope, dimension)] = (
                len(respondents),
                sum(means),
                sum(m * m for m in means),
                len(flat),
                sum(v >= (9 if question.scale == NPS else 4) for question, v in flat),
                sum(question.scale == NPS and v <= 6 for question, v in flat),
            )
        for q, values in items.items():
            question = questions[q]
            low, high = (0, 10) if question.scale == NPS else (1, 5)
            per_question[(scope, question.pk)] = (
                len(values),
                sum(values),
                sum(v * v for v in values),
                sum(v >= (9 if question.scale == NPS else 4) for v in values),
                [values.count(v) for v in range(low, high + 1)],
            )
    return dimensions, per_question


def stored_rollups(wave):
    dimensions = {
        (r.team_id, r.dimension): (r.respondents, r.score_sum, r.score_sumsq, r.items, r.favorable, r.detractors)
        for r in DimensionRollup.objects.filter(wave=wave)
    }
    per_question = {
        (r.team_id, r.question_id): (r.respondents, r.total, r.total_sq, r.favorable, r.distribution)
        for r in QuestionRollup.objects.filter(wave=wave)
    }
    return dimensions, per_question


def assert_same(stored: dict, expected: dict) -> None:
    assert stored.keys() == expected.keys()
    for key, row in expected.items():
        for got, want in zip(stored[key], row, strict=True):
            if isinstance(want, float):
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (key, stored[key], row)
            else:
                assert got == want, (key, stored[key], row)


@st.composite
def sealed_waves(draw):
    # a frozen tree: each team's parent is an earlier team (or none: another root)
    size = draw(st.integers(min_value=1, max_value=7))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, size)]
    questions = draw(
        st.lists(
            st.tuples(st.sampled_from(["workload", "growth", "enps"]), st.sampled_from([LIKERT, NPS]), st.booleans()),
            min_size=1,
            max_size=6,
        )
    )
    response = st.tuples(
        st.one_of(st.none(), st.integers(0, size - 1)),
        st.fixed_dictionaries({}, optional={q: st.integers(0, 10) for q in range(len(questions))}),
    )
    responses = draw(st.lists(response, max_size=14))
    return parents, questions, responses


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sealed_waves())
def test_rollups_equal_a_direct_computation_over_random_sealed_waves(case):
    # given (a 1–5 question only gets values on 1–5; the bank grows from example to example, so
    # later examples pack their answers into more than one word)
    parents, drawn, raw = case
    questions = [QuestionFactory(dimension=d, scale=s, reverse_scored=r) for d, s, r in drawn]
    responses = [
        (group, {q: v if questions[q].scale == NPS else 1 + v % 5 for q, v in answered.items()})
        for group, answered in raw
    ]
    wave, teams = sealed_wave(parents=parents, questions=questions, responses=responses)

    # when
    assert wave_rollup(wave_id=wave.pk)

    # then
    dimensions, per_question = expected_rollups(parents=parents, teams=teams, questions=questions, responses=responses)
    stored_dimensions, stored_questions = stored_rollups(wave)
    assert_same(stored_dimensions, dimensions)
    assert_same(stored_questions, per_question)


def test_answers_past_the_first_word_and_at_both_ends_of_each_scale():
    # given 17 questions (the packing holds 15 per 64-bit word): 16 on 1–5, every fourth
    # reverse-scored, and eNPS last; answers at the ends of the scales, in two teams, one under the other
    questions = [QuestionFactory(dimension="growth", reverse_scored=i % 4 == 0) for i in range(16)]
    questions.append(QuestionFactory(dimension="enps", scale=NPS))
    responses = [
        (0, dict.fromkeys(range(16), 5) | {16: 10}),
        (1, dict.fromkeys(range(16), 1) | {16: 0}),
        (1, {15: 1, 16: 6}),
    ]
    wave, teams = sealed_wave(parents=[None, 0], questions=questions, responses=responses)

    # when
    assert wave_rollup(wave_id=wave.pk)

    # then: the root holds all three; a 5 on a reverse item counts as 1, a 1 as 5
    root = DimensionRollup.objects.get(wave=wave, team=teams[0], dimension="growth")
    # scores: (12 × 5 + 4 × 1) / 16 = 4, (12 × 1 + 4 × 5) / 16 = 2, item 15 (not reversed) 1
    assert (root.respondents, root.score_sum, root.score_sumsq, root.items, root.favorable) == (3, 7.0, 21.0, 33, 16)
    enps = DimensionRollup.objects.get(wave=wave, team=teams[1], dimension="enps")
    assert (enps.respondents, enps.score_sum, enps.favorable, enps.detractors) == (2, 6.0, 0, 2)
    last = QuestionRollup.objects.get(wave=wave, team=None, question=questions[16])
    assert (last.respondents, last.total, last.distribution) == (3, 16.0, [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1])
    assert_same(
        stored_rollups(wave)[1],
        expected_rollups(parents=[None, 0], teams=teams, questions=questions, responses=responses)[1],
    )


def test_a_sealed_wave_without_answers_writes_no_rollups():
    wave, _ = sealed_wave(parents=[None], questions=[QuestionFactory()], responses=[(0, {})])

    assert wave_rollup(wave_id=wave.pk)

    assert not DimensionRollup.objects.filter(wave=wave).exists()
    assert not QuestionRollup.objects.filter(wave=wave).exists()
