"""Dashboard and reporting-API latency: p95 against a trivial page, for a 1,000- and a 10,000-person org.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_dashboard.py [--sizes 1000 10000] [--duration 10] [--rounds 3]

It never touches your data: it creates (and drops) one database per organisation,
``pulse_bench_dash<N>``, on the server DATABASE_URL points to. In one run it:

1. builds each organisation's read side in bulk (``org_build``), with the shapes and sizes the
   analysis writes: a team tree of four levels (the organisation, divisions of up to ten
   departments, departments of ten teams, teams of 5-12 people, 8.5 on average), the
   employees, ``--waves`` closed and sealed waves (one every two weeks) of the default survey
   (six dimensions), each with its frozen tree (``WaveTeam``), its participation per group,
   the gate's decision per team (``GroupRelease``: a team whose answers fell short of k went to
   its department) and per team x dimension (``DimensionRelease``, about 8 % hidden by the
   complement rule), comments (about one respondent in six), and per team its trends (six
   dimensions and the engagement index, with the shrunk display values of every wave) and its
   churn risk. The answers themselves are not written: no read endpoint touches them;
2. makes an HR user with a session and an API token, and counts the queries of each endpoint
   in-process (Django's test client under ``CaptureQueriesContext``);
3. starts, per organisation, one gunicorn (``pulse/gunicorn.conf.py``, ``--workers`` sync
   workers, no access log, DEBUG off) running ``bench/dashboard_baseline.py``: Pulse's
   settings and URLs plus a trivial page (a tiny template extending ``base.html``);
4. measures, in rounds, the dashboard ``/teams/<id>/`` of a department (about 85 people in ten
   teams, the same shape in both organisations), the API's ``/results/?wave=`` (the latest wave)
   and ``/trends/`` of that department, and the first page of ``/api/v1/risks/?limit=100``
   (``limit`` so that both organisations answer a page of the same length), each in a ``wrk`` run
   of its own in which every connection sends the trivial page and the endpoint in turn: the
   two are measured side by side, under the same background load at the same moment (the machine
   is shared), every answer checked to be a 200. One connection by default, so that the two never
   compete with each other for the server and latency is service time, not queueing. It reports
   each endpoint's p95 over the trivial page's p95 of the same run, the median over rounds, and
   the ratio at 10,000 people over the ratio at 1,000.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOST,
    PYTHON,
    Processes,
    free_port,
    gunicorn_command,
    load_average,
    machine_note,
    port_wait,
    seal_key_env,
    service_env,
    services_required,
    sigterm_as_interrupt,
    throwaway_database,
)

SETTINGS = "bench.dashboard_baseline"
TRIVIAL_PATH = "/bench/trivial/"
TEAM_SIZES = range(5, 13)  # people per team, uniformly: 8.5 on average
TEAMS_PER_DEPARTMENT = 10
DEPARTMENTS_PER_DIVISION = 10
SUPPRESSED_SHARE = 0.08  # dimension releases hidden by the complement rule
COMMENT_SHARE = 1 / 6  # respondents who leave a comment
K, K_COMMENTS = 5, 10

# Runs inside wrk (LuaJIT), one connection per thread, so that each thread's request() and
# response() strictly alternate and the time between them is that request's latency (taken with
# CLOCK_MONOTONIC through the FFI; wrk keeps its own per-request times to itself). Each thread
# sends the paths given as arguments in turn (path, "Header: value", path, "Header: value", ...),
# so the trivial page and the endpoint are measured side by side, under the same load at the same
# moment; done() pools every thread's latencies and prints the percentiles per path.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  kinds, lat = {}, {}
  for i = 1, #args, 2 do
    local name, value = args[i + 1]:match("^([^:]+):%s*(.*)$")
    kinds[#kinds + 1] = wrk.format("GET", args[i], {[name] = value})
    lat[#lat + 1] = {}
    _G["lat" .. #lat] = lat[#lat]  -- thread:get copies flat tables only
  end
  nkinds = #kinds
  sent, bad, started, current = 0, 0, 0, 1
end

function request()
  current = (sent % #kinds) + 1
  sent = sent + 1
  started = now()
  return kinds[current]
end

function response(status, headers, body)
  local spent = now() - started
  if status ~= 200 then bad = bad + 1 end
  local mine = lat[current]
  mine[#mine + 1] = spent
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * p / 100))]
end

function done(summary, latency, requests)
  local pooled, wrong = {}, 0
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("bad")
    for i = 1, thread:get("nkinds") do
      pooled[i] = pooled[i] or {}
      for _, v in ipairs(thread:get("lat" .. i)) do table.insert(pooled[i], v) end
    end
  end
  local parts = {}
  for i, values in ipairs(pooled) do
    table.sort(values)
    parts[#parts + 1] = string.format('{"requests": %d, "p50": %.0f, "p95": %.0f, "p99": %.0f, "max": %.0f}',
      #values, percentile(values, 50), percentile(values, 95), percentile(values, 99), values[#values] or 0)
  end
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"seconds": %f, "not_200": %d, "socket_errors": %d, "paths": [%s]}\n',
    summary.duration / 1e6, wrong, e.connect + e.read + e.write + e.timeout, table.concat(parts, ", ")))
end
"""


# --- building an organisation's read side (runs in a child, against that org's database) ---------


def org_build(employees: int, waves: int, seed: int) -> dict:
    """The org and its analysed history in bulk; returns what the bench needs to measure it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from analytics.models import DimensionRelease, GroupRelease, TeamRisk, TeamTrend, WaveAnalysis
    from surveys.models import Comment, Employee, Survey, Team, Wave, WaveParticipation, WaveTeam
    from surveys.question_bank import question_bank_install
    from surveys.selectors import survey_dimensions

    rng = random.Random(seed)
    question_bank_install()
    survey = Survey.objects.get(slug="pulse")
    dimensions = survey_dimensions(survey_id=survey.pk)

    # The tree, level by level (bulk_create returns the ids on PostgreSQL).
    sizes: list[int] = []
    while sum(sizes) < employees:
        sizes.append(rng.choice(TEAM_SIZES))
    sizes[-1] -= sum(sizes) - employees
    if sizes[-1] < TEAM_SIZES.start:  # fold a short last team into the one before
        sizes[-2] += sizes.pop()
    n_departments = math.ceil(len(sizes) / TEAMS_PER_DEPARTMENT)
    n_divisions = math.ceil(n_departments / DEPARTMENTS_PER_DIVISION)
    root = Team.objects.create(name="Org", path="Org")
    divisions = Team.objects.bulk_create(
        Team(name=f"Division {i}", parent=root, path=f"Org/Division {i}") for i in range(n_divisions)
    )
    departments = Team.objects.bulk_create(
        Team(name=f"Dept {i}", parent=parent, path=f"{parent.path}/Dept {i}")
        for i in range(n_departments)
        for parent in [divisions[i // DEPARTMENTS_PER_DIVISION]]
    )
    leaves = Team.objects.bulk_create(
        (
            Team(name=f"Team {i}", parent=parent, path=f"{parent.path}/Team {i}")
            for i in range(len(sizes))
            for parent in [departments[i // TEAMS_PER_DEPARTMENT]]
        ),
        batch_size=2000,
    )
    teams = [root, *divisions, *departments, *leaves]
    members = dict(zip((t.pk for t in leaves), sizes, strict=True))
    Employee.objects.bulk_create(
        (
            Employee(email=f"e{leaf.pk}.{j}@bench.example", name=f"E {leaf.pk}.{j}", team=leaf)
            for leaf in leaves
            for j in range(members[leaf.pk])
        ),
        batch_size=5000,
    )

    # The waves, oldest first, every two weeks up to last week.
    first = date.today() - timedelta(days=14 * waves)
    wave_rows = Wave.objects.bulk_create(
        Wave(
            survey=survey,
            opens_on=first + timedelta(days=14 * i),
            closes_at=datetime.combine(first + timedelta(days=14 * i + 5), dtime(23, 59), tzinfo=UTC),
            closed_at=datetime.combine(first + timedelta(days=14 * i + 5), dtime(23, 59), tzinfo=UTC),
            status=Wave.Status.CLOSED,
            sealed=True,
            min_respondents=K,
            min_comment_respondents=K_COMMENTS,
        )
        for i in range(waves)
    )
    now = timezone.now()
    for wave in wave_rows:
        wave.teams.add(root)
    WaveAnalysis.objects.bulk_create(
        WaveAnalysis(wave=w, rollup_version=1, rolled_up_at=now, released_at=now, analysed_at=now) for w in wave_rows
    )

    counts = {"WaveTeam": 0, "GroupRelease": 0, "DimensionRelease": 0, "WaveParticipation": 0, "Comment": 0}
    for wave in wave_rows:
        rate = rng.uniform(0.6, 0.85)
        answered = {pk: sum(rng.random() < rate for _ in range(n)) for pk, n in members.items()}
        # A team short of k passes its answers to its department (whose subtree then holds them).
        group = {leaf.pk: (leaf.pk if answered[leaf.pk] >= K else leaf.parent_id) for leaf in leaves}
        held: dict[int, int] = {}  # answers attributed to each group, and its members invited
        held_invited: dict[int, int] = {}
        for leaf in leaves:
            held[group[leaf.pk]] = held.get(group[leaf.pk], 0) + answered[leaf.pk]
            held_invited[group[leaf.pk]] = held_invited.get(group[leaf.pk], 0) + members[leaf.pk]
        subtree_invited, subtree_answered = dict(members), dict(answered)
        for team in reversed(teams):  # leaves first: sums up the tree
            if team.parent_id is not None:
                subtree_invited[team.parent_id] = subtree_invited.get(team.parent_id, 0) + subtree_invited[team.pk]
                subtree_answered[team.parent_id] = subtree_answered.get(team.parent_id, 0) + subtree_answered[team.pk]
        WaveTeam.objects.bulk_create(
            (
                WaveTeam(
                    wave=wave,
                    team=t,
                    parent_id=t.parent_id,
                    path=t.path,
                    invited=members.get(t.pk, 0),
                    group_id=group.get(t.pk, t.pk),
                )
                for t in teams
            ),
            batch_size=5000,
        )
        WaveParticipation.objects.bulk_create(
            [WaveParticipation(wave=wave, team_id=g, invited=held_invited[g], responded=n) for g, n in held.items()]
            + [WaveParticipation(wave=wave, team=None, invited=subtree_invited[root.pk], responded=sum(held.values()))],
            batch_size=5000,
        )
        releases, dims = [], []
        for t in [None, *teams]:
            pk = t.pk if t else None
            respondents = subtree_answered[pk if pk else root.pk]
            if pk in members and group[pk] != pk:
                releases.append(
                    GroupRelease(
                        wave=wave,
                        team=t,
                        path=t.path,
                        state=GroupRelease.State.UPWARD,
                        group_id=group[pk],
                        participation_reason="upward",
                        comments_reason="upward",
                    )
                )
                continue
            releases.append(
                GroupRelease(
                    wave=wave,
                    team=t,
                    path=t.path if t else "",
                    state=GroupRelease.State.RESULTS,
                    group_id=pk,
                    invited=subtree_invited[pk if pk else root.pk],
                    responded=respondents,
                    comments_released=respondents >= K_COMMENTS,
                    comments_reason="" if respondents >= K_COMMENTS else "few_answers",
                )
            )
            for dimension in dimensions:
                hidden = t is not None and rng.random() < SUPPRESSED_SHARE
                nps = dimension == "enps"
                dims.append(
                    DimensionRelease(
                        wave=wave,
                        team=t,
                        dimension=dimension,
                        respondents=respondents,
                        mean=None if hidden else round(rng.gauss(7.2 if nps else 3.6, 0.4), 2),
                        favorable=None if hidden else round(rng.uniform(0.4, 0.85), 3),
                        enps=None if hidden or not nps else round(rng.uniform(-20, 40), 1),
                        reason="complement" if hidden else "",
                    )
                )
        GroupRelease.objects.bulk_create(releases, batch_size=5000)
        DimensionRelease.objects.bulk_create(dims, batch_size=5000)
        comments = [
            Comment(wave=wave, team_id=g, text=rng.choice(COMMENT_TEXTS))
            for g, n in held.items()
            for _ in range(sum(rng.random() < COMMENT_SHARE for _ in range(n)))
        ]
        rng.shuffle(comments)
        Comment.objects.bulk_create(comments, batch_size=5000)
        counts["WaveTeam"] += len(teams)
        counts["GroupRelease"] += len(releases)
        counts["DimensionRelease"] += len(dims)
        counts["WaveParticipation"] += len(held) + 1
        counts["Comment"] += len(comments)

    TeamTrend.objects.bulk_create(
        (
            TeamTrend(
                team=t,
                dimension=dimension,
                direction=rng.choices(["stable", "declining", "improving"], [0.9, 0.05, 0.05])[0],
                slope=round(rng.gauss(0, 0.02), 4),
                p_value=rng.random(),
                q_value=rng.random(),
                points=waves,
                min_detectable=0.1,
                shrunk={str(w.pk): round(rng.gauss(3.6, 0.3), 3) for w in wave_rows},
                computed_at=now,
            )
            for t in teams
            for dimension in [*dimensions, "composite"]
        ),
        batch_size=2000,
    )
    TeamRisk.objects.bulk_create(
        (
            TeamRisk(
                team=t,
                wave=wave_rows[-1],
                level=rng.choices(["high", "elevated", "low", "insufficient_data"], [0.05, 0.15, 0.7, 0.1])[0],
                score=round(rng.uniform(0, 0.2), 4),
                reasons=rng.sample(RISK_REASONS, 3),
                computed_at=now,
            )
            for t in teams
        ),
        batch_size=2000,
    )
    counts |= {"TeamTrend": len(teams) * (len(dimensions) + 1), "TeamRisk": len(teams)}

    user = get_user_model().objects.create_user(username="hr@bench.example", email="hr@bench.example")
    Employee.objects.create(email=user.username, name="HR", team=root, role=Employee.Role.HR, user=user)
    department = departments[0]
    return {
        "employees": employees,
        "teams": len(teams),
        "levels": {"divisions": n_divisions, "departments": n_departments, "teams": len(leaves)},
        "waves": waves,
        "dimensions": len(dimensions),
        "rows": counts,
        "department": department.pk,
        "department_people": sum(members[leaf.pk] for leaf in leaves if leaf.parent_id == department.pk),
        "department_teams": sum(1 for leaf in leaves if leaf.parent_id == department.pk),
        "wave": wave_rows[-1].pk,
        "token": Token.objects.create(user=user).key,
        "user": user.pk,
    }


COMMENT_TEXTS = [
    "More focus time, please: the meetings eat the afternoons.",
    "The new on-call rota works much better than the old one.",
    "I would like clearer priorities for the quarter.",
    "Great team, but we are stretched thin since two people left.",
    "Thanks for the flexible hours.",
    "The tooling is slow and it costs us hours every week.",
]
RISK_REASONS = [
    "intent to stay 0.4 below the organisation",
    "eNPS detractors up 12 points over the quarter",
    "growth declining over the last 5 waves",
    "participation down 18 points",
    "2 voluntary departures in the last 90 days",
    "burnout 0.3 above the organisation",
    "connection improving",
]


def endpoints(org: dict) -> dict[str, str]:
    dept = org["department"]
    return {
        "trivial": TRIVIAL_PATH,
        "dashboard": f"/teams/{dept}/",
        "results": f"/api/v1/teams/{dept}/results/?wave={org['wave']}",
        "trends": f"/api/v1/teams/{dept}/trends/",
        "risks": "/api/v1/risks/?limit=100",
        # Not in the figure (a list of every team, by nature as long as the organisation): query counts only.
        "hr heatmap": "/hr/",
        "hr risks": "/hr/risks/",
    }


def queries_count(org: dict) -> dict[str, int]:
    """Queries per endpoint, in-process with the test client, as the servers will be asked."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    session = Client(HTTP_HOST=HOST)
    session.force_login(get_user_model().objects.get(pk=org["user"]))
    token = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Token {org['token']}")
    out = {}
    for name, path in endpoints(org).items():
        client = token if path.startswith("/api/") else session
        client.get(path)  # warm: the first request of a process loads what later ones reuse
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        out[name] = len(queries)
    out["session"] = session.cookies["sessionid"].value
    return out


def child_build(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    org = org_build(args.employees, args.waves, args.seed)
    org["build_seconds"] = round(time.perf_counter() - start, 1)
    counted = queries_count(org)
    org["session"] = counted.pop("session")
    org["queries"] = counted
    print("BENCH_ORG " + json.dumps(org))


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def wrk_run(
    *, port: int, paths: list[tuple[str, str]], connections: int, seconds: float, script: Path
) -> tuple[float, list[Round]]:
    """(seconds, one ``Round`` per path): ``paths`` are (path, header) sent in turn on every connection."""
    command = ["wrk", f"--threads={connections}", f"--connections={connections}", f"--duration={seconds:g}s"]
    command += ["--timeout=10s", f"--script={script}", f"http://{HOST}:{port}/", "--"]
    for path, header in paths:
        command += [path, header]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    rounds = [
        Round(
            requests=one["requests"],
            seconds=result["seconds"],
            p50_ms=one["p50"] / 1000,
            p95_ms=one["p95"] / 1000,
            p99_ms=one["p99"] / 1000,
            max_ms=one["max"] / 1000,
        )
        for one in result["paths"]
    ]
    if result["not_200"] or result["socket_errors"] or not all(r.requests for r in rounds):
        raise RuntimeError(f"{paths}: {result['not_200']} answers not 200, {result['socket_errors']} socket errors")
    return result["seconds"], rounds


def header_for(org: dict, path: str) -> str:
    """The API by its token, pages by the session cookie, as their users do."""
    if path.startswith("/api/"):
        return f"Authorization: Token {org['token']}"
    return f"Cookie: sessionid={org['session']}"


def page_check(port: int, org: dict, path: str) -> int:
    """One request by hand: 200, and the page or document is the department's; its size."""
    request = urllib.request.Request(f"http://{HOST}:{port}{path}")
    name, _, value = header_for(org, path).partition(": ")
    request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - always http://127.0.0.1
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
    if path.startswith("/teams/") and b"Dept 0" not in body:
        raise RuntimeError(f"{path} is not the department's page")
    return len(body)


def run(
    args: argparse.Namespace,
    processes: Processes,
    databases: contextlib.ExitStack,
    database_url: str,
    redis_url: str,
    folder: Path,
) -> None:
    print(f"machine: {machine_note()}")
    script = folder / "check.lua"
    script.write_text(WRK_SCRIPT)
    log = folder / "gunicorn.log"
    orgs: dict[int, dict] = {}
    servers: dict[int, int] = {}
    for size in args.sizes:
        url = databases.enter_context(throwaway_database(database_url, f"dash{size}"))
        env = service_env(database_url=url, redis_url=redis_url) | {"DJANGO_SETTINGS_MODULE": SETTINGS}
        env["SECRET_KEY"] = args.secret
        env |= seal_key_env()[1]  # the web tier's half of a seal key of the run's own; nothing is sealed here
        done = subprocess.run(
            [PYTHON, __file__, "build", f"--employees={size}", f"--waves={args.waves}", f"--seed={size}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_ORG ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(
                f"building the {size:,}-person org failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        org = json.loads(line.removeprefix("BENCH_ORG "))
        orgs[size] = org
        rows = ", ".join(f"{name} {count:,}" for name, count in org["rows"].items())
        levels = org["levels"]
        print(
            f"org {size:,}: {org['employees']:,} employees, {org['teams']:,} teams "
            f"(1 + {levels['divisions']} divisions + {levels['departments']} departments + {levels['teams']:,} teams), "
            f"{org['waves']} sealed closed waves x {org['dimensions']} dimensions; rows: {rows}; "
            f"built in {org['build_seconds']} s"
        )
        print(
            f"  measured team: department {org['department']} ({org['department_people']} people in "
            f"{org['department_teams']} teams), results of wave {org['wave']} (the latest)"
        )
        print("  queries: " + ", ".join(f"{name} {n}" for name, n in org["queries"].items()))
        port = free_port()
        command = gunicorn_command(port=port, workers=args.workers)
        proc = processes.start(command, env=env, log=log.open("ab"))
        port_wait(port, proc=proc)
        servers[size] = port
    print(
        f"servers: one per org, gunicorn -c pulse/gunicorn.conf.py --workers={args.workers} (sync), access log off, "
        f"DEBUG off, DJANGO_SETTINGS_MODULE={SETTINGS}"
    )
    print(
        f"load: wrk --threads={args.connections} --connections={args.connections} --duration={args.duration:g}s "
        f"per endpoint, the trivial page and the endpoint in turn on each connection, {args.rounds} rounds"
    )
    names = ["trivial", "dashboard", "results", "trends", "risks"]
    for size, org in orgs.items():
        paths = endpoints(org)
        sizes = {name: page_check(servers[size], org, paths[name]) for name in names}
        print(f"  org {size:,} response bytes: " + ", ".join(f"{n} {b:,}" for n, b in sizes.items()))
        # warm every worker's caches (templates, URL resolver, connections)
        wrk_run(
            port=servers[size],
            paths=[(paths[name], header_for(org, paths[name])) for name in names],
            connections=args.connections,
            seconds=2,
            script=script,
        )

    # Each endpoint alternates with the trivial page on the same connections: both see the same load.
    results: dict[tuple[int, str], list[tuple[Round, Round]]] = {
        (size, name): [] for size in orgs for name in names[1:]
    }
    for round_ in range(args.rounds):
        for size, org in orgs.items():
            paths = endpoints(org)
            trivial = (paths["trivial"], header_for(org, paths["trivial"]))
            for name in names[1:]:
                load = load_average()
                _, (base, mine) = wrk_run(
                    port=servers[size],
                    paths=[trivial, (paths[name], header_for(org, paths[name]))],
                    connections=args.connections,
                    seconds=args.duration,
                    script=script,
                )
                results[(size, name)].append((base, mine))
                print(
                    f"round {round_ + 1}  org {size:>6,}  {name:<9} {mine.requests:5,} requests  "
                    f"p50 {mine.p50_ms:6.1f} ms  p95 {mine.p95_ms:6.1f} ms  p99 {mine.p99_ms:6.1f} ms | "
                    f"trivial {base.requests:5,}  p50 {base.p50_ms:5.1f} ms  p95 {base.p95_ms:5.1f} ms | "
                    f"ratio of p95 {mine.p95_ms / base.p95_ms:5.2f}  (load {load:.2f})",
                    flush=True,
                )

    ratios: dict[tuple[int, str], float] = {}
    print("--- p95 over the trivial page's p95 in the same run (median over rounds)")
    for size in orgs:
        print(f"org {size:,}:")
        for name in names[1:]:
            pairs = results[(size, name)]
            by_round = [mine.p95_ms / base.p95_ms for base, mine in pairs]
            ratios[(size, name)] = statistics.median(by_round)
            print(
                f"  {name:<9} p95 median {statistics.median(m.p95_ms for _, m in pairs):6.1f} ms, trivial "
                f"{statistics.median(b.p95_ms for b, _ in pairs):5.1f} ms; ratio by round "
                f"{', '.join(f'{x:.2f}' for x in by_round)}, median {ratios[(size, name)]:.2f} (goal <= 3)"
            )
    small, large = min(orgs), max(orgs)
    if small != large:
        print(f"--- ratio at {large:,} over ratio at {small:,} (goal <= 1.2)")
        for name in names[1:]:
            print(f"  {name:<9} {ratios[(large, name)] / ratios[(small, name)]:.2f}")
        print(
            "--- queries per request: "
            + "; ".join(
                f"{name} {orgs[small]['queries'][name]} -> {orgs[large]['queries'][name]}"
                for name in orgs[small]["queries"]
            )
        )
    print(f"load average after: {machine_note().rsplit('load average ', 1)[1]}")


def main() -> None:
    if sys.argv[1:2] == ["build"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("build")
        parser.add_argument("--employees", type=int, required=True)
        parser.add_argument("--waves", type=int, required=True)
        parser.add_argument("--seed", type=int, required=True)
        child_build(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000], help="employees per org")
    parser.add_argument("--waves", type=int, default=26, help="sealed closed waves (26)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per endpoint and round (15)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every org and endpoint (3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server (2)")
    parser.add_argument(
        "--connections", type=int, default=1, help="wrk connections, one per wrk thread (1: no queueing)"
    )
    args = parser.parse_args()
    database_url, redis_url = services_required()
    if shutil.which("wrk") is None:
        sys.exit("bench_dashboard.py drives the servers with wrk: apt-get install wrk")
    args.secret = os.urandom(32).hex()  # one key for the builder (sessions) and the servers
    with (
        sigterm_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="pulse-bench-dashboard-") as folder,
        contextlib.ExitStack() as databases,
        Processes() as processes,  # stopped before the databases are dropped
    ):
        try:
            run(args, processes, databases, database_url, redis_url, Path(folder))
        except (RuntimeError, KeyboardInterrupt) as exc:
            print(f"stopped: {str(exc) or 'interrupted'}", file=sys.stderr)
            log = Path(folder) / "gunicorn.log"
            if log.exists() and isinstance(exc, RuntimeError):
                print(f"gunicorn log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise SystemExit(1) from None


if __name__ == "__main__":
    main()
