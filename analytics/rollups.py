"""Rollups: per team × wave × dimension and × question, summed up the wave's frozen team tree.

Computed in SQL from the sealed responses. Each response belongs to the group the seal
attributed it to; a team's rollup covers every group in its subtree as the tree was frozen at
the seal (``surveys.WaveTeam``), so a department includes its direct members and every
sub-team, each respondent once, and a later move or rename changes no past wave. The wave as a
whole (``team`` None) also covers the responses that belong to no team.

Every value is oriented so that higher is healthier: a reverse-scored item's value ``v``
counts as ``min + max - v``. A respondent's dimension score is the mean of the items they
answered in it.

Rollups are idempotent and versioned: ``ROLLUP_VERSION`` names this code's rollups; a wave
rolled up by this version or a newer one is left alone, so a stale recompute (an old worker)
does nothing.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from surveys.selectors import SealedWaveTables, sealed_wave_tables

from .models import DimensionRollup, QuestionRollup, WaveAnalysis

ROLLUP_VERSION = 1

# Favourable after orientation: 4–5 on 1–5, 9–10 (promoters) on 0–10; detractors 0–6 on 0–10.
_ORIENTED = "CASE WHEN q.reverse_scored THEN (CASE q.scale WHEN 'nps11' THEN 10 ELSE 6 END) - a.value ELSE a.value END"
_FAVORABLE = "CASE WHEN (o.scale = 'nps11' AND o.v >= 9) OR (o.scale <> 'nps11' AND o.v >= 4) THEN 1 ELSE 0 END"
_DETRACTOR = "CASE WHEN o.scale = 'nps11' AND o.v <= 6 THEN 1 ELSE 0 END"


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
        if connection.vendor == "postgresql":
            # The per-respondent step sorts a wave's answers (about 30 MB for a million): in
            # memory rather than in temporary files. Local: this transaction only.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        DimensionRollup.objects.filter(wave_id=wave_id).delete()
        QuestionRollup.objects.filter(wave_id=wave_id).delete()
        _dimension_rollups_write(wave_id, tables)
        _question_rollups_write(wave_id, tables)
        analysis.rollup_version, analysis.rolled_up_at = ROLLUP_VERSION, timezone.now()
        analysis.save(update_fields=["rollup_version", "rolled_up_at"])
    return True


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


def dimension_cells_sql(t: SealedWaveTables) -> str:
    """Per attributed group × dimension: respondents, the sums of their scores, item counts."""
    return f"""
        SELECT grp, dim, COUNT(*) AS n, SUM(score) AS s, SUM(score * score) AS ss,
               SUM(items) AS m, SUM(fav) AS f, SUM(det) AS d
        FROM (
            SELECT r.team_id AS grp, o.dim, AVG(o.v * 1.0) AS score, COUNT(*) AS items,
                   SUM({_FAVORABLE}) AS fav, SUM({_DETRACTOR}) AS det
            FROM (
                SELECT a.response_id, q.dimension AS dim, q.scale, {_ORIENTED} AS v
                FROM {t.answer} a JOIN {t.question} q ON q.id = a.question_id
            ) o
            JOIN {t.response} r ON r.id = o.response_id AND r.wave_id = %(wave)s
            GROUP BY r.team_id, o.response_id, o.dim
        ) per_response
        GROUP BY grp, dim
    """


def question_cells_sql(t: SealedWaveTables) -> str:
    """Per attributed group × question × oriented value: how many answered it."""
    return f"""
        SELECT r.team_id AS grp, a.question_id AS question, {_ORIENTED} AS v, COUNT(*) AS n
        FROM {t.answer} a
        JOIN {t.response} r ON r.id = a.response_id AND r.wave_id = %(wave)s
        JOIN {t.question} q ON q.id = a.question_id
        GROUP BY r.team_id, a.question_id, {_ORIENTED}
    """


def _dimension_rollups_write(wave_id: int, t: SealedWaveTables) -> None:
    composed = _up_the_tree(
        t,
        dimension_cells_sql(t),
        keys="c.dim",
        sums="SUM(c.n) AS n, SUM(c.s) AS s, SUM(c.ss) AS ss, SUM(c.m) AS m, SUM(c.f) AS f, SUM(c.d) AS d",
    )
    table = connection.ops.quote_name(DimensionRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (wave_id, team_id, dimension, respondents, score_sum, score_sumsq, items, favorable, detractors)
            SELECT %(wave)s, x.team, x.dim, x.n, x.s, x.ss, x.m, x.f, x.d FROM ({composed}) x
            """,
            {"wave": wave_id},
        )


_VALUES = range(0, 11)  # every value of either scale; a 1–5 question keeps 1..5 of them


def _question_rollups_write(wave_id: int, t: SealedWaveTables) -> None:
    by_value = ", ".join(f"SUM(CASE WHEN c.v = {v} THEN c.n ELSE 0 END) AS c{v}" for v in _VALUES)
    per_question = f"""
        SELECT c.grp, c.question, q.scale, SUM(c.n) AS n, SUM(c.v * c.n) AS t, SUM(c.v * c.v * c.n) AS tt,
               SUM(CASE WHEN (q.scale = 'nps11' AND c.v >= 9) OR (q.scale <> 'nps11' AND c.v >= 4)
                        THEN c.n ELSE 0 END) AS f,
               {by_value}
        FROM ({question_cells_sql(t)}) c JOIN {t.question} q ON q.id = c.question
        GROUP BY c.grp, c.question, q.scale
    """
    sums = "SUM(c.n) AS n, SUM(c.t) AS t, SUM(c.tt) AS tt, SUM(c.f) AS f, " + ", ".join(
        f"SUM(c.c{v}) AS c{v}" for v in _VALUES
    )
    composed = _up_the_tree(t, per_question, keys="c.question, c.scale", sums=sums)
    array = "json_build_array" if connection.vendor == "postgresql" else "json_array"
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    nps = f"{array}({', '.join(f'x.c{v}' for v in range(0, 11))}){cast}"
    likert = f"{array}({', '.join(f'x.c{v}' for v in range(1, 6))}){cast}"
    table = connection.ops.quote_name(QuestionRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (wave_id, team_id, question_id, respondents, total, total_sq, favorable, distribution)
            SELECT %(wave)s, x.team, x.question, x.n, x.t, x.tt, x.f,
                   CASE WHEN x.scale = 'nps11' THEN {nps} ELSE {likert} END
            FROM ({composed}) x
            """,
            {"wave": wave_id},
        )
