"""Sealing makes the stored order of answers say nothing about the order people answered in.

On PostgreSQL, responses are submitted one by one in a known order, the wave is closed, and
for every orderable attribute of every row (primary key, ``ctid``, ``xmin``, each column of
Response, Answer and Comment) Kendall's tau against the submission order must not be
significant. The same statistics taken *before* the seal are overwhelmingly significant for
``ctid`` and ``xmin``, so a seal that did nothing would fail here.

Alpha: each p-value is compared with 0.001 divided by the number of attributes tested
(Bonferroni), i.e. a family-wise false-alarm rate of 0.1 %. The seal's shuffle is truly
random, so every honest attribute gives a p-value uniform on [0, 1]; with about a dozen of
them, a plain 0.001 each would fail roughly one CI run in a hundred. A real leak is nowhere
near the threshold: a stored order that follows the submission order gives p around 1e-40
with 80 responses. The content of the answers (teams, values, comment texts) comes from a
seeded generator, so its p-values are fixed and can't flake either.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from django.db import connection
from django.db.models.expressions import RawSQL
from scipy.stats import kendalltau

from surveys import waves
from surveys.intake import response_record
from surveys.models import Answer, Comment, Invitation, Response, SurveyQuestion, Wave
from surveys.tokens import token_for
from surveys.waves import wave_close, wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory

pytestmark = pytest.mark.postgres

SUBMISSIONS = 80
FAMILY_ALPHA = 0.001
LEAK_ALPHA = 0.001  # before the seal, ctid and xmin must be at least this significant
CODES = ("seal_workload", "seal_growth", "seal_enps")


def _survey():
    survey = SurveyFactory()
    for position, code in enumerate(CODES):
        question = QuestionFactory(code=code, scale="nps11" if code == "seal_enps" else "likert5")
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def _submit(*, count: int, seed: int) -> tuple[Wave, list[dict], dict[str, int]]:
    """Launch a wave and answer it ``count`` times, one transaction each, in a known order.

    Every submission gets a distinct combination of answers and a distinct comment, drawn at
    random, so that after the seal (fresh ids, nothing else left) the test can still tell
    which stored response was the i-th submission, while the values themselves carry no
    order.
    """
    rng = random.Random(seed)
    teams = [TeamFactory(name=f"Seal {n}") for n in range(3)]
    for _ in range(count):
        EmployeeFactory(team=rng.choice(teams))
    wave = wave_launch(survey=_survey(), days_open=5)
    invitations = list(wave.invitations.all())
    rng.shuffle(invitations)  # people answer in an order unrelated to the invitation list
    combinations = rng.sample(list(itertools.product(range(1, 6), range(1, 6), range(11))), count)
    submissions = []
    for index, (invitation, values) in enumerate(zip(invitations, combinations, strict=True)):
        answers = dict(zip(CODES, values, strict=True))
        comment = f"comment {rng.getrandbits(64):016x}"
        # The real intake service (surveys.intake), each call its own transaction.
        response_record(token=token_for(invitation.id), answers=answers, comment=comment)
        submissions.append({"index": index, "answers": answers, "comment": comment})
    question_ids = dict(SurveyQuestion.objects.filter(survey=wave.survey).values_list("question__code", "question_id"))
    return wave, submissions, question_ids


def _rows(model, wave: Wave) -> list[dict]:
    """Every column of the wave's rows of ``model``, plus the system columns ctid and xmin."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [field.column for field in model._meta.concrete_fields]
    selected = ", ".join(f"t.{quote(c)}" for c in columns)
    if model is Answer:
        scope = f"JOIN {quote(Response._meta.db_table)} r ON r.id = t.response_id WHERE r.wave_id = %s"
    else:
        scope = "WHERE t.wave_id = %s"
    sql = f"SELECT t.ctid::text, t.xmin::text::bigint, {selected} FROM {table} t {scope}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [wave.pk])
        return [dict(zip(["ctid", "xmin", *columns], row, strict=True)) for row in cursor.fetchall()]


def _orderable(attribute: str, value):
    if attribute == "ctid":  # "(block,offset)": physical position in the heap
        block, offset = value.strip("()").split(",")
        return (int(block), int(offset))
    return str(value) if attribute in ("id", "response_id") else value  # uuids in PostgreSQL's byte order


def _attributes(wave: Wave, submissions: list[dict], question_ids: dict[str, int]) -> dict[str, tuple[list, list]]:
    """For each table.attribute: (submission index of each row, the row's value)."""
    by_answers = {
        frozenset((question_ids[code], value) for code, value in s["answers"].items()): s["index"] for s in submissions
    }
    by_comment = {s["comment"]: s["index"] for s in submissions}
    answer_rows = _rows(Answer, wave)
    answers_of: dict = {}
    for row in answer_rows:
        answers_of.setdefault(row["response_id"], set()).add((row["question_id"], row["value"]))
    response_index = {rid: by_answers[frozenset(pairs)] for rid, pairs in answers_of.items()}

    series = {}
    # Answers are tested per question: each response has one answer to each, so every series
    # has one point per submission. Pooling all of a response's answers into one series would
    # count each submission three times and make Kendall's p-values too small (the test
    # assumes independent points), flagging an honest shuffle.
    code_of = {question_id: code for code, question_id in question_ids.items()}
    answer_tables = [
        (
            f"answer[{code}]",
            [row for row in answer_rows if row["question_id"] == question_id],
            lambda row: response_index[row["response_id"]],
        )
        for question_id, code in code_of.items()
    ]
    for table, rows, index_of in [
        ("response", _rows(Response, wave), lambda row: response_index[row["id"]]),
        *answer_tables,
        ("comment", _rows(Comment, wave), lambda row: by_comment[row["text"]]),
    ]:
        assert len(rows) == len(submissions)
        for attribute in rows[0]:
            series[f"{table}.{attribute}"] = (
                [index_of(row) for row in rows],
                [_orderable(attribute, row[attribute]) for row in rows],
            )
    return series


def _ranks(values: list) -> list[int]:
    # Kendall's tau depends only on order; ranks let tuples, uuids and text be compared.
    order = {value: rank for rank, value in enumerate(sorted(set(values)))}
    return [order[value] for value in values]


def _kendall(series: dict[str, tuple[list, list]]) -> dict[str, float | None]:
    """p-value of Kendall's tau per attribute; None for a constant one (it carries no order)."""
    return {
        name: None if len(set(values)) == 1 else kendalltau(index, _ranks(values)).pvalue
        for name, (index, values) in series.items()
    }


def _xmins(model, wave: Wave) -> set[int]:
    return {row["xmin"] for row in _rows(model, wave)}


def _answered_invitation_xmins(wave: Wave) -> set[int]:
    answered = Invitation.objects.filter(wave=wave, responded=True)
    return set(answered.annotate(xmin=RawSQL("xmin::text::bigint", [])).values_list("xmin", flat=True))


def _pageinspect() -> bool:
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        except Exception:  # not installed (postgresql-contrib) or not allowed: the check is skipped
            return False
    return True


def _heap_tuple_xmins(model) -> Counter:
    """xmin of every tuple with storage in the table's pages, live or dead (page inspection)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.t_xmin::text::bigint FROM generate_series(0, pg_relation_size(%s) / 8192 - 1) AS b, "
            "LATERAL heap_page_items(get_raw_page(%s, b::int)) AS p WHERE p.lp_flags = 1",
            [table, table],
        )
        return Counter(xmin for (xmin,) in cursor.fetchall())


def test_sealed_order_is_unrelated_to_submission_order(transactional_db):
    # given 80 submissions in a known order
    wave, submissions, question_ids = _submit(count=SUBMISSIONS, seed=20260301)
    before = _kendall(_attributes(wave, submissions, question_ids))
    # the test has teeth: before the seal, physical position and transaction id give the
    # submission order away (each submission was its own transaction, appended to the heap)
    for name in ("response", *(f"answer[{code}]" for code in CODES), "comment"):
        assert before[f"{name}.ctid"] < LEAK_ALPHA, name
        assert before[f"{name}.xmin"] < LEAK_ALPHA, name
    assert len(_answered_invitation_xmins(wave)) == SUBMISSIONS

    # when the wave is closed (sealed, then vacuumed after the commit)
    wave_close(wave=wave)

    # then no attribute of any stored row follows the submission order
    after = _kendall(_attributes(wave, submissions, question_ids))
    tested = {name: p for name, p in after.items() if p is not None}
    threshold = FAMILY_ALPHA / len(tested)
    assert {name: p for name, p in tested.items() if not p > threshold} == {}
    # the attributes that are constant are constant for a reason: one wave, one seal transaction
    assert sorted(name for name, p in after.items() if p is None) == [
        *(f"answer[{code}].{column}" for code in sorted(CODES) for column in ("question_id", "xmin")),
        "comment.wave_id",
        "comment.xmin",
        "response.wave_id",
        "response.xmin",
    ]
    seal_xmin = _xmins(Response, wave)
    assert _xmins(Answer, wave) == _xmins(Comment, wave) == seal_xmin
    # and the answered invitations were rewritten by the seal too: their xmin no longer
    # records the order in which people answered
    assert _answered_invitation_xmins(wave) == seal_xmin
    # and what was said is intact
    assert Response.objects.filter(wave=wave).count() == SUBMISSIONS
    assert sorted(Comment.objects.filter(wave=wave).values_list("text", flat=True)) == sorted(
        s["comment"] for s in submissions
    )
    if _pageinspect():
        # VACUUM ran after the commit: the table pages hold only the sealed row versions
        (xmin,) = seal_xmin
        assert _heap_tuple_xmins(Response) == Counter({xmin: SUBMISSIONS})
        assert _heap_tuple_xmins(Answer) == Counter({xmin: 3 * SUBMISSIONS})
        assert _heap_tuple_xmins(Comment) == Counter({xmin: SUBMISSIONS})


def test_without_the_vacuum_the_old_row_versions_stay_in_the_pages(transactional_db, monkeypatch):
    # Shows why wave_close vacuums: the deleted pre-seal rows, with their submission-ordered
    # xmins, are still in the table pages after the seal commits, until a VACUUM.
    if not _pageinspect():
        pytest.skip("pageinspect (postgresql-contrib) is not available")
    # given a wave answered ten times, closed with the post-commit VACUUM switched off
    wave, _, _ = _submit(count=10, seed=7)
    submitted = _heap_tuple_xmins(Response)
    assert len(submitted) == 10
    monkeypatch.setattr(waves, "_answer_tables_vacuum", lambda: None)
    wave_close(wave=wave)
    (seal,) = _xmins(Response, wave)

    # then the dead versions are still there, next to the sealed ones
    assert _heap_tuple_xmins(Response) == Counter({**dict.fromkeys(submitted, 1), seal: 10})

    # when the VACUUM runs
    monkeypatch.undo()
    waves._answer_tables_vacuum()

    # then only the sealed versions remain
    assert _heap_tuple_xmins(Response) == Counter({seal: 10})
    assert _heap_tuple_xmins(Answer) == Counter({seal: 30})
    assert _heap_tuple_xmins(Comment) == Counter({seal: 10})
