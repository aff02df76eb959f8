"""Answer-intake benchmark: ``POST /api/v1/responses/`` over HTTP against a minimal one-row-insert view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_intake.py [--duration 20] [--rounds 3] [--server 4 --server 2x4]

It never touches your data: it creates (and drops) its own database ``pulse_bench_intake`` on
the server DATABASE_URL points to. In one run it:

1. migrates the fresh database, installs the question bank (the default ``pulse`` survey),
   imports an org of ``--invitations`` people and launches one open wave for all of them;
   computes every invitation's token (``surveys.tokens.token_for``); creates the baseline's
   table;
2. starts, for each server configuration (``--server W`` for W sync workers, ``--server WxT``
   for W gthread workers of T threads; by default both ``4`` and ``2x4``), two servers with
   the same gunicorn settings (``pulse/gunicorn.conf.py``, no access log, DEBUG off): Pulse,
   and the baseline of ``bench/intake_baseline.py`` (Pulse's settings; one view that inserts
   one row with a single INSERT, and its twin that wraps the INSERT in ``transaction.atomic()``).
   Both hold only the public half of the run's seal key, as the web tier is deployed;
3. drives each with ``wrk`` (16 connections, one thread; a Lua script gives every request its
   own token and the default survey's full set of answers) for ``--duration`` seconds, after a
   short warm-up, in turn: for each configuration baseline, atomic baseline, Pulse, ``--rounds``
   times, so each ratio compares runs of the same configuration minutes apart;
4. checks every round in the database: as many submissions (and answered invitations) as
   201s, every box of the sealed size, a sample of them opening with the run's seal key to the
   answers sent, and no other status;
5. meters the CPU time each request costs (the server's gunicorn processes plus the bench
   database's PostgreSQL backends): unlike requests/s it hardly moves with other jobs' load,
   and on a CPU-bound machine the rates' ratio follows its ratio.

wrk (``apt-get install wrk``) rather than a Python client: one C thread drives the 16
connections with a few percent of one core, so the client takes next to nothing from the two
servers' CPU. At the end of a round each connection, once its last submission is answered,
sends ``GET /healthz`` until every submission is answered, so that no submission is left in
flight when the client stops (which would make the database hold more responses than the
client saw 201s; the check after each round would fail). Rates are submissions answered 201
over the time from the first request to the last submission's answer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOST,
    Processes,
    free_port,
    gunicorn_command,
    load_average,
    machine_note,
    port_wait,
    progress,
    seal_key_env,
    service_env,
    services_required,
    sigterm_as_interrupt,
    throwaway_database,
)

CONNECTIONS = 16
PATH = "/api/v1/responses/"
FILLER_PATH = "/healthz"
WARM_UP_SECONDS = 2
BOXES_OPENED_PER_ROUND = 100  # a sample of each round's submissions, decrypted and compared

# Runs inside wrk (LuaJIT). Tokens are read from a file, one per line, each used once; the body
# is the template with its TOKEN placeholder replaced. The clock is CLOCK_MONOTONIC through the
# FFI, because wrk keeps its own run time to itself until the very end.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local GRACE = 2  -- seconds; far more than any answer takes
local function now()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  seconds = tonumber(args[2])
  local file = assert(io.open(args[3], "rb"))
  local template = file:read("*a")
  file:close()
  prefix, suffix = template:match("^(.-)TOKEN(.*)$")
  filler = wrk.format("GET", args[4])
  headers = {["Content-Type"] = "application/json"}
  nexti, inflight, created, failed = 1, 0, 0, 0
  draining, first, last, deadline = false, 0, 0, 0
end

function request()
  if first == 0 then
    first = now()
    deadline = first + seconds
  end
  if not draining and (nexti > #tokens or now() >= deadline) then
    draining = true
  end
  if draining then
    -- wrk may drop a request it asked for (a write retried before any byte went out asks
    -- again), so an in-flight count that never reaches 0 only delays the stop by GRACE.
    if inflight <= 0 or now() > deadline + GRACE then wrk.thread:stop() end
    return filler
  end
  local body = prefix .. tokens[nexti] .. suffix
  nexti = nexti + 1
  inflight = inflight + 1
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 200 then return end  -- a filler: only GET /healthz answers 200
  inflight = inflight - 1
  if status == 201 then created = created + 1 else failed = failed + 1 end
  last = now()
  if draining and inflight <= 0 then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"created": %d, "failed": %d, "sent": %d, "seconds": %.6f, "requests": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "max": %d}\n',
    t:get("created"), t:get("failed"), t:get("nexti") - 1, t:get("last") - t:get("first"), summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Round:
    created: int
    failed: int
    sent: int  # bodies handed to wrk (one may be dropped by wrk unsent; the database check catches the rest)
    seconds: float
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu: float = 0.0  # seconds of CPU the load generator used
    server_cpu: float = 0.0  # seconds of CPU of the gunicorn master and workers
    database_cpu: float = 0.0  # seconds of CPU of the bench database's PostgreSQL backends

    @property
    def rate(self) -> float:
        return self.created / self.seconds

    @property
    def cpu_per_request_ms(self) -> float:
        return (self.server_cpu + self.database_cpu) / self.created * 1000


@dataclass(frozen=True)
class ServerConfig:
    """A gunicorn configuration both servers of a pair run: W sync workers, or W gthread workers x T threads."""

    workers: int
    threads: int = 0  # 0: sync workers

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        workers, _, threads = text.lower().partition("x")
        try:
            config = cls(int(workers), int(threads) if threads else 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected W (sync workers) or WxT (gthread)") from None
        if config.workers < 1 or (threads and config.threads < 1):
            raise argparse.ArgumentTypeError(f"{text!r}: workers and threads must be at least 1")
        return config

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads} gthread" if self.threads else f"{self.workers} sync"

    @property
    def flags(self) -> str:
        if self.threads:
            return f"--workers={self.workers} --worker-class=gthread --threads={self.threads}"
        return f"--workers={self.workers} (sync)"


# --- data ----------------------------------------------------------------------------------------


def org_and_wave(people: int) -> tuple[list[str], str]:
    """An org of ``people``, one open wave for all of them; their tokens, and the body template."""
    from surveys.intake import survey_questions
    from surveys.models import Invitation, Survey
    from surveys.org_import import org_csv_build, org_import
    from surveys.question_bank import question_bank_install
    from surveys.tokens import token_for
    from surveys.waves import wave_launch

    question_bank_install()
    rows = [
        {
            "email": f"person{n:06d}@bench.example",
            "name": f"Person {n}",
            "team": f"Bench/Division {n % 10}/Team {n % 200}",
            "timezone": "Europe/Berlin",
            "role": "employee",
        }
        for n in range(people)
    ]
    org_import(data=org_csv_build(rows), progress=sys.stderr.isatty())
    survey = Survey.objects.get(slug="pulse")
    wave = wave_launch(survey=survey, days_open=5)
    pks = Invitation.objects.filter(wave=wave).order_by("pk").values_list("pk", flat=True)
    tokens = [token_for(pk) for pk in progress(pks.iterator(), total=people, desc="tokens", unit="token")]
    # A full set of answers, every one on its scale: what the form sends when all is answered.
    answers = {code: (q.min + q.max + 1) // 2 for code, q in survey_questions(survey_id=survey.pk).items()}
    return tokens, json.dumps({"token": "TOKEN", "answers": answers})


def baseline_table_create() -> None:
    from django.db import connection

    from bench.intake_baseline import BASELINE_TABLE_SQL

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_TABLE_SQL)


def stored_counts() -> dict[str, int]:
    from django.db import connection

    from bench.intake_baseline import BASELINE_TABLE
    from surveys.models import Invitation, Submission

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {BASELINE_TABLE}")
        baseline = cursor.fetchone()[0]
    return {
        "baseline": baseline,
        "submissions": Submission.objects.count(),
        "answered": Invitation.objects.filter(responded=True).count(),
    }


def boxes_check(*, answers: dict[str, int]) -> list[str]:
    """Every submission is a box of the sealed size; a sample opens with the run's key to what was sent."""
    from django.db.models.functions import Length

    from surveys.crypto import BOX_SIZE, Ballot, ballot_decrypt, seal_private_keys
    from surveys.intake import survey_questions
    from surveys.models import Submission, Survey

    problems = []
    odd = Submission.objects.annotate(size=Length("box")).exclude(size=BOX_SIZE).count()
    if odd:
        problems.append(f"{odd} submissions are not {BOX_SIZE}-byte boxes")
    bank = survey_questions(survey_id=Survey.objects.get(slug="pulse").pk)
    sent = Ballot(answers=tuple((bank[code].id, value) for code, value in answers.items()), comment="")
    keys = seal_private_keys()
    sample = Submission.objects.order_by("?").values_list("key", "box")[:BOXES_OPENED_PER_ROUND]
    opened = [ballot_decrypt(key=key, box=box, boxes=keys) for key, box in sample]
    if any(ballot != sent for ballot in opened):
        problems.append("a submission does not hold the answers sent")
    return problems


# --- servers and the load generator --------------------------------------------------------------


def server_start(processes: Processes, *, env: dict[str, str], config: ServerConfig, log: Path) -> tuple[int, int]:
    """(port, pid of the gunicorn master)."""
    port = free_port()
    command = gunicorn_command(port=port, workers=config.workers, threads=config.threads)
    proc = processes.start(command, env=env, log=log.open("ab"))
    port_wait(port, proc=proc)
    return port, proc.pid


class CpuMeter(threading.Thread):
    """CPU seconds spent by one server's processes and the bench database's PostgreSQL backends.

    On a machine shared with other jobs, requests/s swing with their load; the CPU time each
    request costs does not, and on a CPU-bound machine the rates' ratio follows it. Sampled
    every few tenths of a second, so that a backend that ends mid-round (a connection past
    CONN_MAX_AGE) still counts up to its last sample, and one that starts counts whole.
    PostgreSQL's shared background processes (WAL writer, checkpointer) are left out: they also
    serve every other database on the server.
    """

    def __init__(self, *, server_pid: int, database_url: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.server_pid, self.interval = server_pid, interval
        self._conn = psycopg.connect(_conninfo(database_url), autocommit=True)
        self._halt = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._server_pids: set[int] = set()
        self._sample(starting=True)

    def _pids(self) -> tuple[set[int], set[int]]:
        try:
            master = psutil.Process(self.server_pid)
            server = {master.pid, *(child.pid for child in master.children(recursive=True))}
        except psutil.NoSuchProcess:  # the bench is stopping
            server = set()
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return server, {pid for (pid,) in rows}

    def _sample(self, *, starting: bool = False) -> None:
        server, backends = self._pids()
        self._server_pids |= server
        for pid in server | backends:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            used = times.user + times.system
            self._first.setdefault(pid, used if starting else 0.0)
            self._last[pid] = used

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self._sample()
            except psycopg.Error:  # the bench is stopping and its database going
                return

    def stop(self) -> tuple[float, float]:
        """(server seconds, PostgreSQL seconds) since the meter was made."""
        self._halt.set()
        self.join()
        self._sample()
        self._conn.close()
        spent = {pid: self._last[pid] - self._first[pid] for pid in self._last}
        server = sum(seconds for pid, seconds in spent.items() if pid in self._server_pids)
        return server, sum(spent.values()) - server


def _conninfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def wrk_run(
    *, port: int, path: str, tokens: list[str], template: Path, script: Path, seconds: float, folder: Path
) -> Round:
    token_file = folder / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    command = [
        "wrk",
        "--threads=1",
        f"--connections={CONNECTIONS}",
        # wrk's own clock only bounds the run; the script stops it once every submission is answered.
        f"--duration={math.ceil(seconds) + 3}s",
        "--timeout=10s",
        f"--script={script}",
        f"http://{HOST}:{port}{path}",
        "--",
        str(token_file),
        str(seconds),
        str(template),
        FILLER_PATH,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    return Round(
        created=result["created"],
        failed=result["failed"],
        sent=result["sent"],
        seconds=result["seconds"],
        socket_errors=sum(result[key] for key in ("connect", "read", "write", "timeout")),
        p50_ms=result["p50"] / 1000,
        p90_ms=result["p90"] / 1000,
        p99_ms=result["p99"] / 1000,
        max_ms=result["max"] / 1000,
        wrk_cpu=wrk_cpu,
    )


# --- the run -------------------------------------------------------------------------------------


def describe(name: str, result: Round, load: float) -> str:
    return (
        f"{name:<9} {result.created:7,} x 201 in {result.seconds:5.1f} s {result.rate:7,.0f} req/s  "
        f"p50 {result.p50_ms:6.1f} ms  p90 {result.p90_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
        f"max {result.max_ms:6.0f} ms  errors {result.failed + result.socket_errors}  "
        f"CPU/request {result.cpu_per_request_ms:.2f} ms (gunicorn {result.server_cpu / result.created * 1000:.2f} + "
        f"PostgreSQL {result.database_cpu / result.created * 1000:.2f}), wrk {result.wrk_cpu / result.seconds:.0%} "
        f"of a core  (load {load:.2f})"
    )


def round_check(
    name: str, result: Round, before: dict[str, int], after: dict[str, int], answers: dict[str, int]
) -> None:
    """Every submission answered 201, each stored exactly once (as one sealed box)."""
    problems = []
    if result.failed or result.socket_errors:
        problems.append(f"{result.failed} non-201 answers and {result.socket_errors} socket errors")
    if name != "Pulse":
        if after["baseline"] - before["baseline"] != result.created:
            problems.append(f"{after['baseline'] - before['baseline']} rows stored for {result.created} 201s")
    else:
        stored = {key: after[key] - before[key] for key in ("submissions", "answered")}
        expected = {"submissions": result.created, "answered": result.created}
        if stored != expected:
            problems.append(f"stored {stored}, expected {expected}")
        problems += boxes_check(answers=answers)
    if problems:
        raise RuntimeError(f"{name}: " + "; ".join(problems))


@dataclass(frozen=True)
class Target:
    config: ServerConfig
    name: str  # "baseline", "atomic" or "Pulse"
    port: int
    path: str
    server_pid: int


def run(args: argparse.Namespace, processes: Processes, web_env: dict[str, str], folder: Path) -> None:
    """The whole bench; ``web_env`` is the servers' environment (the bench's own is os.environ)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    print(f"machine: {machine_note()}")
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    tokens, body = org_and_wave(args.invitations)
    baseline_table_create()
    answers = json.loads(body)["answers"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"data: {len(tokens):,} invitations in one open wave of the default survey ({len(answers)} questions), "
        f"PostgreSQL {version}, database {connection.settings_dict['NAME']} (throwaway); "
        f"{time.perf_counter() - start:.1f} s"
    )
    print(f"body: {len(body) - len('TOKEN') + 43} bytes of JSON, a unique token and {len(answers)} answers")
    connection.close()

    template, script = folder / "body.json", folder / "intake.lua"
    template.write_text(body)
    script.write_text(WRK_SCRIPT)
    log = folder / "gunicorn.log"
    # Every server of the run is started first; an idle one costs memory, not CPU.
    targets: list[Target] = []
    for config in args.server:
        baseline_port, baseline_pid = server_start(
            processes, env=web_env | {"DJANGO_SETTINGS_MODULE": "bench.intake_baseline"}, config=config, log=log
        )
        pulse_port, pulse_pid = server_start(processes, env=web_env, config=config, log=log)
        # The baseline server answers the one-INSERT view and its atomic() twin.
        targets += [
            Target(config, "baseline", baseline_port, PATH, baseline_pid),
            Target(config, "atomic", baseline_port, f"/atomic{PATH}", baseline_pid),
            Target(config, "Pulse", pulse_port, PATH, pulse_pid),
        ]
        print(
            f"servers ({config.label}): gunicorn -c pulse/gunicorn.conf.py {config.flags}, access log off, DEBUG off, "
            "PULSE_SEAL_PUBLIC_KEY only"
        )
    print(f"load: wrk --threads=1 --connections={CONNECTIONS}")

    # Tokens: a slice for each target's warm-up, then one slice per round and configuration for Pulse.
    warm = 200
    for index, target in enumerate(targets):
        wrk_run(
            port=target.port,
            path=target.path,
            tokens=tokens[index * warm : (index + 1) * warm],
            template=template,
            script=script,
            seconds=WARM_UP_SECONDS,
            folder=folder,
        )
    pool = tokens[len(targets) * warm :]
    per_round = len(pool) // (args.rounds * len(args.server))
    chunks = iter(range(0, per_round * args.rounds * len(args.server), per_round))

    results: dict[Target, list[Round]] = {target: [] for target in targets}
    bar = progress(total=args.rounds * len(targets), desc="rounds", unit="run")
    for round_ in range(args.rounds):
        for target in targets:
            if target.name == "Pulse":
                offset = next(chunks)
                chunk = pool[offset : offset + per_round]
            before, load = stored_counts(), load_average()
            meter = CpuMeter(server_pid=target.server_pid, database_url=os.environ["DATABASE_URL"])
            meter.start()
            result = wrk_run(
                port=target.port,
                path=target.path,
                # Pulse needs unused tokens; the baselines store any string, so they may run through them all.
                tokens=chunk if target.name == "Pulse" else pool,
                template=template,
                script=script,
                seconds=args.duration,
                folder=folder,
            )
            server_cpu, database_cpu = meter.stop()
            result = dataclasses.replace(result, server_cpu=server_cpu, database_cpu=database_cpu)
            round_check(target.name, result, before, stored_counts(), answers)
            results[target].append(result)
            bar.update()
            bar.clear()
            print(f"round {round_ + 1}  {target.config.label:<12} {describe(target.name, result, load)}", flush=True)
            if target.name == "Pulse" and result.sent >= len(chunk):
                print(f"  (ran out of tokens after {result.seconds:.1f} s: raise --invitations)")
    bar.close()

    for config in args.server:
        print(f"--- {config.label}: gunicorn {config.flags}")
        mine = {target.name: rounds for target, rounds in results.items() if target.config == config}
        for name, rounds in mine.items():
            print(
                f"median {name:<9} {statistics.median(r.rate for r in rounds):7,.0f} req/s  "
                f"p50 {statistics.median(r.p50_ms for r in rounds):6.1f} ms  "
                f"p99 {statistics.median(r.p99_ms for r in rounds):6.1f} ms  "
                f"CPU/request {statistics.median(r.cpu_per_request_ms for r in rounds):.2f} ms  "
                f"errors {sum(r.failed + r.socket_errors for r in rounds)}"
            )
        for baseline in ("baseline", "atomic"):
            pairs = list(zip(mine[baseline], mine["Pulse"], strict=True))
            ratios = [p.rate / b.rate for b, p in pairs]
            cpu = [b.cpu_per_request_ms / p.cpu_per_request_ms for b, p in pairs]
            print(
                f"Pulse / {baseline} ({config.label}): rate by round {', '.join(f'{ratio:.2f}' for ratio in ratios)}, "
                f"median {statistics.median(ratios):.2f} (goal >= 0.5); "
                f"by CPU per request {', '.join(f'{ratio:.2f}' for ratio in cpu)}, median {statistics.median(cpu):.2f}"
            )
    print(f"load average after: {machine_note().rsplit('load average ', 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per round and server (20)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline, atomic, Pulse, ... per configuration (3)")
    parser.add_argument(
        "--server",
        type=ServerConfig.parse,
        action="append",
        metavar="W[xT]",
        help="a gunicorn configuration for both servers: W sync workers, or W gthread workers of T threads; "
        "repeat for several (default: --server 4 --server 2x4)",
    )
    parser.add_argument("--invitations", type=int, default=150_000, help="people, invitations and tokens (150,000)")
    args = parser.parse_args()
    args.server = list(dict.fromkeys(args.server or [ServerConfig(4), ServerConfig(2, 4)]))
    database_url, redis_url = services_required()
    if shutil.which("wrk") is None:
        sys.exit("bench_intake.py drives the servers with wrk: apt-get install wrk")

    with (
        sigterm_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="pulse-bench-intake-") as folder,
        throwaway_database(database_url, "intake") as bench_url,
        Processes() as processes,
    ):
        env = service_env(database_url=bench_url, redis_url=redis_url)
        # The bench holds the seal key (it opens a sample of the boxes); the servers, like the
        # deployed web tier, only its public half.
        sealer, web = seal_key_env()
        os.environ.clear()
        os.environ.update(env | sealer)
        try:
            run(args, processes, env | web, Path(folder))
        except (RuntimeError, KeyboardInterrupt) as exc:
            print(f"stopped: {str(exc) or 'interrupted'}", file=sys.stderr)
            log = Path(folder) / "gunicorn.log"
            if log.exists() and isinstance(exc, RuntimeError):
                print(f"gunicorn log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise SystemExit(1) from None
        finally:
            processes.stop_all()


if __name__ == "__main__":
    main()
