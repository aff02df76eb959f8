"""Read-side benchmark: rollups of one sealed wave against the raw GROUP BY over the same rows,
and the gate (threshold, complement rule, LP audit) for that wave against its rollups.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_analytics.py [--teams 1000] [--answers 1200000] [--rounds 3]

PostgreSQL only. It never touches your data: it creates (and drops) its own database
``pulse_bench_analytics`` on the server DATABASE_URL points to. In one run it:

1. migrates the fresh database (the question bank's default survey ``pulse``: 15 questions over
   6 dimensions) and builds an organisation of ``--teams`` leaf teams under 10 divisions × 10
   departments, with team sizes drawn lognormal (median ``--answers / 15 / --teams``, a tenth of
   the teams of 2–4 people so the seal passes their answers upward);
2. writes one sealed wave as the seal leaves it: the frozen tree (each team's invitees and the
   group the seal's own ``groups_attribute`` gives it), participation per group, and
   ``--answers`` answers (each respondent skips an item with probability 5 %) with COPY;
   ``VACUUM ANALYZE``;
3. per round, in this order and on the same rows: the raw ``GROUP BY`` (team × question: count,
   sum, sum of squares, favourable count — what any dashboard would run, with no tree, no
   per-respondent dimension score and no write), once under the server's defaults and once
   under the settings the rollup's transaction gives itself (``work_mem`` 64 MB, ``jit`` off);
   the same aggregates as the rollups per attributed group, written the straightforward way
   (no tree, no write); then ``analytics.rollups.wave_rollup`` (all of
   it: per-respondent dimension scores, both rollups summed up the frozen tree in SQL, and the
   rows written), then ``analytics.anonymity.wave_release`` (the gate: participation, comments,
   and every dimension through the complement rule and the LP audit, and its rows written);

and prints the median of each and the ratios rollups / raw and gate / rollups, with how many
cells the gate hid and why.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_note, throwaway_database


def org_and_wave_build(*, teams: int, answers: int, seed: int) -> int:
    import numpy as np
    from django.db import connection
    from django.utils import timezone

    from surveys.models import Question, Survey, Team, Wave, WaveParticipation, WaveTeam
    from surveys.seal import groups_attribute

    rng = np.random.default_rng(seed)
    survey = Survey.objects.get(slug="pulse")
    questions = list(Question.objects.filter(surveys=survey).values_list("pk", "scale"))  # the default survey's 15
    per_team = answers / len(questions) / teams
    sizes = np.clip(np.round(rng.lognormal(np.log(per_team), 0.5, teams)), 5, None).astype(int)
    small = rng.random(teams) < 0.1
    sizes[small] = rng.integers(2, 5, small.sum())
    scale = answers / len(questions) / sizes.sum()
    sizes = np.maximum(np.round(sizes * scale).astype(int), 2)

    root = Team.objects.create(name="Org", path="Org")
    parents = {root.pk: None}
    leaves = []
    for d in range(10):
        division = Team.objects.create(name=f"Division {d}", parent=root, path=f"Org/Division {d}")
        parents[division.pk] = root.pk
        for p in range(10):
            department = Team.objects.create(
                name=f"Department {p}", parent=division, path=f"{division.path}/Department {p}"
            )
            parents[department.pk] = division.pk
            for t in range(teams // 100):
                team = Team.objects.create(name=f"Team {t}", parent=department, path=f"{department.path}/Team {t}")
                parents[team.pk] = department.pk
                leaves.append(team.pk)
    sizes = sizes[: len(leaves)]
    responses = Counter({team: int(n) for team, n in zip(leaves, sizes, strict=True)})
    group_of = groups_attribute(parents=parents, tops={root.pk}, responses=responses, k=5)

    now = timezone.now()
    wave = Wave.objects.create(
        survey=survey,
        opens_on=now.date(),
        closes_at=now,
        status=Wave.Status.CLOSED,
        closed_at=now,
        sealed=True,
        min_respondents=5,
        min_comment_respondents=10,
    )
    paths = dict(Team.objects.values_list("pk", "path"))
    invited = {team: int(n * 1.25) for team, n in responses.items()}
    WaveTeam.objects.bulk_create(
        WaveTeam(wave=wave, team_id=t, parent_id=p, path=paths[t], invited=invited.get(t, 0), group_id=group_of[t])
        for t, p in parents.items()
    )
    kept: dict = {}
    for team, n in responses.items():
        g = group_of[team]
        i, r = kept.get(g, (0, 0))
        kept[g] = (i + invited[team], r + n)
    WaveParticipation.objects.bulk_create(
        WaveParticipation(wave=wave, team_id=g, invited=i, responded=r) for g, (i, r) in kept.items()
    )
    with connection.cursor() as cursor:
        with (
            cursor.cursor.copy("COPY surveys_response (id, wave_id, team_id) FROM STDIN") as copy,
            open(os.devnull, "w"),
        ):
            response_ids = []
            for team, n in responses.items():
                for _ in range(n):
                    rid = uuid.uuid4()
                    response_ids.append(rid)
                    copy.write_row((rid, wave.pk, group_of[team]))
        with cursor.cursor.copy("COPY surveys_answer (id, response_id, question_id, value) FROM STDIN") as copy:
            latent = rng.normal(3.4, 0.8, len(response_ids))
            for rid, level in zip(response_ids, latent, strict=True):
                for question, qscale in questions:
                    if rng.random() < 0.05:
                        continue
                    if qscale == "nps11":
                        value = int(np.clip(round(level * 2.2 + rng.normal(0, 1.5)), 0, 10))
                    else:
                        value = int(np.clip(round(level + rng.normal(0, 0.8)), 1, 5))
                    copy.write_row((uuid.uuid4(), rid, question, value))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE surveys_answer")
        cursor.execute("VACUUM ANALYZE surveys_response")
        cursor.execute("SELECT count(*) FROM surveys_answer")
        print(f"built: {len(parents)} teams, {len(response_ids):,} responses, {cursor.fetchone()[0]:,} answers")
    return wave.pk


RAW = """
    SELECT r.team_id, a.question_id, COUNT(*), SUM(a.value), SUM(a.value * a.value),
           SUM(CASE WHEN a.value >= 4 THEN 1 ELSE 0 END)
    FROM surveys_answer a JOIN surveys_response r ON r.id = a.response_id
    WHERE r.wave_id = %s
    GROUP BY r.team_id, a.question_id
"""


def raw_group_by(wave_id: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(RAW, [wave_id])
        cursor.fetchall()
    return time.perf_counter() - started


# The rollups' two aggregates at the attributed-group level, written the straightforward way
# (the first version of analytics/rollups.py): every answer joined with its question and
# oriented, a GROUP BY per respondent × dimension (each respondent's score), then per group; and
# per group × question × oriented value.
ORIENTED = "CASE WHEN q.reverse_scored THEN (CASE q.scale WHEN 'nps11' THEN 10 ELSE 6 END) - a.value ELSE a.value END"
SAME_AGGREGATES = (
    f"""
    SELECT grp, dim, COUNT(*), SUM(score), SUM(score * score), SUM(items), SUM(fav), SUM(det)
    FROM (
        SELECT r.team_id AS grp, q.dimension AS dim, AVG(({ORIENTED}) * 1.0) AS score, COUNT(*) AS items,
               SUM(CASE WHEN (q.scale = 'nps11' AND ({ORIENTED}) >= 9) OR (q.scale <> 'nps11' AND ({ORIENTED}) >= 4)
                        THEN 1 ELSE 0 END) AS fav,
               SUM(CASE WHEN q.scale = 'nps11' AND ({ORIENTED}) <= 6 THEN 1 ELSE 0 END) AS det
        FROM surveys_answer a
        JOIN surveys_question q ON q.id = a.question_id
        JOIN surveys_response r ON r.id = a.response_id AND r.wave_id = %(wave)s
        GROUP BY r.team_id, a.response_id, q.dimension
    ) per_response
    GROUP BY grp, dim
    """,
    f"""
    SELECT r.team_id, a.question_id, {ORIENTED}, COUNT(*)
    FROM surveys_answer a
    JOIN surveys_response r ON r.id = a.response_id AND r.wave_id = %(wave)s
    JOIN surveys_question q ON q.id = a.question_id
    GROUP BY r.team_id, a.question_id, {ORIENTED}
    """,
)


def group_level(wave_id: int) -> float:
    """The same aggregates as the rollups, per attributed group only: no tree, nothing written."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in SAME_AGGREGATES:
            cursor.execute(sql, {"wave": wave_id})
            cursor.fetchall()
    return time.perf_counter() - started


def rollup(wave_id: int) -> float:
    from analytics.models import WaveAnalysis
    from analytics.rollups import wave_rollup

    WaveAnalysis.objects.filter(wave_id=wave_id).update(rollup_version=0)
    started = time.perf_counter()
    assert wave_rollup(wave_id=wave_id)
    return time.perf_counter() - started


def gate(wave_id: int) -> float:
    from analytics.anonymity import wave_release
    from analytics.models import DimensionRelease, GroupRelease, WaveAnalysis

    DimensionRelease.objects.filter(wave_id=wave_id).delete()
    GroupRelease.objects.filter(wave_id=wave_id).delete()
    WaveAnalysis.objects.filter(wave_id=wave_id).update(released_at=None)
    started = time.perf_counter()
    assert wave_release(wave_id=wave_id)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=1_200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_analytics.py needs DATABASE_URL=postgres://... (it creates its own database there)")
    with throwaway_database(base, "analytics") as url:
        os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="pulse.settings", DEBUG="0")
        os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
        os.environ.setdefault("PULSE_SEAL_KEY", uuid.uuid4().hex * 2)
        os.environ.setdefault("PULSE_HTTPS", "0")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(machine_note())
        wave_id = org_and_wave_build(teams=args.teams, answers=args.answers, seed=args.seed)
        from django.db import connection

        raw_defaults, raw, same, rolled, gated = [], [], [], [], []
        for _ in range(args.rounds):
            with connection.cursor() as cursor:
                cursor.execute("RESET work_mem")
                cursor.execute("RESET jit")
            raw_defaults.append(raw_group_by(wave_id))
            with connection.cursor() as cursor:
                # The baselines get the settings the rollup's transaction gives itself (SET
                # LOCAL work_mem = '64MB', jit = off): the same work under the same configuration.
                cursor.execute("SET work_mem = '64MB'")
                cursor.execute("SET jit = off")
            raw.append(raw_group_by(wave_id))
            same.append(group_level(wave_id))
            rolled.append(rollup(wave_id))
            gated.append(gate(wave_id))
        from analytics.models import DimensionRelease, GroupRelease

        reasons = Counter(DimensionRelease.objects.filter(wave_id=wave_id).values_list("reason", flat=True))
        cells = sum(reasons.values())
        m_raw, m_same, m_roll, m_gate = (statistics.median(x) for x in (raw, same, rolled, gated))
        m_defaults = statistics.median(raw_defaults)
        print(f"raw GROUP BY, server defaults:  median {m_defaults:.2f} s  {[round(x, 2) for x in raw_defaults]}")
        print(f"raw GROUP BY (team × question): median {m_raw:.2f} s  {[round(x, 2) for x in raw]}")
        print(f"same aggregates per group only: median {m_same:.2f} s  {[round(x, 2) for x in same]}")
        print(f"rollups (wave_rollup):          median {m_roll:.2f} s  {[round(x, 2) for x in rolled]}")
        print(f"gate + audit (wave_release):    median {m_gate:.2f} s  {[round(x, 2) for x in gated]}")
        print(f"rollups / raw GROUP BY = {m_roll / m_raw:.2f}   (goal <= 1.5)")
        print(f"rollups / raw GROUP BY, server defaults = {m_roll / m_defaults:.2f}")
        print(f"rollups / per-round ratios: {[round(r / w, 2) for r, w in zip(rolled, raw, strict=True)]}")
        print(
            f"rollups / same aggregates per group = {m_roll / m_same:.2f}   (straightforward SQL, no tree, no writes)"
        )
        print(f"gate / rollups        = {m_gate / m_roll:.2f}   (goal <= 1)")
        print(f"released cells: {cells:,}; hidden: " + ", ".join(f"{r or 'shown'} {n}" for r, n in reasons.items()))
        print(f"groups: {GroupRelease.objects.filter(wave_id=wave_id).count():,}")


if __name__ == "__main__":
    main()
