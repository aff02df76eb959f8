"""Gunicorn settings for the `web` service: `gunicorn -c pulse/gunicorn.conf.py pulse.wsgi`.

Tunable from the environment like the Django settings: PORT (8000), WEB_CONCURRENCY
(2 x cores + 1), FORWARDED_ALLOW_IPS (loopback), LOG_LEVEL (INFO).
The access log goes to stdout through a logger that removes survey tokens from every field,
because a token in a request line or a Referer is an open door to someone's survey.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path
from typing import Any

from gunicorn.config import Config
from gunicorn.glogging import Logger


def _env_int(name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        # One line and exit 2, like a bad Django setting (pulse/startup.py), not a traceback.
        limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
        sys.stderr.write(f"pulse: configuration error: {name} must be an integer {limits}; got {raw!r}\n")
        sys.exit(2)
    return value


def _cores() -> int:
    # The CPUs this process may run on (a container's cpuset), not every core of the host.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Load the app from the project folder wherever gunicorn is started from; this also puts it on
# sys.path before the logger class below imports surveys.logging.
chdir = str(Path(__file__).resolve().parent.parent)
wsgi_app = "pulse.wsgi:application"

bind = [f"0.0.0.0:{_env_int('PORT', 8000, high=65535)}"]  # inside a container; compose publishes it on loopback
workers = _env_int("WEB_CONCURRENCY", 2 * _cores() + 1)
# Trust X-Forwarded-* only from the reverse proxy. docker-compose.yml sets "*" because there
# the web port is published on the host's loopback only, so the proxy is the only client.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# A worker silent for this long is killed and replaced rather than left hanging. One minute
# leaves room for the slowest legitimate request, an HR upload of a large org CSV; anything
# longer belongs in a command or a task. GUNICORN_CMD_ARGS="--timeout 120" overrides it.
timeout = 60
graceful_timeout = 30
keepalive = 5  # behind a proxy that reuses connections
# Heartbeat files on tmpfs: a container's /tmp may be an overlay that stalls under load.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's own advice

# No `gunicornc` control socket: nothing here uses it, and its default path under $HOME is
# shared by every gunicorn of one user (and not writable for the image's user).
control_socket_disable = True

loglevel = os.environ.get("LOG_LEVEL", "info").lower()
errorlog = "-"
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


def on_starting(server: Any) -> None:
    """In the master, before any worker: a bad setting stops gunicorn with one line (exit 2),
    instead of every worker failing to boot with a traceback. By now ``chdir`` has put the
    project on sys.path."""
    from pulse.startup import settings_or_exit

    settings_or_exit()


class RedactingLogger(Logger):
    """Gunicorn's logger with survey tokens removed from every access-log field and error line."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        # Imported here, not at the top: gunicorn reads this file before `chdir` puts the
        # project on sys.path. surveys.logging needs no Django, so this works before setup.
        from surveys.logging import RedactTokensFilter

        if not any(isinstance(f, RedactTokensFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactTokensFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> dict[str, Any]:
        from surveys.logging import redact

        atoms = super().atoms(resp, req, environ, request_time)
        # Every field, not only the request line: the Referer, RAW_URI and any header or
        # environ value a custom access_log_format names may carry the token too.
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = RedactingLogger
