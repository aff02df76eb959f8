"""The anonymity promise against a database administrator (DESIGN.md, Anonymity 1), on PostgreSQL.

One scenario per test, as in production: an organisation of 240 people in six teams (three of
them smaller than k, so the seal has to pass their answers up the tree, and one of those a
root, so some answers end up belonging to the wave as a whole) is invited, the invitations are
really sent, 210 people answer through the real intake (each submission its own committed
transaction, in a known order, with a distinctive comment and a distinctive combination of
answers, so that any stored row can be matched back to the submission it came from), the 30
others are reminded, and the wave is closed with ``wave_close``.

Throughout, a second session holds a REPEATABLE READ snapshot taken before the first
submission, the way a long report or a ``pg_dump`` would. VACUUM may then remove no row
version deleted after it, so every version the submissions and the close leave behind stays
in the table pages, and the checks look at all of it:

* the table files hold each comment exactly once, in the comment table;
* no plaintext tuple shares a transaction id with a transaction that touched fewer than k
  invitations, and no physical or logical order of the sealed rows follows the order in
  which people answered;
* the WAL written before the seal holds no comment in plaintext;
* after the close, no live row says who answered.

Each check comes with a control that shows it can see what it looks for (the comments in the
comment table's file and in the seal's WAL, the submission order in the pre-seal tuples).
"""

from __future__ import annotations

import itertools
import random
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone
from scipy.stats import kendalltau

from surveys import crypto
from surveys.dispatch import reminders_dispatch
from surveys.intake import response_record
from surveys.models import (
    Answer,
    Comment,
    Invitation,
    Response,
    Submission,
    SurveyQuestion,
    Team,
    Wave,
    WaveParticipation,
)
from surveys.tokens import token_for
from surveys.waves import wave_close, wave_launch
from tests import forensics
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory

pytestmark = pytest.mark.postgres

K = 5  # PULSE_MIN_RESPONDENTS for these waves
SEED = 20261201
CODES = ("forensic_workload", "forensic_growth", "forensic_enps")
# team path: (members, how many of them answer). Legal, ML and the Board are smaller than k.
ORG = {
    "Forensic HQ": (10, 10),
    "Forensic HQ/Engineering": (110, 95),
    "Forensic HQ/Engineering/ML": (4, 4),
    "Forensic HQ/Legal": (3, 3),
    "Forensic HQ/Sales": (110, 95),
    "Forensic Board": (3, 3),
}
AUDIENCE = sum(members for members, _ in ORG.values())  # 240
RESPONSES = sum(answering for _, answering in ORG.values())  # 210
# Where the seal must put each team's answers: ML passes its 4 to Engineering, Legal its 3 to
# HQ, and the Board, a root with 3, has no parent to pass them to: they belong to the wave,
# which would then hold fewer than k, so the smallest group (HQ, 13) joins it there.
ATTRIBUTED = {"Forensic HQ/Engineering": 99, "Forensic HQ/Sales": 95, None: 16}
PLAINTEXT_TABLES = ("surveys_response", "surveys_answer", "surveys_comment")
FAMILY_ALPHA = 0.001  # Bonferroni-corrected over the attributes tested; see the order test
BEFORE_SEAL_ALPHA = 1e-20  # a stored order that follows submission order: p is around 1e-100


@dataclass(frozen=True)
class Submitted:
    """One submission, as the test made it (the database never sees this link in plaintext)."""

    index: int  # the order in which it was made
    invitation_id: uuid.UUID
    answers: dict[str, int]
    comment: str


@dataclass
class Scenario:
    wave: Wave
    submitted: list[Submitted]  # in submission order
    unanswered: set[uuid.UUID]  # invitations nobody answered
    comment_prefix: bytes  # shared by this scenario's comments, and by nothing else in the cluster
    snapshot: forensics.OldSnapshot
    start_lsn: int  # the WAL position just before the first submission

    @property
    def index_of_comment(self) -> dict[str, int]:
        return {s.comment: s.index for s in self.submitted}


@dataclass(frozen=True)
class Sealed:
    seal_xid: int  # the seal's transaction: xmin of every sealed row
    end_lsn: int  # the WAL position after the close (and its VACUUM)


# --- the scenario ------------------------------------------------------------------------------


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Send the e-mails in-process even where a broker is configured (CI's services run)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


def _survey():
    survey = SurveyFactory()
    for position, code in enumerate(CODES):
        question = QuestionFactory(code=code, scale="nps11" if code == "forensic_enps" else "likert5")
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def _org() -> dict[str, list[int]]:
    """The teams of ORG and their members; the employee ids per team path."""
    teams: dict[str, Team] = {}
    members: dict[str, list[int]] = {}
    for path, (size, _) in ORG.items():
        parent, _, name = path.rpartition("/")
        teams[path] = TeamFactory(name=name, parent=teams[parent] if parent else None)
        members[path] = [EmployeeFactory(team=teams[path]).pk for _ in range(size)]
    return members


@pytest.fixture
def answered_wave(transactional_db, settings, eager_celery, mailoutbox) -> Iterator[Scenario]:
    """An open wave, invited, answered 210 times in a known order and reminded, under an old snapshot.

    ``transactional_db``: every submission commits on its own, as in production (a test's
    wrapping transaction would keep all of it in one transaction, invisible to the forensics).
    The comments carry a random prefix of this run: other test databases share the cluster's
    WAL, and must not be able to match (or fake) the checks' strings.
    """
    if reason := forensics.pageinspect_unavailable():
        pytest.skip(reason)
    settings.PULSE_MIN_RESPONDENTS = K
    settings.PULSE_MIN_COMMENT_RESPONDENTS = 2 * K
    rng = random.Random(SEED)
    members = _org()
    wave = wave_launch(survey=_survey(), days_open=5, remind_after_days=2, send_now=True)
    assert wave.min_respondents == K
    assert len(mailoutbox) == AUDIENCE  # the invitations really went out
    invitation_of = dict(Invitation.objects.filter(wave=wave).values_list("employee_id", "id"))
    answering = [employee for path, employees in members.items() for employee in employees[: ORG[path][1]]]
    rng.shuffle(answering)  # people answer in an order unrelated to teams, ids or the invitation list
    # Distinct answers per submission: (with the comment) they tell which row came from whom.
    combinations = rng.sample(list(itertools.product(range(1, 6), range(1, 6), range(11))), RESPONSES)
    prefix = f"forensic-{secrets.token_hex(4)}-"
    submitted = [
        Submitted(
            index=index,
            invitation_id=invitation_of[employee],
            answers=dict(zip(CODES, values, strict=True)),
            comment=f"{prefix}{rng.getrandbits(64):016x}",
        )
        for index, (employee, values) in enumerate(zip(answering, combinations, strict=True))
    ]
    with forensics.old_snapshot(table=Invitation._meta.db_table) as snapshot:
        start_lsn = forensics.wal_lsn_now()
        for s in submitted:
            # The real intake, each call its own transaction (one statement on PostgreSQL).
            response_record(token=token_for(s.invitation_id), answers=s.answers, comment=s.comment)
        # Three days on, the reminder goes to those who haven't answered (and is skipped for the others).
        assert reminders_dispatch(now=timezone.now() + timedelta(days=3)) == AUDIENCE - RESPONSES
        yield Scenario(
            wave=wave,
            submitted=submitted,
            unanswered=set(invitation_of.values()) - {s.invitation_id for s in submitted},
            comment_prefix=prefix.encode(),
            snapshot=snapshot,
            start_lsn=start_lsn,
        )
        # The snapshot commits only now, after the test's checks.


def _close(scenario: Scenario) -> Sealed:
    """Close the wave (outside any transaction, as the worker does: the VACUUM after the commit runs).

    Also checks what makes every check meaningful: the pre-seal versions are still in the pages
    (the old snapshot kept the VACUUM from removing them), so the checks see them.
    """
    assert not connection.in_atomic_block
    wave_close(wave=scenario.wave)
    end_lsn = forensics.wal_flush()
    (seal_xid,) = {xmin for (xmin,) in forensics.sql("SELECT DISTINCT xmin::text::bigint FROM surveys_response")}
    dead_submissions = forensics.heap_tuples(Submission._meta.db_table)
    assert len(dead_submissions) == RESPONSES
    assert {t.xmax for t in dead_submissions} == {seal_xid}  # deleted by the seal, still in the heap
    return Sealed(seal_xid=seal_xid, end_lsn=end_lsn)


def _box_opener() -> Callable[[bytes], crypto.Ballot]:
    """Opens a submission's box with the seal key (which only the test process holds, not the database)."""
    key, _ = crypto.seal_public_key()
    boxes = crypto.seal_private_keys()
    return lambda box: crypto.ballot_decrypt(key=key, box=box, boxes=boxes)


# --- the scenario is meaningful ----------------------------------------------------------------


def test_old_snapshot_keeps_every_pre_seal_row_version_in_the_pages(answered_wave):
    """The forensics below are only worth something if the dead versions are there to be read."""
    scenario = answered_wave
    open_box = _box_opener()
    index_of_comment = scenario.index_of_comment

    # when
    sealed = _close(scenario)

    # then no live submission is left...
    assert Submission.objects.count() == 0
    # ...but the pages still hold all 210 of them, deleted by the seal, with their ciphertext
    # (fetched from the dead TOAST chunks) that opens, with the key, to the i-th submission
    submission_columns = forensics.columns("surveys_submission")
    dead_submissions = forensics.heap_tuples("surveys_submission", detoast=True)
    assert len(dead_submissions) == RESPONSES
    assert {t.xmax for t in dead_submissions} == {sealed.seal_xid}
    assert min(t.xmin for t in dead_submissions) >= scenario.snapshot.xmin  # all written after the snapshot
    index_of_xmin = {}
    for t in dead_submissions:
        box = t.attr(submission_columns, "box")
        assert len(box) == crypto.BOX_SIZE
        assert scenario.comment_prefix not in box  # ciphertext, not the comment
        index_of_xmin[t.xmin] = index_of_comment[open_box(box).comment]
    assert sorted(index_of_xmin.values()) == list(range(RESPONSES))
    # and each was written by the very transaction that marked its invitation answered: the
    # invitation version whose xmin is the submission's is that submission's invitation
    invitation_columns = forensics.columns("surveys_invitation")
    invitations = forensics.heap_tuples("surveys_invitation")
    invitation_of_xmin = {
        t.xmin: uuid.UUID(bytes=t.attr(invitation_columns, "id")) for t in invitations if t.xmin in index_of_xmin
    }
    assert {xmin: scenario.submitted[index].invitation_id for xmin, index in index_of_xmin.items()} == (
        invitation_of_xmin
    )
    # every version of every invitation is still in the pages: the one launched, the one each
    # answer wrote, the skipped and the sent reminders, the seal's, none pruned
    assert len({uuid.UUID(bytes=t.attr(invitation_columns, "id")) for t in invitations}) == AUDIENCE
    assert Counter(t.xmax == 0 for t in invitations)[True] == AUDIENCE  # one live version each
    assert len(invitations) > 3 * AUDIENCE
    for table in ("surveys_submission", "surveys_invitation", *PLAINTEXT_TABLES):
        assert forensics.line_pointers_without_storage(table) == 0, table
    # and the seal attributed the small teams' answers up the tree, the Board's (and HQ's) to the wave
    paths = dict(Team.objects.values_list("pk", "path"))
    attributed = Counter(paths.get(team) for team in Response.objects.values_list("team_id", flat=True))
    assert attributed == ATTRIBUTED
    assert Counter(paths.get(team) for team in Comment.objects.values_list("team_id", flat=True)) == ATTRIBUTED
    participation = {
        paths.get(team): (invited, responded)
        for team, invited, responded in WaveParticipation.objects.values_list("team_id", "invited", "responded")
    }
    assert participation == {
        "Forensic HQ/Engineering": (114, 99),
        "Forensic HQ/Sales": (110, 95),
        None: (16, 16),
    }


# --- (a) the table files -----------------------------------------------------------------------


def test_table_files_hold_each_comment_once_in_the_comment_table(answered_wave):
    scenario = answered_wave
    if reason := forensics.data_directory_unreadable():
        pytest.skip(reason)

    # when
    _close(scenario)
    # a CHECKPOINT writes every page, with its live and dead versions, to the files
    if reason := forensics.checkpoint_refused():
        pytest.skip(reason)

    # then, across every file of every project table, its TOAST table and all their indexes...
    comments = [s.comment.encode() for s in scenario.submitted]
    found: dict[bytes, Counter] = defaultdict(Counter)
    prefix_found: Counter = Counter()
    files_read = 0
    for table in forensics.project_tables():
        for relation in forensics.relations_of(table):
            for path in forensics.relation_files(relation):
                data = path.read_bytes()
                files_read += 1
                if n := data.count(scenario.comment_prefix):
                    prefix_found[relation.name] += n
                    for comment in comments:
                        if k := data.count(comment):
                            found[comment][relation.name] += k
    assert files_read > 50  # the search did read the schema (tables, TOAST, indexes, forks)
    # ...each comment is there exactly once, in the comment table: the live row that holds it.
    # This is also the control: the search finds every comment in the comment table's file.
    assert {comment: dict(where) for comment, where in found.items()} == {
        comment: {"surveys_comment": 1} for comment in comments
    }
    # and no fragment with the comments' prefix is anywhere else either
    assert dict(prefix_found) == {"surveys_comment": RESPONSES}


# --- (b) the tuples, with pageinspect ----------------------------------------------------------


def _every_tuple() -> dict[str, list[forensics.HeapTuple]]:
    """Every tuple, live or dead, of every project table and of its TOAST table."""
    tables = {}
    for table in forensics.project_tables():
        tables[table] = forensics.heap_tuples(table)
        if toast := forensics.toast_table(table):
            tables[f"{table} (TOAST)"] = forensics.heap_tuples(toast)
    return tables


def test_no_plaintext_tuple_shares_a_transaction_with_fewer_than_k_invitations(answered_wave):
    scenario = answered_wave

    # when
    sealed = _close(scenario)

    # then: decode every version of every invitation, and count the distinct invitations
    # each transaction wrote, updated, deleted or locked
    tuples = _every_tuple()
    invitation_columns = forensics.columns("surveys_invitation")
    touched: dict[int, set[uuid.UUID]] = defaultdict(set)
    for t in tuples["surveys_invitation"]:
        for xid in forensics.transactions_of(t):
            touched[xid].add(uuid.UUID(bytes=t.attr(invitation_columns, "id")))
    few = {xid for xid, invitations in touched.items() if len(invitations) < K}
    # the control: each submission's transaction is such a one (it touched one invitation),
    # while the seal's touched every invitation of the wave
    submission_xids = {t.xmin for t in tuples["surveys_submission"]}
    assert len(submission_xids) == RESPONSES
    assert {len(touched[xid]) for xid in submission_xids} == {1}
    assert len(touched[sealed.seal_xid]) == AUDIENCE
    # no tuple of a plaintext table, live or dead, was written, deleted or locked by one of them
    for table in PLAINTEXT_TABLES:
        assert tuples[table], table
        assert {t.ctid: forensics.transactions_of(t) & few for t in tuples[table]} == {
            t.ctid: set() for t in tuples[table]
        }, table
    # more: of every table of the project, only the invitations and the ciphertext carry the
    # ids of transactions that touched fewer than k invitations
    assert {table for table, rows in tuples.items() if any(forensics.transactions_of(t) & few for t in rows)} == {
        "surveys_invitation",
        "surveys_submission",
        "surveys_submission (TOAST)",
    }
    # and the plaintext was written by the seal alone, in one transaction (which also locked
    # the responses it wrote, FOR KEY SHARE, when it checked the answers' foreign keys)
    for table in PLAINTEXT_TABLES:
        assert {t.xmin for t in tuples[table]} == {sealed.seal_xid}, table
        assert {t.xmax for t in tuples[table]} <= {0, sealed.seal_xid}, table


def _rows(table: str) -> list[dict[str, Any]]:
    """Every live row of ``table``: its columns, plus the system columns ctid and xmin."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ctid::text, xmin::text::bigint, * FROM {quote(table)}")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _orderable(attribute: str, value: Any) -> Any:
    if attribute == "ctid":  # "(block,offset)": the physical position in the heap
        block, offset = value.strip("()").split(",")
        return (int(block), int(offset))
    if isinstance(value, uuid.UUID):
        return value.int  # PostgreSQL orders uuids by their bytes, i.e. as this integer
    if value is None:  # a response of the wave as a whole (no team)
        return -1
    return value


def _series_after_seal(scenario: Scenario) -> dict[str, tuple[list[int], list[Any]]]:
    """For each table.attribute of the sealed rows: (submission index of each row, the row's value)."""
    question_ids = dict(SurveyQuestion.objects.values_list("question__code", "question_id"))
    by_answers = {frozenset((question_ids[c], v) for c, v in s.answers.items()): s.index for s in scenario.submitted}
    answers = _rows("surveys_answer")
    answers_of: dict[uuid.UUID, set] = defaultdict(set)
    for row in answers:
        answers_of[row["response_id"]].add((row["question_id"], row["value"]))
    index_of_response = {response: by_answers[frozenset(pairs)] for response, pairs in answers_of.items()}
    index_of_comment = scenario.index_of_comment

    # Answers are tested per question: each response has one answer to each, so every series has
    # one point per submission. Pooling a response's three answers into one series would count
    # each submission three times and make Kendall's p-values too small (they assume
    # independent points), flagging an honest shuffle.
    def of_answer(row: dict) -> int:
        return index_of_response[row["response_id"]]

    tables: list[tuple[str, list[dict], Callable[[dict], int]]] = [
        ("response", _rows("surveys_response"), lambda row: index_of_response[row["id"]]),
        *((f"answer[{c}]", [r for r in answers if r["question_id"] == question_ids[c]], of_answer) for c in CODES),
        ("comment", _rows("surveys_comment"), lambda row: index_of_comment[row["text"]]),
    ]
    series = {}
    for name, rows, index_of in tables:
        assert len(rows) == RESPONSES, name
        for attribute in rows[0]:
            series[f"{name}.{attribute}"] = (
                [index_of(row) for row in rows],
                [_orderable(attribute, row[attribute]) for row in rows],
            )
    return series


def _ranks(values: list) -> list[int]:
    # Kendall's tau depends only on order; ranks let tuples, big integers and text be compared.
    order = {value: rank for rank, value in enumerate(sorted(set(values)))}
    return [order[value] for value in values]


def _kendall(series: dict[str, tuple[list, list]]) -> dict[str, float | None]:
    """p-value of Kendall's tau per attribute; None for a constant one (it carries no order)."""
    return {
        name: None if len(set(values)) == 1 else kendalltau(index, _ranks(values)).pvalue
        for name, (index, values) in series.items()
    }


def test_no_order_of_the_sealed_rows_follows_the_submission_order(answered_wave):
    """Kendall's tau of submission order against every orderable attribute of the sealed rows.

    Alpha: each p-value is compared with 0.001 divided by the number of attributes tested
    (Bonferroni), a family-wise false-alarm rate of 0.1 %: the seal's shuffle and its uuid4
    ids are truly random, so every honest attribute has a p-value uniform on [0, 1], and a
    plain 0.001 for each of about twenty would fail about one run in fifty. A real leak is
    nowhere near the threshold (a stored order that follows the submission order gives p
    around 1e-100 with 210 points). The content (teams, values, comment texts after the run's
    common prefix) comes from a seeded generator, so its p-values are fixed and can't flake.
    """
    scenario = answered_wave
    # given: the control. Before the seal, the ciphertext rows give the order away, by their
    # physical place and by their transaction id (each submission its own, appended to the heap)
    open_box = _box_opener()
    index_of_comment = scenario.index_of_comment
    submissions = _rows("surveys_submission")
    index = [index_of_comment[open_box(bytes(row["box"])).comment] for row in submissions]
    before = _kendall(
        {f"submission.{a}": (index, [_orderable(a, row[a]) for row in submissions]) for a in ("ctid", "xmin")}
    )
    assert before["submission.ctid"] < BEFORE_SEAL_ALPHA
    assert before["submission.xmin"] < BEFORE_SEAL_ALPHA

    # when
    sealed = _close(scenario)

    # then no attribute of any sealed row follows the submission order
    series = _series_after_seal(scenario)
    after = _kendall(series)
    tested = {name: p for name, p in after.items() if p is not None}
    assert sorted(tested) == [
        *(f"answer[{code}].{column}" for code in sorted(CODES) for column in ("ctid", "id", "response_id", "value")),
        "comment.ctid",
        "comment.id",
        "comment.team_id",
        "comment.text",
        "response.ctid",
        "response.id",
        "response.team_id",
    ]
    threshold = FAMILY_ALPHA / len(tested)
    assert {name: p for name, p in tested.items() if not p > threshold} == {}
    # the constant attributes are constant for a reason: one wave, one question, one seal transaction
    assert sorted(name for name, p in after.items() if p is None) == [
        *(f"answer[{code}].{column}" for code in sorted(CODES) for column in ("question_id", "xmin")),
        "comment.wave_id",
        "comment.xmin",
        "response.wave_id",
        "response.xmin",
    ]
    assert set(series["response.xmin"][1]) == {sealed.seal_xid}
    # and what was said is intact
    assert sorted(Comment.objects.values_list("text", flat=True)) == sorted(s.comment for s in scenario.submitted)


# --- (c) the WAL -------------------------------------------------------------------------------


def test_wal_holds_no_comment_in_plaintext_before_the_seal(answered_wave, tmp_path: Path):
    scenario = answered_wave
    if not forensics.pg_waldump_path():
        pytest.skip("pg_waldump is not installed (postgresql-server binaries)")
    submission_boxes = [bytes(box) for box in Submission.objects.values_list("box", flat=True)]

    # when
    sealed = _close(scenario)
    # Copied at once (the temporary replication slot of the old snapshot also keeps them).
    if reason := forensics.wal_segments_unavailable(scenario.start_lsn, sealed.end_lsn):
        pytest.skip(reason)
    wal = forensics.wal_segments_copy(scenario.start_lsn, sealed.end_lsn, into=tmp_path / "pg_wal")

    # then: the seal's first WAL record (its lock on the wave row) ends the window of the intake
    seal_records = forensics.waldump(wal, scenario.start_lsn, sealed.end_lsn, xid=sealed.seal_xid)
    assert seal_records, f"no WAL record of the seal's transaction {sealed.seal_xid}"
    seal_start = seal_records[0].lsn
    assert seal_records[-1].rmgr == "Transaction" and seal_records[-1].description.startswith("COMMIT")
    before_seal = wal.stream(scenario.start_lsn, seal_start)
    # the control of the window: every submission's ciphertext went through it (its first TOAST chunk)
    assert all(box[:64] in before_seal for box in submission_boxes)
    # and not one comment, nor anything with their prefix, in plaintext
    prefixes_before_seal = before_seal.count(scenario.comment_prefix)
    assert prefixes_before_seal == 0
    assert [s.comment for s in scenario.submitted if s.comment.encode() in before_seal] == []
    # the control of the search: the seal's own records log the comments it inserts, every one
    from_seal = wal.stream(seal_start, sealed.end_lsn)
    assert [s.comment for s in scenario.submitted if s.comment.encode() not in from_seal] == []


# --- (d) the live rows after the close ---------------------------------------------------------

# Every column of an invitation that could differ between those who answered and the others.
# Not ``sent_at``: when the invitation e-mail went out was set before anyone could answer.
PER_PERSON_COLUMNS = (
    "responded",
    "reminder_status",
    "reminded_at",
    "remind_at",
    "attempts",
    "claim",
    "lease_until",
    "status",
    "error",
)


def _invitation_states(wave: Wave) -> dict[uuid.UUID, tuple]:
    return {row[0]: row[1:] for row in Invitation.objects.filter(wave=wave).values_list("id", *PER_PERSON_COLUMNS)}


def test_after_the_close_no_live_row_says_who_answered(answered_wave):
    scenario = answered_wave
    answered = {s.invitation_id for s in scenario.submitted}
    # given: the control. While the wave is open, the invitations tell the two groups apart
    states = _invitation_states(scenario.wave)
    assert {states[i] for i in answered}.isdisjoint({states[i] for i in scenario.unanswered})

    # when
    _close(scenario)

    # then every invitation of the wave reads the same, answered or not
    states = _invitation_states(scenario.wave)
    assert len(states) == AUDIENCE
    assert set(states.values()) == {(False, "", None, None, 0, None, None, Invitation.SendStatus.SENT, "")}
    # no ciphertext is left to open
    assert Submission.objects.count() == 0
    # and the sealed rows have no column that could point at a person or an invitation
    assert {table: _columns_and_references(table) for table in PLAINTEXT_TABLES} == {
        "surveys_response": {"id": None, "wave_id": "surveys_wave", "team_id": "surveys_team"},
        "surveys_answer": {"id": None, "response_id": "surveys_response", "question_id": None, "value": None},
        "surveys_comment": {"id": None, "wave_id": "surveys_wave", "team_id": "surveys_team", "text": None},
    }
    assert Response.objects.count() == RESPONSES
    assert Answer.objects.count() == len(CODES) * RESPONSES


def _columns_and_references(table: str) -> dict[str, str | None]:
    """Each column of the table in the database, and the table its foreign key points at."""
    rows = forensics.sql(
        "SELECT a.attname, (SELECT c.confrelid::regclass::text FROM pg_constraint c WHERE c.conrelid = a.attrelid "
        "AND c.contype = 'f' AND c.conkey = ARRAY[a.attnum]) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [table],
    )
    return dict(rows)
