"""Rollups: per team × wave × dimension and × question, summed up the wave's frozen team tree.

Computed in SQL from the sealed responses. Each response belongs to the group the seal
attributed it to; a team's rollup covers every group in its subtree as the tree was frozen at
the seal (``surveys.WaveTeam``), so a department includes its direct members and every
sub-team, each respondent once, and a later move or rename changes no past wave. The wave as a
whole (``team`` None) also covers the responses that belong to no team.

Every value is oriented so that higher is healthier: a reverse-scored item's value ``v``
counts as ``min + max - v``. A respondent's dimension score is the mean of the items they
answered in it.

How, in four steps, each reading only the step before (bench/README.md has the figures):

1. one pass over the wave's answers, grouped by response: each response's answers packed into
   64-bit integers, 4 bits per question holding ``value + 1`` (0: not answered; values are
   0–10, the scales' ranges), 15 questions per integer. A response answers a question at most
   once (``answer_once_per_question``), so the fields never overlap and their sum (bitwise or)
   is exact. This is the only step that touches answers: one hash aggregate keyed by the
   response, with no join to the questions (their orientation is applied in step 2, per
   question, where it is a constant);
2. from those packed rows, per attributed group: per question × oriented value, how many; and
   per dimension × (sum of the oriented items, items answered, favourable, detractors), how
   many respondents — one small GROUP BY per question and per dimension;
3. the groups' cells summed into every team whose frozen subtree holds the group (the recursive
   walk of the frozen parent links touches only these small tables, never the answers);
4. the rows written by INSERT … SELECT.

Rollups are idempotent and versioned: ``ROLLUP_VERSION`` names this code's rollups; a wave
rolled up by this version or a newer one is left alone, so a stale recompute (an old worker)
does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from surveys.selectors import SealedWaveTables, sealed_wave_tables

from .models import DimensionRollup, QuestionRollup, WaveAnalysis

ROLLUP_VERSION = 1

# Favourable after orientation: 4–5 on 1–5, 9–10 (promoters) on 0–10; detractors 0–6 on 0–10.
_FAVORABLE_LIKERT, _FAVORABLE_NPS, _DETRACTOR_NPS = 4, 9, 6

_BITS = 4  # per question: value + 1, at most 11
_PER_WORD = 15  # questions per 64-bit integer: 60 bits, below the sign bit

# The steps' working tables: temporary, this transaction's only.
_RESPONSES = "pulse_rollup_response"
_QUESTION_CELLS = "pulse_rollup_question_cell"
_DIMENSION_CELLS = "pulse_rollup_dimension_cell"


@dataclass(frozen=True)
class _Item:
    """A question as the packed rows hold it: which integer (``word``), at which bit (``shift``)."""

    id: int
    dimension: str
    nps: bool
    reverse: bool
    word: int
    shift: int

    def field(self) -> str:
        """SQL: the item's field of a packed row, value + 1 (0: not answered)."""
        return f"((w{self.word} >> {self.shift}) & {(1 << _BITS) - 1})"

    def oriented(self, field: str) -> str:
        """SQL: the oriented value of an answered item, from its field."""
        top = 10 if self.nps else 6  # min + max of the scale
        return f"({top} - ({field} - 1))" if self.reverse else f"({field} - 1)"

    def favorable(self, value: str) -> str:
        return f"{value} >= {_FAVORABLE_NPS if self.nps else _FAVORABLE_LIKERT}"

    def detractor(self, value: str) -> str:
        return f"{value} <= {_DETRACTOR_NPS}" if self.nps else "1 = 0"


def wave_rollup(*, wave_id: int) -> bool:
    """Write the wave's rollups (a sealed wave only). Returns whether anything was written."""
    with transaction.atomic():
        analysis, _ = WaveAnalysis.objects.get_or_create(wave_id=wave_id)
        analysis = WaveAnalysis.objects.select_for_update().get(pk=analysis.pk)
        if analysis.rollup_version >= ROLLUP_VERSION:
            return False
        tables = sealed_wave_tables(wave_id=wave_id)
        if tables is None:
            return False
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Local: this transaction only. The per-response hash aggregate holds one entry
                # per response, in memory. JIT would compile these statements (planned for far
                # more groups than they produce) for longer than they run: 0.7 s of 1.3 s for
                # one of them at a million answers.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
            DimensionRollup.objects.filter(wave_id=wave_id).delete()
            QuestionRollup.objects.filter(wave_id=wave_id).delete()
            items = _items(cursor, tables)
            if items:
                _responses_pack(cursor, tables, wave_id, items)
                items = _answered(cursor, items)
                if items:
                    _cells_write(cursor, items)
                    _dimension_rollups_write(cursor, tables, wave_id)
                    _question_rollups_write(cursor, tables, wave_id)
                    cursor.execute(f"DROP TABLE {_QUESTION_CELLS}")
                    cursor.execute(f"DROP TABLE {_DIMENSION_CELLS}")
                cursor.execute(f"DROP TABLE {_RESPONSES}")
        analysis.rollup_version, analysis.rolled_up_at = ROLLUP_VERSION, timezone.now()
        analysis.save(update_fields=["rollup_version", "rolled_up_at"])
    return True


def _items(cursor, t: SealedWaveTables) -> list[_Item]:
    """Every question of the bank (an answer can only be to one of them), with its place in a packed row."""
    cursor.execute(f"SELECT id, dimension, scale, reverse_scored FROM {t.question} ORDER BY id")
    return [
        _Item(
            id=q,
            dimension=dim,
            nps=scale == "nps11",
            reverse=bool(rev),
            word=k // _PER_WORD,
            shift=_BITS * (k % _PER_WORD),
        )
        for k, (q, dim, scale, rev) in enumerate(cursor.fetchall())
    ]


def _shift_of_question(items: list[_Item]) -> str:
    """SQL: the bit at which ``a.question_id``'s field starts (NULL for an id not in the bank)."""
    if connection.vendor == "postgresql":
        # An array indexed by the id: one lookup per answer, whatever the size of the bank.
        first, last = items[0].id, items[-1].id
        shifts = {item.id: str(item.shift) for item in items}
        array = ",".join(shifts.get(q, "NULL") for q in range(first, last + 1))
        return f"('{{{array}}}'::int[])[a.question_id - {first - 1}]"
    return "CASE a.question_id " + " ".join(f"WHEN {item.id} THEN {item.shift}" for item in items) + " END"


def _responses_pack(cursor, t: SealedWaveTables, wave_id: int, items: list[_Item]) -> None:
    """Step 1: one row per response of the wave, its group and its answers packed (``w0``, ``w1``, …)."""
    # Bitwise or and sum agree on non-overlapping fields; PostgreSQL's SUM of bigint is numeric.
    pack = "BIT_OR" if connection.vendor == "postgresql" else "SUM"
    shift = _shift_of_question(items)
    words = []
    for word in range(items[-1].word + 1):
        ids = [item.id for item in items if item.word == word]
        words.append(
            f"{pack}(CAST(a.value + 1 AS BIGINT) << {shift}) "
            f"FILTER (WHERE a.question_id BETWEEN {ids[0]} AND {ids[-1]}) AS w{word}"
        )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_RESPONSES} AS
        SELECT r.team_id AS grp, {", ".join(words)}
        FROM {t.answer} a JOIN {t.response} r ON r.id = a.response_id AND r.wave_id = %(wave)s
        GROUP BY r.id, r.team_id
        """,
        {"wave": wave_id},
    )


def _answered(cursor, items: list[_Item]) -> list[_Item]:
    """The items some response of the wave answered: the others would only add empty GROUP BYs."""
    if connection.vendor != "postgresql":
        return items  # no BIT_OR aggregate in SQLite; an unanswered item's GROUP BY is merely empty
    words = items[-1].word + 1
    cursor.execute(f"SELECT {', '.join(f'BIT_OR(w{w})' for w in range(words))} FROM {_RESPONSES}")
    filled = cursor.fetchone()
    return [item for item in items if filled[item.word] is not None and (filled[item.word] >> item.shift) & 15]


def _count(sql: str) -> str:
    """SQL: a count as a 4-byte integer. PostgreSQL sums those in 8-byte integers and sums 8-byte
    ones (what COUNT and SUM return) as numeric, several times slower (the cells are summed twice)."""
    return f"CAST({sql} AS INTEGER)"


def _cells_write(cursor, items: list[_Item]) -> None:
    """Step 2: per group, the question cells and the dimension cells, from the packed rows."""
    questions, params = [], []
    for item in items:
        v = item.oriented("f")
        fav = _count(f"CASE WHEN {item.favorable(v)} THEN COUNT(*) ELSE 0 END")
        det = _count(f"CASE WHEN {item.detractor(v)} THEN COUNT(*) ELSE 0 END")
        questions.append(
            f"""SELECT grp, {item.id} AS question, %s AS dim, {int(item.nps)} AS nps, {v} AS v,
                       {_count("COUNT(*)")} AS n, {fav} AS fav, {det} AS det
                FROM (SELECT grp, {item.field()} AS f FROM {_RESPONSES}) x WHERE f > 0 GROUP BY grp, f"""
        )
        params.append(item.dimension)
    cursor.execute(f"CREATE TEMPORARY TABLE {_QUESTION_CELLS} AS {' UNION ALL '.join(questions)}", params)

    dimensions: dict[str, list[_Item]] = {}
    for item in items:
        dimensions.setdefault(item.dimension, []).append(item)
    per_dimension, params = [], []
    for dimension, members in dimensions.items():
        score = " + ".join(f"CASE WHEN {m.field()} > 0 THEN {m.oriented(m.field())} ELSE 0 END" for m in members)
        answered = " + ".join(f"CASE WHEN {m.field()} > 0 THEN 1 ELSE 0 END" for m in members)
        per_dimension.append(
            f"""SELECT grp, %s AS dim, s, c, {_count("COUNT(*)")} AS n
                FROM (SELECT grp, {score} AS s, {answered} AS c FROM {_RESPONSES}) x
                WHERE c > 0 GROUP BY grp, s, c"""
        )
        params.append(dimension)
    cursor.execute(f"CREATE TEMPORARY TABLE {_DIMENSION_CELLS} AS {' UNION ALL '.join(per_dimension)}", params)


def _up_the_tree(t: SealedWaveTables, cells: str, keys: str, sums: str) -> str:
    """SQL summing per-group ``cells`` into every team whose frozen subtree holds the group, and into the wave.

    ``up`` pairs each frozen team with itself and each of its ancestors in the wave's frozen
    tree (a recursive walk up the parent links, a few rows per team), so each group's cell is
    added once to every team above it.
    """
    return f"""
        WITH RECURSIVE up (team, ancestor) AS (
            SELECT team_id, team_id FROM {t.wave_team} WHERE wave_id = %(wave)s
            UNION ALL
            SELECT up.team, w.parent_id
            FROM up JOIN {t.wave_team} w ON w.wave_id = %(wave)s AND w.team_id = up.ancestor
            WHERE w.parent_id IS NOT NULL
        ),
        cells AS ({cells})
        SELECT up.ancestor AS team, {keys}, {sums}
        FROM cells c JOIN up ON up.team = c.grp
        GROUP BY up.ancestor, {keys}
        UNION ALL
        SELECT NULL, {keys}, {sums} FROM cells c GROUP BY {keys}
    """


_SCORE = "(CAST(s AS DOUBLE PRECISION) / c)"  # a respondent's dimension score


def _dimension_rollups_write(cursor, t: SealedWaveTables, wave_id: int) -> None:
    # Per group × dimension: respondents and their scores (a respondent's score is s / c) from
    # the dimension cells, item answers and their favourable and detractor counts from the
    # question cells.
    cells = f"""
        SELECT grp, dim, {_count("SUM(n)")} AS n, SUM(s) AS s, SUM(ss) AS ss,
               {_count("SUM(m)")} AS m, {_count("SUM(f)")} AS f, {_count("SUM(d)")} AS d
        FROM (
            SELECT grp, dim, n, n * {_SCORE} AS s, n * {_SCORE} * {_SCORE} AS ss, 0 AS m, 0 AS f, 0 AS d
            FROM {_DIMENSION_CELLS}
            UNION ALL
            SELECT grp, dim, 0, 0, 0, n, fav, det FROM {_QUESTION_CELLS}
        ) both_kinds
        GROUP BY grp, dim
    """
    composed = _up_the_tree(
        t,
        cells,
        keys="c.dim",
        sums="SUM(c.n) AS n, SUM(c.s) AS s, SUM(c.ss) AS ss, SUM(c.m) AS m, SUM(c.f) AS f, SUM(c.d) AS d",
    )
    table = connection.ops.quote_name(DimensionRollup._meta.db_table)
    cursor.execute(
        f"""
        INSERT INTO {table}
            (wave_id, team_id, dimension, respondents, score_sum, score_sumsq, items, favorable, detractors)
        SELECT %(wave)s, x.team, x.dim, x.n, x.s, x.ss, x.m, x.f, x.d FROM ({composed}) x
        """,
        {"wave": wave_id},
    )


_VALUES = range(0, 11)  # every value of either scale; a 1–5 question keeps 1..5 of them


def _question_rollups_write(cursor, t: SealedWaveTables, wave_id: int) -> None:
    # Only the counts per value are summed (per group, then up the tree): respondents, total,
    # sum of squares and favourable count are read off the composed distribution.
    by_value = ", ".join(f"{_count(f'SUM(CASE WHEN c.v = {v} THEN c.n ELSE 0 END)')} AS c{v}" for v in _VALUES)
    per_question = (
        f"SELECT c.grp, c.question, c.nps, {by_value} FROM {_QUESTION_CELLS} c GROUP BY c.grp, c.question, c.nps"
    )
    sums = ", ".join(f"SUM(c.c{v}) AS c{v}" for v in _VALUES)
    composed = _up_the_tree(t, per_question, keys="c.question, c.nps", sums=sums)

    def over_values(weight) -> str:
        return " + ".join(f"{weight(v)} * x.c{v}" for v in _VALUES if weight(v))

    favorable = (
        f"CASE WHEN x.nps = 1 THEN {over_values(lambda v: int(v >= _FAVORABLE_NPS))} "
        f"ELSE {over_values(lambda v: int(v >= _FAVORABLE_LIKERT))} END"
    )
    # jsonb_build_array: json_build_array(…)::jsonb would print the array and parse it again
    array = "jsonb_build_array" if connection.vendor == "postgresql" else "json_array"
    nps = f"{array}({', '.join(f'x.c{v}' for v in range(0, 11))})"
    likert = f"{array}({', '.join(f'x.c{v}' for v in range(1, 6))})"
    table = connection.ops.quote_name(QuestionRollup._meta.db_table)
    cursor.execute(
        f"""
        INSERT INTO {table}
            (wave_id, team_id, question_id, respondents, total, total_sq, favorable, distribution)
        SELECT %(wave)s, x.team, x.question, {over_values(lambda v: 1)}, {over_values(lambda v: v)},
               {over_values(lambda v: v * v)}, {favorable}, CASE WHEN x.nps = 1 THEN {nps} ELSE {likert} END
        FROM ({composed}) x
        """,
        {"wave": wave_id},
    )
