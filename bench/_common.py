"""Shared helpers of the service benchmarks (fan-out, answer intake).

- ``services_required()``: both benches need PostgreSQL and Redis; exit with a clear message otherwise.
- ``throwaway_database(name)``: a fresh ``pulse_bench_<name>`` on the server DATABASE_URL points
  to, dropped afterwards whatever happens; the user's own database is never opened.
- ``seal_key_env()``: a seal key of the run's own, for a process that seals and for a web server
  that only encrypts (with DEBUG off, Pulse's settings require one or the other).
- ``Processes``: children started in their own process groups (so a worker's pool goes with
  it), stopped on exit, on failure and on Ctrl-C.
- ``free_port()``, ``machine_note()``, ``progress()``.
- ``python bench/_common.py gunicorn ARGS``: gunicorn as configured by ARGS, without an access log.
- The SMTP sink: ``python bench/_common.py sink --port P --status-port S`` runs an aiosmtpd server
  that accepts and counts messages and discards them; ``sink_count(status_port)`` reads the count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
HOST = "127.0.0.1"


# --- environment -------------------------------------------------------------------------------


def services_required() -> tuple[str, str]:
    """(DATABASE_URL, REDIS_URL), or exit: these benches measure Pulse on its production services."""
    database_url = os.environ.get("DATABASE_URL", "").strip()
    redis_url = os.environ.get("REDIS_URL", "").strip()
    missing = [
        name
        for name, value, schemes in (
            ("DATABASE_URL", database_url, ("postgres", "postgresql", "pgsql")),
            ("REDIS_URL", redis_url, ("redis", "rediss", "unix")),
        )
        if urlsplit(value).scheme not in schemes
    ]
    if missing:
        sys.exit(
            f"{Path(sys.argv[0]).name} needs PostgreSQL and Redis: set {' and '.join(missing)}, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 "
            f".venv/bin/python bench/{Path(sys.argv[0]).name}\n"
            "(the bench creates and drops its own database on that server; REDIS_URL should be a Redis "
            "database nothing else consumes Celery tasks from)"
        )
    return database_url, redis_url


def service_env(*, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of the bench and of every server or worker it starts: production-like.

    DEBUG off (with it on, Django records every query), a key of the run's own (so that the
    bench computes the same survey tokens as the servers), plain HTTP on loopback.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "pulse.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PULSE_HTTPS": "0",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("EMAIL_URL", "EMAIL_HOST", "PULSE_TOKEN_KEY", "PULSE_BASE_URL", "ALLOWED_HOSTS"):
        env.pop(name, None)
    return env


def seal_key_env() -> tuple[dict[str, str], dict[str, str]]:
    """A fresh seal key for the run: (environment of a process that seals, of a web server).

    The first holds the secret (``PULSE_SEAL_KEY``), the second only its public half
    (``PULSE_SEAL_PUBLIC_KEY``), as the web tier is deployed; boxes sealed by either open
    with the first. Add them to ``service_env()``'s environment.
    """
    from surveys.crypto import private_key_derive, public_key_text

    secret = secrets.token_urlsafe(32)
    public = public_key_text(private_key_derive(secret).public_key)
    keys = ("PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY", "PULSE_SEAL_KEY_FALLBACKS")
    unset = dict.fromkeys(keys, "")  # the settings read an empty value as unset
    return unset | {"PULSE_SEAL_KEY": secret}, unset | {"PULSE_SEAL_PUBLIC_KEY": public}


def progress(iterable: Any = None, **kwargs: Any) -> Any:
    """tqdm on a terminal, nothing otherwise (logs and CI stay quiet)."""
    from tqdm import tqdm

    return tqdm(iterable, disable=not sys.stderr.isatty(), leave=False, **kwargs)


def machine_note() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.node()}, {cores} cores, Python {platform.python_version()}, load average {load}"


def load_average() -> float:
    return os.getloadavg()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_wait(port: int, *, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


# --- a throwaway database ----------------------------------------------------------------------


def _admin_conninfo(base_url: str) -> str:
    parts = urlsplit(base_url)
    # Connect to the maintenance database, never to the one the URL names (it may be the user's).
    return urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))


def _admin(base_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_admin_conninfo(base_url), autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def throwaway_database(base_url: str, name: str) -> Iterator[str]:
    """Yield the URL of a fresh database ``pulse_bench_<name>``, dropped on the way out."""
    database = f"pulse_bench_{name}"
    _admin(base_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    _admin(base_url, f"CREATE DATABASE {database}")
    parts = urlsplit(base_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        _admin(base_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


# --- child processes ---------------------------------------------------------------------------


class Processes:
    """Children in their own process groups; ``stop_all`` ends each group (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []

    def start(
        self, args: Sequence[str], *, env: dict[str, str], log: IO[Any] | int = subprocess.DEVNULL
    ) -> subprocess.Popen:
        proc = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: Ctrl-C reaches the bench, which ends it in order
        )
        self._children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, *, timeout: float = 20.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # The group may outlive its leader (a pool child); make sure nothing of it is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self._children:
            self._children.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self._children)):
            self.stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM to the bench unwinds like Ctrl-C, so the cleanup in ``finally`` runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


# --- the SMTP sink -----------------------------------------------------------------------------


class _CountingHandler:
    """Accept every message and keep nothing but the count: the sink must not be the bottleneck."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        return "250 OK"


def sink_serve(port: int, status_port: int) -> None:
    """Run the sink until SIGTERM: SMTP on ``port``; ``status_port`` answers the count and closes."""
    from aiosmtpd.smtp import SMTP

    handler = _CountingHandler()

    async def status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{handler.accepted}\n".encode())
        await writer.drain()
        writer.close()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        # decode_data=False: the message stays bytes, nothing is parsed or decoded.
        smtp = await loop.create_server(
            lambda: SMTP(handler, decode_data=False, hostname="sink", ident="sink", data_size_limit=None), HOST, port
        )
        counter = await asyncio.start_server(status, HOST, status_port)
        async with smtp, counter:
            await stop

    asyncio.run(serve())


def sink_count(status_port: int) -> int:
    with socket.create_connection((HOST, status_port), timeout=5) as sock:
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
    return int(data)


class Sink:
    """The sink as a child process."""

    def __init__(self, processes: Processes, *, env: dict[str, str]) -> None:
        self.port, self.status_port = free_port(), free_port()
        self.proc = processes.start(
            [PYTHON, __file__, "sink", "--port", str(self.port), "--status-port", str(self.status_port)], env=env
        )
        port_wait(self.port, proc=self.proc)
        port_wait(self.status_port, proc=self.proc)

    def count(self) -> int:
        return sink_count(self.status_port)


# --- gunicorn without an access log --------------------------------------------------------------


def gunicorn_serve(argv: list[str]) -> None:
    """``gunicorn ARGV`` with the access log switched off entirely.

    ``--access-logfile /dev/null`` would still format (and redact) a line per request;
    leaving it unset is the only way to turn pulse/gunicorn.conf.py's ``accesslog = "-"`` off.
    Every other setting comes from the config file and ARGV, as for ``gunicorn`` itself.
    """
    from gunicorn.app.wsgiapp import WSGIApplication

    class Server(WSGIApplication):
        def load_config(self) -> None:
            super().load_config()
            self.cfg.set("accesslog", None)

    sys.argv = ["gunicorn", *argv]
    Server("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn").run()


def gunicorn_command(*, port: int, workers: int, threads: int = 0) -> list[str]:
    """The command both intake servers run: Pulse's gunicorn settings, a fixed worker count, no access log.

    ``threads`` > 0: gthread workers with that many threads each; otherwise sync workers.
    """
    config = str(ROOT / "pulse" / "gunicorn.conf.py")
    command = [PYTHON, __file__, "gunicorn", "-c", config, f"--workers={workers}", f"--bind={HOST}:{port}"]
    if threads:
        command += ["--worker-class=gthread", f"--threads={threads}"]
    return command


def main() -> None:
    if sys.argv[1:2] == ["gunicorn"]:
        gunicorn_serve(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description="bench helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    sink = sub.add_parser("sink", help="run the counting SMTP sink")
    sink.add_argument("--port", type=int, required=True)
    sink.add_argument("--status-port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "sink":
        sink_serve(args.port, args.status_port)


if __name__ == "__main__":
    main()
