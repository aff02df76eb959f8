"""Org import benchmark: 100,000 rows through ``org_import`` against a plain ``bulk_create``.

    .venv/bin/python bench/bench_import.py                      # a temporary SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pulse \\
        .venv/bin/python bench/bench_import.py                  # PostgreSQL

It never touches your data: on PostgreSQL it creates (and afterwards drops) its own database
``pulse_bench_import`` on the server DATABASE_URL points to; otherwise it uses a SQLite file
in a temporary folder. It measures, in one process and on one fresh schema:

1. the first import of a generated file (every team, person and user is new),
2. a re-import of the same file (the idempotent path: nothing is written),
3. a re-import with 10 % of the rows changed (moves and renames: the update path),
4. the baseline: ``Employee.objects.bulk_create`` of the same rows (teams already there)
   into an empty table, in one transaction with the import's batch size,

and prints wall time and rows/s of each, and the import's rate relative to the baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import available_timezones

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "pulse_bench_import"
LOCALES = ["en", "en", "en", "de", "fr", "es", "pt-br", "ja", "nl", "pl"]
FIRST = ["Ada", "Ben", "Chloé", "Dev", "Emeka", "Fang", "Gül", "Hugo", "Ilse", "Jun", "Kemal", "Lea", "Mads", "Nia"]
LAST = ["Adams", "Björk", "Costa", "Dubois", "Eze", "Fischer", "García", "Haas", "Ito", "Jensen", "Kaur", "Lam"]


def zones() -> list[str]:
    """Canonical IANA zones (no posix/ and right/ copies), in a stable order."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("posix/", "right/", "Etc/")))


def team_tree(fanout: int = 10) -> list[str]:
    """1,000 leaf teams in a 3-level tree below one root: Bench/Division 1/Department 1.3/Team 1.3.7."""
    return [
        f"Bench/Division {d}/Department {d}.{p}/Team {d}.{p}.{t}"
        for d in range(1, fanout + 1)
        for p in range(1, fanout + 1)
        for t in range(1, fanout + 1)
    ]


def org_rows(count: int, *, seed: int) -> list[dict[str, str]]:
    """A deterministic valid org: a manager per team and per department, some HR, some departures."""
    rnd = random.Random(seed)
    leaves, tz = team_tree(), zones()
    today = date.today()
    rows = []
    for n in range(count):
        team = leaves[n % len(leaves)]
        row = {
            "email": f"person{n:06d}@bench.example",
            "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {n}",
            "team": team,
            "timezone": rnd.choice(tz),
            "locale": rnd.choice(LOCALES),
            "role": "employee",
        }
        lap = n // len(leaves)
        if lap == 0:
            row |= {"role": "manager", "manages": team}
        elif lap == 1 and n % 10 == 0:
            row |= {"role": "manager", "manages": team.rsplit("/", 1)[0]}
        elif lap == 2 and n % 50 == 0:
            row["role"] = "hr"
        elif rnd.random() < 0.04:
            left = today + timedelta(days=rnd.randint(-700, 60))
            row |= {"left_on": left.isoformat(), "left_reason": rnd.choice(["voluntary", "involuntary"])}
        rows.append(row)
    return rows


def changed(rows: list[dict[str, str]], *, share: float, seed: int) -> list[dict[str, str]]:
    """A copy where ``share`` of the people moved to another team and changed their name."""
    rnd, leaves = random.Random(seed), team_tree()
    out = [dict(row) for row in rows]
    for row in rnd.sample(out, int(len(out) * share)):
        if row["role"] == "employee":
            row["team"] = rnd.choice(leaves)
        row["name"] += " (renamed)"
    return out


# --- databases ---------------------------------------------------------------------------------


def pg_admin(base_url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(base_url)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path or "/postgres", parts.query, ""))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


def database_prepare() -> Callable[[], None]:
    """Point Django at a database of our own; return the function that removes it."""
    base_url = os.environ.get("DATABASE_URL", "")
    if base_url.startswith(("postgres", "pgsql")):
        pg_admin(base_url, f"DROP DATABASE IF EXISTS {BENCH_DB}")
        pg_admin(base_url, f"CREATE DATABASE {BENCH_DB}")
        parts = urlsplit(base_url)
        os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", parts.query, ""))

        def drop() -> None:
            pg_admin(base_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")

        return drop
    # The embedded default, exactly as users run it, in a folder that is deleted afterwards.
    folder = tempfile.mkdtemp(prefix="pulse-bench-import-")
    os.environ.pop("DATABASE_URL", None)
    os.environ["PULSE_DATA_DIR"] = folder
    return lambda: shutil.rmtree(folder, ignore_errors=True)


def backend_name() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            return (
                f"PostgreSQL {version} (database {connection.settings_dict['NAME']}, created and dropped by this bench)"
            )
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]} (temporary file {connection.settings_dict['NAME']})"


# --- measurements ------------------------------------------------------------------------------


def timed(label: str, count: int, func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    print(f"{label:<28} {seconds:8.2f} s {count / seconds:>10,.0f} rows/s   {result}", flush=True)
    return seconds, result


def employees_wipe() -> None:
    """Empty the employee tables as if new (no ORM cascade over 100k objects), for a fair baseline."""
    from django.db import connection

    from surveys.models import Employee

    tables = [Employee.manages.through._meta.db_table, Employee._meta.db_table]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"TRUNCATE {', '.join(tables)} CASCADE"
            )  # fresh relation files: a new table; the bench DB only
            return
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("VACUUM")


def baseline(rows: list[dict[str, str]]) -> str:
    """The floor: bulk_create of the same people, no validation, no diffing, teams already there."""
    from django.db import transaction
    from django.utils import timezone

    from surveys.models import Employee, Team
    from surveys.org_import import BATCH_SIZE

    team_ids = dict(Team.objects.values_list("path", "pk"))
    today = timezone.now().date()
    with transaction.atomic():
        people = [
            Employee(
                email=row["email"],
                name=row["name"],
                team_id=team_ids[row["team"]],
                timezone=row["timezone"],
                locale=row["locale"],
                role=row["role"],
                active=not row.get("left_on") or date.fromisoformat(row["left_on"]) > today,
                left_on=row.get("left_on") or None,
                left_reason=row.get("left_reason", ""),
            )
            for row in rows
        ]
        Employee.objects.bulk_create(people, batch_size=BATCH_SIZE)
    return f"{Employee.objects.count():,} employees"


def run(count: int, seed: int) -> None:
    from django.core.management import call_command

    from surveys.org_import import org_csv_build, org_import

    call_command("migrate", verbosity=0)
    print(f"backend: {backend_name()}")
    progress = sys.stdout.isatty()

    start = time.perf_counter()
    rows = org_rows(count, seed=seed)
    data = org_csv_build(rows)
    data_changed = org_csv_build(changed(rows, share=0.10, seed=seed + 1))
    print(
        f"file: {count:,} rows, {len(team_tree()):,} leaf teams, {len({r['timezone'] for r in rows})} time zones, "
        f"{len(data) / 2**20:.1f} MB (generated in {time.perf_counter() - start:.1f} s)"
    )

    first, _ = timed("1. first import", count, lambda: org_import(data=data, progress=progress).summary())
    timed("2. re-import (unchanged)", count, lambda: org_import(data=data, progress=progress).summary())
    timed("3. re-import, 10% changed", count, lambda: org_import(data=data_changed, progress=progress).summary())
    employees_wipe()
    floor, _ = timed("4. baseline bulk_create", count, lambda: baseline(rows))
    print(f"first import rate / baseline rate: {floor / first:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20260310)
    args = parser.parse_args()

    cleanup = database_prepare()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
    try:
        import django

        django.setup()
        run(args.rows, args.seed)
    finally:
        from django.db import connections

        connections.close_all()
        cleanup()


if __name__ == "__main__":
    main()
