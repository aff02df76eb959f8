"""Fan-out benchmark: a 20,000-person wave launched and sent through real Celery workers to an SMTP
sink, against plain ``smtplib`` sending as many comparable messages over one connection.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_fanout.py [--count 20000] [--rounds 2] [--concurrency 2]

It never touches your data: it creates (and drops) its own database ``pulse_bench_fanout`` on
the server DATABASE_URL points to; Celery tasks go through REDIS_URL's default queue, so point
it at a Redis database no other Pulse worker consumes. In one run it:

1. starts the SMTP sink (aiosmtpd in its own process, counting and discarding) and measures it
   alone: pre-built messages from a raw socket, one round trip per message;
2. migrates the fresh database, installs the question bank and imports a ``count``-person org
   (``org_import``);
3. starts a real worker, ``celery -A pulse worker -c CONCURRENCY`` with Pulse's settings
   (acks late, prefetch 1), its e-mail pointed at the sink;
4. alternates, ``rounds`` times each: *plain* — one ``smtplib`` connection sending ``count``
   messages built one by one with ``email.message.EmailMessage`` (text and HTML parts of the
   same length as Pulse's); *Pulse* — ``wave_launch(send_now=True)`` of the whole org, timed
   from the launch until the sink has accepted ``count`` more messages, while the worker's
   process tree is sampled for its resident memory;

and prints messages/s of each, the ratio Pulse / plain (median over the rounds) and the
worker's peak memory.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOST,
    ROOT,
    Processes,
    Sink,
    machine_note,
    progress,
    seal_key_env,
    service_env,
    services_required,
    sigterm_as_interrupt,
    throwaway_database,
    tree_rss,
)

# A plausible spread for a 20,000-person company: 40 zones on five continents, ten locales
# (Pulse speaks English and German; the others fall back to English). Each distinct
# (language, zone) renders its e-mail once per worker process.
ZONES = [
    "Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Madrid", "Europe/Warsaw", "Europe/Amsterdam",
    "Europe/Zurich", "Europe/Vienna", "Europe/Stockholm", "Europe/Lisbon", "Europe/Dublin", "Europe/Helsinki",
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
    "America/Sao_Paulo", "America/Mexico_City", "America/Bogota", "America/Argentina/Buenos_Aires",
    "Asia/Tokyo", "Asia/Singapore", "Asia/Kolkata", "Asia/Shanghai", "Asia/Seoul", "Asia/Dubai", "Asia/Manila",
    "Asia/Jakarta", "Asia/Ho_Chi_Minh", "Australia/Sydney", "Australia/Melbourne", "Australia/Perth",
    "Pacific/Auckland", "Africa/Johannesburg", "Africa/Lagos", "Africa/Nairobi", "Africa/Cairo",
    "Atlantic/Reykjavik", "UTC",
]  # fmt: skip
LOCALES = ["en", "en", "en", "de", "de", "fr", "es", "pt-br", "nl", "pl"]
FROM = "Pulse <pulse@localhost>"  # Pulse's default sender


# --- the org -------------------------------------------------------------------------------------


def org_import_bench(count: int) -> str:
    from surveys.org_import import org_csv_build, org_import

    rows = [
        {
            "email": f"person{n:06d}@bench.example",
            "name": f"Person Number{n}",
            "team": f"Bench/Division {n % 10}/Team {n % 200}",
            "timezone": ZONES[n % len(ZONES)],
            "locale": LOCALES[n % len(LOCALES)],
            "role": "employee",
        }
        for n in range(count)
    ]
    return org_import(data=org_csv_build(rows), progress=sys.stderr.isatty()).summary()


# --- the plain baseline --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What one Pulse invitation looks like, for messages of the same size and structure."""

    subject: str
    text: str
    html: str
    size: int  # bytes on the wire of a whole Pulse message


def pulse_shape() -> Shape:
    """Render one real invitation of the bench org with Pulse's own code and keep its parts."""
    from surveys import emails
    from surveys.models import Employee, Invitation, Survey, Wave

    employee = Employee.objects.select_related("team").order_by("pk").first()
    survey = Survey.objects.get(slug="pulse")
    from django.utils import timezone

    wave = Wave(survey=survey, opens_on=timezone.now().date(), closes_at=timezone.now(), min_respondents=5)
    invitation = Invitation(wave=wave, employee=employee, team=employee.team)
    message = emails.invitation_email(invitation=invitation, token="x" * 43)
    html = message.alternatives[0][0]
    return Shape(subject=message.subject, text=message.body, html=html, size=len(message.message().as_bytes()))


def plain_message(shape: Shape, n: int) -> EmailMessage:
    """Built from scratch for each recipient, as a script without Pulse would."""
    name, token = f"Person Number{n}", f"{n:043d}"
    message = EmailMessage()
    message["Subject"] = shape.subject
    message["From"] = FROM
    message["To"] = f"person{n:06d}@bench.example"
    message["Date"] = format_datetime(datetime_now())
    message["Message-ID"] = make_msgid(domain="bench.example")
    message["X-Pulse-Wave"] = "1"
    message.set_content(shape.text.replace("Person Number0", name).replace("x" * 43, token))
    message.add_alternative(shape.html.replace("Person Number0", name).replace("x" * 43, token), subtype="html")
    return message


def datetime_now() -> datetime:
    return datetime.now(UTC)


def plain_send(*, port: int, shape: Shape, count: int) -> float:
    """Seconds to send ``count`` messages over one smtplib connection (each accepted with 250)."""
    start = time.perf_counter()
    with smtplib.SMTP(HOST, port) as smtp:
        for n in progress(range(count), desc="plain smtplib", unit="msg"):
            smtp.send_message(plain_message(shape, n))
    return time.perf_counter() - start


def prebuilt_send(*, port: int, shape: Shape, count: int) -> float:
    """Seconds for smtplib alone: the same messages built beforehand, only the SMTP dialogue timed."""
    messages = [plain_message(shape, n).as_bytes(policy=SMTP_POLICY) for n in range(count)]
    start = time.perf_counter()
    with smtplib.SMTP(HOST, port) as smtp:
        for message in progress(messages, desc="smtplib, pre-built", unit="msg"):
            smtp.sendmail(FROM, ["person@bench.example"], message)
    return time.perf_counter() - start


def plain_size(shape: Shape) -> int:
    return len(plain_message(shape, 12345).as_bytes())


# --- the sink alone ------------------------------------------------------------------------------


def sink_alone(*, port: int, shape: Shape, count: int) -> float:
    """Messages/s the sink takes from a client that does nothing but write pre-built bytes.

    Each message is one write of the whole transaction (MAIL, RCPT, DATA, body) and a read of
    its four replies: one round trip, no building, no parsing on the client.
    """
    body = plain_message(shape, 1).as_bytes(policy=SMTP_POLICY)
    transaction = b"MAIL FROM:<pulse@bench.example>\r\nRCPT TO:<person@bench.example>\r\nDATA\r\n" + body + b"\r\n.\r\n"
    with socket.create_connection((HOST, port)) as sock:
        reader = sock.makefile("rb")
        reader.readline()  # greeting
        sock.sendall(b"EHLO bench\r\n")
        while reader.readline()[3:4] == b"-":
            pass
        start = time.perf_counter()
        for _ in range(count):
            sock.sendall(transaction)
            for _ in range(4):  # 250 sender, 250 recipient, 354 go ahead, 250 accepted
                line = reader.readline()
                if not line.startswith((b"250", b"354")):
                    raise RuntimeError(f"the sink answered {line!r}")
        seconds = time.perf_counter() - start
        sock.sendall(b"QUIT\r\n")
    return count / seconds


# --- the Pulse side ------------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """Samples the resident memory of a process tree every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, tree_rss(self.pid))
        return self.peak


def worker_start(processes: Processes, *, env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    proc = processes.start(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "pulse",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--hostname=bench-fanout-{os.getpid()}@%h",
        ],
        env=env,
        log=handle,
    )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def pulse_round(*, sink: Sink, worker: subprocess.Popen, count: int) -> tuple[float, float, int]:
    """(seconds from launch to the sink holding ``count`` more messages, of which launching, peak RSS)."""
    from surveys.models import Invitation, Survey
    from surveys.waves import wave_launch

    survey = Survey.objects.get(slug="pulse")
    before = sink.count()
    sampler = MemorySampler(worker.pid)
    sampler.start()
    start = time.perf_counter()
    wave = wave_launch(survey=survey, send_now=True)
    launched = time.perf_counter() - start
    bar = progress(total=count, desc="Pulse", unit="msg")
    last = 0
    while True:
        done = sink.count() - before
        bar.update(done - last)
        last = done
        if done >= count:
            break
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; the sink has {done:,} of {count:,}")
        if time.perf_counter() - start > 20 * 60:
            raise RuntimeError(f"the sink accepted {done:,} of {count:,} Pulse messages in 20 minutes")
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    bar.close()
    peak = sampler.stop()
    # The last group is marked sent just after its messages are accepted.
    deadline = time.monotonic() + 30
    while (sent := Invitation.objects.filter(wave=wave, status=Invitation.SendStatus.SENT).count()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sink has {count:,} messages but only {sent:,} invitations are marked sent")
        time.sleep(0.1)
    if sink.count() - before != count:
        raise RuntimeError(f"the sink accepted {sink.count() - before:,} messages for {count:,} invitations")
    return seconds, launched, peak


def queue_drain(redis_url: str, *, timeout: float = 60.0) -> None:
    """Let the worker take the batch tasks still queued (they find nothing due) before it stops.

    Dispatch enqueues up to 50 batch tasks per wave and every full batch its successor, so a
    few surplus tasks are queued when the last message is out. Left in Redis, they would be
    picked up by whichever worker next reads that queue.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while client.llen("celery") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        client.close()


# --- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, processes: Processes, env: dict[str, str], log: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from surveys.question_bank import question_bank_install

    count = args.count
    print(f"machine: {machine_note()}")
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    question_bank_install()
    print(f"org: {org_import_bench(count)} ({time.perf_counter() - start:.1f} s with migrations)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"database: PostgreSQL {cursor.fetchone()[0]}, {connection.settings_dict['NAME']} (throwaway)")

    sink = Sink(processes, env=env)
    shape = pulse_shape()
    print(f"messages: multipart/alternative text + HTML; Pulse {shape.size:,} bytes, plain {plain_size(shape):,} bytes")
    alone = sink_alone(port=sink.port, shape=shape, count=count)
    print(f"sink alone (pre-built bytes, one connection): {alone:,.0f} messages/s")

    env = env | {"EMAIL_URL": f"smtp://{HOST}:{sink.port}"}
    worker = worker_start(processes, env=env, concurrency=args.concurrency, log=log)
    print(f"worker: celery -A pulse worker --concurrency={args.concurrency} (prefork, acks late, prefetch 1)")
    idle = tree_rss(worker.pid)

    plain_rates, pulse_rates, ratios, peaks = [], [], [], []
    for round_ in range(1, args.rounds + 1):
        seconds = plain_send(port=sink.port, shape=shape, count=count)
        plain_rates.append(count / seconds)
        print(f"round {round_}  plain smtplib: {seconds:6.2f} s {count / seconds:8,.0f} messages/s")
        seconds, launched, peak = pulse_round(sink=sink, worker=worker, count=count)
        pulse_rates.append(count / seconds)
        peaks.append(peak)
        ratios.append(pulse_rates[-1] / plain_rates[-1])
        print(
            f"round {round_}  Pulse:         {seconds:6.2f} s {count / seconds:8,.0f} messages/s "
            f"(launch {launched:.2f} s)  ratio {ratios[-1]:.2f}  worker peak RSS {peak / 2**20:,.0f} MB"
        )
    queue_drain(env["REDIS_URL"])
    seconds = prebuilt_send(port=sink.port, shape=shape, count=count)
    print(
        f"reference: smtplib alone (messages built beforehand, not timed): {count / seconds:,.0f} messages/s; "
        f"Pulse / that: {statistics.median(pulse_rates) / (count / seconds):.2f}"
    )
    print(
        f"median: plain {statistics.median(plain_rates):,.0f}/s, Pulse {statistics.median(pulse_rates):,.0f}/s, "
        f"ratio {statistics.median(ratios):.2f} (goal >= 0.8)"
    )
    print(f"worker RSS (main process + {args.concurrency} pool processes): idle {idle / 2**20:,.0f} MB, "
          f"peak {max(peaks) / 2**20:,.0f} MB")  # fmt: skip
    print(f"load average after: {machine_note().rsplit('load average ', 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="invitations / messages per side (20,000)")
    parser.add_argument("--rounds", type=int, default=2, help="plain, Pulse, plain, Pulse, ... (2 each)")
    parser.add_argument(
        "--concurrency", type=int, default=len(os.sched_getaffinity(0)), help="worker processes (cores)"
    )
    parser.add_argument("--keep-log", action="store_true", help="keep the worker's log and print its path")
    args = parser.parse_args()
    database_url, redis_url = services_required()

    log = Path(tempfile.mkstemp(prefix="pulse-bench-fanout-", suffix=".log")[1])
    with sigterm_as_interrupt(), throwaway_database(database_url, "fanout") as bench_url, Processes() as processes:
        env = service_env(database_url=bench_url, redis_url=redis_url) | seal_key_env()[0]
        os.environ.clear()
        os.environ.update(env)
        try:
            run(args, processes, env, log)
        except (RuntimeError, KeyboardInterrupt) as exc:
            print(f"stopped: {str(exc) or 'interrupted'}", file=sys.stderr)
            if log.exists() and isinstance(exc, RuntimeError):
                print(f"worker log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise SystemExit(1) from None
        finally:
            processes.stop_all()
            if args.keep_log:
                print(f"worker log: {log}")
            else:
                log.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
