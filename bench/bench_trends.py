"""Trends and risk benchmark: 10,000 teams × 26 waves × 6 dimensions.

    .venv/bin/python bench/bench_trends.py [--teams 10000] [--waves 26] [--rounds 3] [--seed 0]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_trends.py --db

Builds the rows the database reads would return (`analytics.panel.released_panel`: one list of
tuples per dimension, the group releases, today's tree and the frozen trees) for a synthetic
organisation — a 3-level tree of divisions, departments and teams of 5..60 people, AR(1) drift,
sampling noise, an org-wide dip, 8 % of team points suppressed, participation hidden for 3 % —
and times, per round:

1. ``panel_build``: the rows into team × wave arrays;
2. ``trends_compute``: the calibrated trend test of each dimension and of participation, the
   composite, shrinkage toward the parent, Benjamini–Hochberg;
3. ``trend_rows``: the ``TeamTrend`` objects ``trends_store`` writes (no write);
4. ``risk.features_build`` + ``risk.risk_compute`` with synthetic departures: features,
   the Poisson fit, the scores, levels and reasons of every team.

Those four are the computation; the database is not touched. With ``--db`` (PostgreSQL) the
same organisation is then stored, in a database of its own (``pulse_bench_trends`` on the server
DATABASE_URL points to, created and dropped by the bench), and the database side is timed once:
``released_panel`` (the reads, with the array building), ``trends_compute``, ``trends_store``
(the ``TeamTrend`` rows and their upsert) and ``risks_refresh`` end to end, twice: the first
refresh inserts every row, the second updates every row.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")

DIMENSIONS = ("burnout", "connection", "enps", "growth", "intent_to_stay", "workload")


def synthetic_rows(teams: int, waves: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    leaves = teams - teams // 11
    departments = teams // 11 - max(1, teams // 110)
    divisions = teams - leaves - departments
    ids = np.arange(1, teams + 1)
    div_ids, dep_ids, leaf_ids = (
        ids[:divisions],
        ids[divisions : divisions + departments],
        ids[divisions + departments :],
    )
    parent = {int(t): None for t in div_ids}
    parent.update({int(t): int(div_ids[i % divisions]) for i, t in enumerate(dep_ids)})
    parent.update({int(t): int(dep_ids[i % departments]) for i, t in enumerate(leaf_ids)})
    tree = [(t, p, f"T{t}") for t, p in parent.items()]
    wave_ids = list(range(1, waves + 1))
    start = date(2025, 1, 6)
    wave_rows = [(w, start + timedelta(days=14 * i)) for i, w in enumerate(wave_ids)]
    frozen = [(w, t, p) for w in wave_ids for t, p in parent.items()]
    size = rng.integers(5, 60, teams).astype(float)
    # subtree sizes: leaves own, departments and divisions sum
    sub = size.copy()
    for t in list(leaf_ids) + list(dep_ids):
        p = parent[int(t)]
        sub[p - 1] += sub[t - 1]
    invited = np.broadcast_to(sub[:, None], (teams, waves))
    responded = np.minimum(invited, np.round(invited * rng.uniform(0.6, 0.95, (teams, waves))))
    hidden_part = rng.random((teams, waves)) < 0.03
    groups = []
    for w in range(waves):
        for i in range(teams):
            if hidden_part[i, w]:
                groups.append((wave_ids[w], i + 1, None, None))
            else:
                groups.append((wave_ids[w], i + 1, int(invited[i, w]), int(responded[i, w])))
        groups.append((wave_ids[w], None, int(invited[:divisions, w].sum()), int(responded[:divisions, w].sum())))
    releases = {}
    dip = np.zeros(waves)
    dip[waves // 2] = -0.3
    for d in DIMENSIONS:
        scale = 10.0 if d == "enps" else 4.0
        base = rng.normal(0.65, 0.08, (teams, 1))
        drift = np.cumsum(rng.normal(0, 0.02, (teams, waves)), axis=1)
        noise = rng.standard_normal((teams, waves)) * 0.2 / np.sqrt(responded)
        level = np.clip(base + drift + noise + dip, 0, 1)
        mean = np.round((0 if d == "enps" else 1) + scale * level, 2)
        hidden = rng.random((teams, waves)) < 0.08
        rows = []
        for w in range(waves):
            m, resp, hid = mean[:, w].tolist(), responded[:, w].tolist(), hidden[:, w].tolist()
            for i in range(teams):
                fav = round(float(level[i, w]), 3)
                if hid[i]:
                    rows.append((wave_ids[w], i + 1, int(resp[i]), None, None, None))
                else:
                    enps = round(100 * (fav - 0.25), 1) if d == "enps" else None
                    rows.append((wave_ids[w], i + 1, int(resp[i]), m[i], fav, enps))
            org = round(float(np.average(mean[:divisions, w], weights=responded[:divisions, w])), 2)
            rows.append(
                (wave_ids[w], None, int(responded[:divisions, w].sum()), org, 0.6, 10.0 if d == "enps" else None)
            )
        releases[d] = rows
    departures = []
    for i in leaf_ids:
        for _ in range(rng.poisson(size[i - 1] * 0.15)):
            departures.append((int(i), start + timedelta(days=int(rng.integers(0, 14 * waves + 90)))))
    return {
        "waves": wave_rows,
        "tree": tree,
        "frozen": frozen,
        "groups": groups,
        "releases": releases,
        "departures": departures,
        "as_of": start + timedelta(days=14 * waves + 90),
    }


def compute(data: dict, rounds: int) -> None:
    from analytics import panel as panel_mod
    from analytics import risk, trends

    timings: dict[str, list[float]] = {"panel_build": [], "trends_compute": [], "trend_rows": [], "risk": []}
    for _ in range(rounds):
        t = time.perf_counter()
        panel = panel_mod.panel_build(
            waves=data["waves"],
            tree=data["tree"],
            frozen=data["frozen"],
            groups=data["groups"],
            releases=data["releases"],
        )
        timings["panel_build"].append(time.perf_counter() - t)
        t = time.perf_counter()
        computed = trends.trends_compute(panel, alpha=0.01)
        timings["trends_compute"].append(time.perf_counter() - t)
        t = time.perf_counter()
        objs = trends.trend_rows(computed)
        timings["trend_rows"].append(time.perf_counter() - t)
        t = time.perf_counter()
        features = risk.features_build(panel, data["departures"], as_of=data["as_of"])
        scored = risk.risk_compute(features)
        timings["risk"].append(time.perf_counter() - t)
    declining = {d: int((t.direction[t.stored] == "declining").sum()) for d, t in computed.dimensions.items()}
    print(f"TeamTrend rows: {len(objs):,}; declining per dimension: {declining}")
    levels = {str(lv): int((scored.level == lv).sum()) for lv in np.unique(scored.level)}
    print(f"TeamRisk levels: {levels}")
    print("computation, no database:")
    for name, values in timings.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<16} median {statistics.median(values):6.2f} s   (rounds: {each})")
    trend_total = sum(statistics.median(timings[k]) for k in ("panel_build", "trends_compute", "trend_rows"))
    print(f"  trends (panel_build + trends_compute + trend_rows): {trend_total:.2f} s   (cpus: {os.cpu_count()})")


def store(data: dict) -> None:
    """The synthetic organisation as rows: teams, sealed waves, frozen trees, releases, leavers."""
    from django.db import connection

    from analytics.models import DimensionRelease, GroupRelease
    from surveys.models import Employee, Survey, Team, Wave, WaveTeam

    survey = Survey.objects.create(slug="bench", name="Bench")
    parents = {t: p for t, p, _ in data["tree"]}
    paths: dict[int, str] = {}
    for t in sorted(parents, key=lambda t: (parents[t] is not None, parents[t] or 0, t)):
        paths[t] = f"{paths[parents[t]]}/T{t}" if parents[t] else f"T{t}"
    depth = {t: paths[t].count("/") for t in parents}
    for level in sorted(set(depth.values())):
        Team.objects.bulk_create(
            [Team(pk=t, name=f"T{t}", parent_id=parents[t], path=paths[t]) for t in parents if depth[t] == level],
            batch_size=5000,
        )
    for pk, day in data["waves"]:
        Wave.objects.create(
            pk=pk,
            survey=survey,
            opens_on=day,
            closes_at=f"{day}T17:00Z",
            status="closed",
            sealed=True,
            min_respondents=5,
            min_comment_respondents=10,
        )
    WaveTeam.objects.bulk_create(
        (WaveTeam(wave_id=w, team_id=t, parent_id=p, path=paths[t]) for w, t, p in data["frozen"]), batch_size=5000
    )
    GroupRelease.objects.bulk_create(
        (
            GroupRelease(
                wave_id=w,
                team_id=t,
                path=paths.get(t, ""),
                state="results",
                group_id=t,
                invited=i,
                responded=r,
                participation_reason="" if i is not None else "complement",
            )
            for w, t, i, r in data["groups"]
        ),
        batch_size=5000,
    )
    for d, rows in data["releases"].items():
        DimensionRelease.objects.bulk_create(
            (
                DimensionRelease(
                    wave_id=w,
                    team_id=t,
                    dimension=d,
                    respondents=n,
                    mean=m,
                    favorable=f,
                    enps=e,
                    reason="" if m is not None else "few_answers",
                )
                for w, t, n, m, f, e in rows
            ),
            batch_size=5000,
        )
    Employee.objects.bulk_create(
        (
            Employee(
                email=f"leaver{i}@example.com",
                name="Leaver",
                team_id=t,
                active=False,
                left_on=day,
                left_reason="voluntary",
            )
            for i, (t, day) in enumerate(data["departures"])
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def database(data: dict) -> None:
    from django.core.management import call_command

    from analytics import panel as panel_mod
    from analytics import risk, trends

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    store(data)
    print(f"PostgreSQL: stored the organisation in {time.perf_counter() - t:.0f} s")
    for run in ("first refresh", "recompute (every row updated)"):
        print(f"  {run}:")
        t = time.perf_counter()
        panel = panel_mod.released_panel()
        read = time.perf_counter() - t
        t = time.perf_counter()
        computed = trends.trends_compute(panel, alpha=0.01)
        calc = time.perf_counter() - t
        t = time.perf_counter()
        rows = trends.trends_store(computed)
        write = time.perf_counter() - t
        print(
            f"    trends: reads + arrays {read:5.2f} s, statistics {calc:5.2f} s, "
            f"rows + upsert {write:5.2f} s ({rows:,} rows)"
        )
        t = time.perf_counter()
        rows = risk.risks_refresh()  # today is after every synthetic wave's horizon
        print(f"    risks_refresh, all of it (its own reads included) {time.perf_counter() - t:5.2f} s ({rows:,} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--waves", type=int, default=26)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", action="store_true", help="also time the database side (PostgreSQL)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if args.db and not base_url.startswith(("postgres://", "postgresql://")):
        sys.exit("--db needs DATABASE_URL=postgres://... (the bench creates and drops its own database there)")
    with contextlib.ExitStack() as stack:
        if args.db:
            from _common import throwaway_database

            os.environ["DATABASE_URL"] = stack.enter_context(throwaway_database(base_url, "trends"))
        import django

        django.setup()
        t0 = time.perf_counter()
        data = synthetic_rows(args.teams, args.waves, args.seed)
        releases = sum(len(r) for r in data["releases"].values())
        print(
            f"{args.teams:,} teams × {args.waves} waves × {len(DIMENSIONS)} dimensions: {releases:,} dimension "
            f"releases, {len(data['departures']):,} departures (generated in {time.perf_counter() - t0:.1f} s)"
        )
        compute(data, args.rounds)
        if args.db:
            database(data)


if __name__ == "__main__":
    main()
