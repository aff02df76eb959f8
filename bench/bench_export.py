"""Export benchmark: ``export_report --format csv`` of every team × wave × dimension row of a
simulated organisation, against Python's ``csv.writer`` writing the same rows from memory, and
the export's peak memory at two organisation sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_export.py [--employees 1000 10000] [--waves 26] [--rounds 3] [--seed 1]

PostgreSQL only; for each size, in its own database ``pulse_bench_export`` (created and dropped:
your data is never opened):

1. a child process migrates and runs ``simulate_org --employees N --waves W`` (the organisation
   built through import, launch, intake and close: every wave sealed, released and analysed, with
   trends and risks), unless ``--bulk`` is given: then the release rows are written directly, in
   bulk, with the shape ``simulate_org`` gives (see ``bulk_build``);
2. a fresh child process measures, in this order:
   - the peak memory of one export: the growth of its resident set (``ru_maxrss``) over the
     process after ``django.setup()``, then Python's own peak allocation (``tracemalloc``) in a
     second export;
   - ``--rounds`` timed exports (``analytics.exports.report_export``, the service
     ``export_report`` calls, audit row included) into a file, the same rows read alone
     (``selectors.export_rows``, no CSV), and the largest of its four queries alone (the
     dimension releases, as plain tuples);
   - the baseline: the same cells (``exports.csv_cells`` of every row) held in a list, written by
     ``csv.writer`` into a file, ``--rounds`` times; and what that list takes in memory.

Prints the configuration, and per size: rows, medians, rows/s, the ratio export / baseline
(goal ≥ 0.5) and the peak memory (goal: flat from 1,000 to 10,000 people).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PYTHON, ROOT, machine_note, seal_key_env, throwaway_database

BUILD = """
import os, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
employees, waves, seed, bulk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if bulk:
    sys.path.insert(0, os.path.join(os.environ["PYTHONPATH"], "bench"))
    from bench_export import bulk_build
    bulk_build(employees=employees, waves=waves, seed=seed)
else:
    call_command("simulate_org", employees=employees, waves=waves, seed=seed, truth=os.devnull,
                 stdout=open(os.devnull, "w"))
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")
"""

MEASURE = """
import csv, json, resource, statistics, sys, time, tracemalloc
import django
django.setup()
from django.db import connection
from analytics import exports, selectors
from analytics.models import DimensionRelease, GroupRelease
from surveys.models import Team

rounds, out = int(sys.argv[1]), sys.argv[2]

def export_once():
    started = time.perf_counter()
    stream = exports.report_export(scope=selectors.export_scope(user=None), format="csv", channel="cli",
                                   username="bench")
    with open(out, "wb") as file:
        for chunk in stream:
            file.write(chunk)
    return time.perf_counter() - started, stream.rows

def rows_once():
    started = time.perf_counter()
    count = sum(1 for _ in selectors.export_rows(scope=selectors.export_scope(user=None)))
    return time.perf_counter() - started, count

def table_once():
    # the largest of the export's four queries, read alone: the floor the database sets
    started = time.perf_counter()
    rows = (DimensionRelease.objects.filter(team__isnull=False)
            .order_by(selectors._path_order(), "team_id")
            .values_list("team_id", "wave_id", "dimension", "respondents", "mean", "favorable", "enps", "reason"))
    count = sum(1 for _ in rows.iterator(chunk_size=selectors.EXPORT_CHUNK))
    return time.perf_counter() - started

def kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

connection.ensure_connection()
before = kib()
_, rows = export_once()
rss_growth = kib() - before
tracemalloc.start()
export_once()
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
export_times = [export_once()[0] for _ in range(rounds)]
read_times = [rows_once()[0] for _ in range(rounds)]
table_times = [table_once() for _ in range(rounds)]

tracemalloc.start()
cells = [exports.csv_cells(row) for row in selectors.export_rows(scope=selectors.export_scope(user=None))]
held = tracemalloc.get_traced_memory()[0]
tracemalloc.stop()

def baseline_once():
    started = time.perf_counter()
    with open(out, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\\r\\n")
        writer.writerow(exports.COLUMNS)
        writer.writerows(cells)
    return time.perf_counter() - started

baseline_times = [baseline_once() for _ in range(rounds)]
print(json.dumps({
    "rows": rows, "cells_rows": len(cells),
    "teams": Team.objects.count(),
    "group_releases": GroupRelease.objects.filter(team__isnull=False).count(),
    "dimension_releases": DimensionRelease.objects.filter(team__isnull=False).count(),
    "suppressed": sum(1 for c in cells if c[6] == "true"),
    "export": statistics.median(export_times), "export_all": export_times,
    "read": statistics.median(read_times), "table": statistics.median(table_times),
    "baseline": statistics.median(baseline_times), "baseline_all": baseline_times,
    "rss_growth_kib": rss_growth, "traced_peak": traced_peak, "held": held,
    "bytes": __import__("os").path.getsize(out),
    "postgres": connection.pg_version,
}))
"""


def bulk_build(*, employees: int, waves: int, seed: int) -> None:
    """Release rows written directly, shaped like ``simulate_org``'s: a root, about one division per
    300 people, a department per 60, teams of 4–15; 26 waves of the default survey (6 of its
    dimensions on every team); 6 % of team values suppressed, one team in 12 passing its answers up."""
    import numpy as np
    from django.utils import timezone

    from analytics.models import DimensionRelease, GroupRelease, TeamRisk, TeamTrend
    from surveys.models import Survey, Team, Wave

    rng = np.random.default_rng(seed)
    survey = Survey.objects.get(slug="pulse")
    dims = ["workload", "growth", "connection", "burnout", "intent_to_stay", "enps"]
    root = Team.objects.create(name="Org", path="Org")
    teams: list[Team] = []
    divisions = Team.objects.bulk_create(
        Team(name=f"Division {i}", parent=root, path=f"Org/Division {i}") for i in range(max(1, employees // 300))
    )
    departments = Team.objects.bulk_create(
        Team(name=f"Department {i}", parent=d, path=f"{d.path}/Department {i}")
        for i in range(max(1, employees // 60))
        for d in [divisions[i % len(divisions)]]
    )
    people, sizes = 0, []
    leaves = []
    while people < employees:
        size = int(rng.integers(4, 16))
        d = departments[len(leaves) % len(departments)]
        leaves.append(Team(name=f"Team {len(leaves)}", parent=d, path=f"{d.path}/Team {len(leaves)}"))
        sizes.append(size)
        people += size
    leaves = Team.objects.bulk_create(leaves, batch_size=5000)
    teams = [root, *divisions, *departments, *leaves]
    start = timezone.now().date() - timezone.timedelta(days=14 * waves)
    wave_rows = [
        Wave.objects.create(
            survey=survey,
            opens_on=start + timezone.timedelta(days=14 * i),
            closes_at=timezone.now(),
            status=Wave.Status.CLOSED,
            sealed=True,
            min_respondents=5,
            min_comment_respondents=10,
        )
        for i in range(waves)
    ]
    upward = {t.pk for t in leaves if rng.random() < 1 / 12}
    for wave in wave_rows:
        GroupRelease.objects.bulk_create(
            (
                GroupRelease(
                    wave=wave, team=t, path=t.path, state="upward", group=t.parent, participation_reason="upward"
                )
                if t.pk in upward
                else GroupRelease(wave=wave, team=t, path=t.path, state="results", group=t, invited=12, responded=9)
                for t in teams
            ),
            batch_size=5000,
        )
        hidden = rng.random((len(teams), len(dims))) < 0.06
        means = np.round(rng.uniform(2.0, 4.5, (len(teams), len(dims))), 2)
        DimensionRelease.objects.bulk_create(
            (
                DimensionRelease(
                    wave=wave,
                    team=t,
                    dimension=d,
                    respondents=9,
                    mean=None if hidden[i, j] else float(means[i, j]) * (2.2 if d == "enps" else 1),
                    favorable=None if hidden[i, j] else 0.55,
                    enps=(None if hidden[i, j] else -12.5) if d == "enps" else None,
                    reason="few_answers" if hidden[i, j] else "",
                )
                for i, t in enumerate(teams)
                if t.pk not in upward
                for j, d in enumerate(dims)
            ),
            batch_size=5000,
        )
    now = timezone.now()
    TeamTrend.objects.bulk_create(
        (
            TeamTrend(team=t, dimension=d, direction="stable", slope=-0.01, p_value=0.4, points=waves, computed_at=now)
            for t in teams
            for d in [*dims, "composite"]
        ),
        batch_size=5000,
    )
    TeamRisk.objects.bulk_create(
        (TeamRisk(team=t, wave=wave_rows[-1], level="low", score=0.02, computed_at=now) for t in teams), batch_size=5000
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--waves", type=int, default=26)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bulk", action="store_true", help="write release rows directly instead of simulate_org")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_export.py needs DATABASE_URL=postgres://... (it creates its own database there)")
    print(machine_note())
    how = "bulk release rows" if args.bulk else "simulate_org"
    print(f"{how}, --waves {args.waves} --seed {args.seed}; {args.rounds} timed rounds each; CSV into a file")
    for employees in args.employees:
        with throwaway_database(base, "export") as url:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DJANGO_SETTINGS_MODULE": "pulse.settings",
                "DEBUG": "1",  # the embedded seal key; a bench database only
                "PULSE_HTTPS": "0",
                "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "WARNING",
            }
            env.pop("REDIS_URL", None)  # eager Celery: each close analyses its wave in-process
            started = time.perf_counter()
            build = [PYTHON, "-c", BUILD, str(employees), str(args.waves), str(args.seed), "1" if args.bulk else "0"]
            done = subprocess.run(build, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"building {employees} failed:\n{done.stderr[-3000:]}")
            built = time.perf_counter() - started
            env["DEBUG"] = "0"  # measured as deployed: with DEBUG on Django records every query
            env["SECRET_KEY"] = "bench-export-" + "x" * 40
            env.update(seal_key_env()[0])
            out = Path(f"/tmp/pulse-bench-export-{os.getpid()}.csv")
            try:
                measure = [PYTHON, "-c", MEASURE, str(args.rounds), str(out)]
                done = subprocess.run(measure, env=env, capture_output=True, text=True, check=False)
            finally:
                out.unlink(missing_ok=True)
            if done.returncode:
                sys.exit(f"measuring {employees} failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            ratio = r["baseline"] / r["export"]
            print(
                f"{employees:,} employees ({how} {built:.0f} s): {r['teams']:,} teams, "
                f"{r['group_releases']:,} team-waves, {r['dimension_releases']:,} team dimension releases "
                f"-> {r['rows']:,} rows ({r['suppressed']:,} suppressed), {r['bytes'] / 1e6:.1f} MB of CSV"
            )
            print(
                f"  export {r['export']:.2f} s ({r['rows'] / r['export']:,.0f} rows/s; rounds "
                f"{', '.join(f'{t:.2f}' for t in r['export_all'])}); the rows alone (no CSV) {r['read']:.2f} s, "
                f"of which the dimension releases' query alone {r['table']:.2f} s; "
                f"csv.writer from memory {r['baseline']:.2f} s ({r['rows'] / r['baseline']:,.0f} rows/s) "
                f"-> export / baseline {ratio:.2f}x"
            )
            print(
                f"  peak memory of one export: RSS +{r['rss_growth_kib'] / 1024:.1f} MiB, Python allocations "
                f"{r['traced_peak'] / 2**20:.1f} MiB at most; the same rows held in a list: {r['held'] / 2**20:.1f} MiB"
            )


if __name__ == "__main__":
    main()
