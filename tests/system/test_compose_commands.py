"""docker-compose.yml is real: each app service's `command` runs here as a local process against
the test PostgreSQL and Redis, and answers as its container would (web serves /healthz, the
worker answers a Celery ping, beat starts, migrate exits 0). The compose file's own health
checks are run against them too. Static checks of the file and of .env.example need no services."""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from django.conf import settings

from tests.system.processes import free_port, url_of_the_test_database

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
T = TypeVar("T")


def compose_command(service: str) -> list[str]:
    return shlex.split(SERVICES[service]["command"])


def healthcheck_command(service: str) -> list[str]:
    kind, *rest = SERVICES[service]["healthcheck"]["test"]
    if kind == "CMD-SHELL":  # compose turns $$ into $, then a shell runs the line
        return ["sh", "-c", rest[0].replace("$$", "$")]
    assert kind == "CMD"
    return rest


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def service_env(transactional_db: None, tmp_path: Path) -> dict[str, str]:
    """What the compose .env would hold, pointed at the test database and this run's Redis.

    transactional_db: the test database exists and is migrated, and nothing this test does sits
    in an uncommitted transaction that the processes could not see. The processes started from
    this environment are stopped before it is torn down (fixture order)."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DATABASE_URL": url_of_the_test_database(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # this test process's seal key, so the worker can seal what the tests submit here
        "PULSE_SEAL_KEY": settings.PULSE_SEAL_KEY,
        "PULSE_SEAL_PUBLIC_KEY": settings.PULSE_SEAL_PUBLIC_KEY,
        "PULSE_HTTPS": "0",  # plain HTTP on loopback
        "PULSE_BASE_URL": "https://pulse.example.com",
        "ALLOWED_HOSTS": "pulse.example.com,127.0.0.1",
        "PULSE_DATA_DIR": str(tmp_path),
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",  # the machine has 2 cores shared with the rest of the suite
        # Docker sets HOSTNAME to the container's host name, which is also Celery's node name.
        "HOSTNAME": socket.gethostname(),
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (gunicorn's and Celery's children too), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with suppress(ProcessLookupError):  # a child that outlived its parent
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def start_service(service_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(name: str, *, cwd: Path = REPO, env: dict[str, str] | None = None) -> Service:
        log = tmp_path / f"{name}.log"
        # What the compose file withholds from a service (the web tier's seal key) is withheld here too.
        withheld = {k: v for k, v in SERVICES[name].get("environment", {}).items() if k.startswith("PULSE_SEAL")}
        env = {**(service_env if env is None else env), **withheld}
        with log.open("wb") as out:
            process = subprocess.Popen(
                compose_command(name),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches every child
            )
        started.append(Service(name, process, log))
        return started[-1]

    yield start
    for service in started:
        stop(service.process)


def wait_until(condition: Callable[[], T | None], *, service: Service, what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if service.process.poll() is not None:
            pytest.fail(f"{service.name} exited with {service.process.returncode} before {what}:\n{service.output()}")
        time.sleep(0.2)
    pytest.fail(f"{service.name}: no {what} within {timeout} s:\n{service.output()}")


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes] | None:
    try:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - always http://127.0.0.1
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:  # not listening yet
        return None


@pytest.mark.services
def test_migrate_command_exits_zero(service_env):
    result = subprocess.run(
        compose_command("migrate"), cwd=REPO, env=service_env, capture_output=True, text=True, timeout=180
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # it reached the test database, which pytest already migrated
    assert "No migrations to apply." in result.stdout


@pytest.mark.services
def test_web_command_serves_healthz_and_keeps_tokens_out_of_its_log(start_service, service_env):
    # given the web service's command
    web = start_service("web")
    base = f"http://127.0.0.1:{service_env['PORT']}"

    # when /healthz is asked
    status, body = wait_until(lambda: http_get(f"{base}/healthz"), service=web, what="answer on /healthz")

    # then both checks pass against the test database and Redis
    assert (status, json.loads(body)) == (200, {"status": "ok", "checks": {"database": "ok", "broker": "ok"}})
    # and the compose health check agrees
    check = subprocess.run(healthcheck_command("web"), cwd=REPO, env=service_env, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stderr

    # when a survey link is opened, coming from another survey page
    token = secrets.token_urlsafe(32)
    http_get(f"{base}/s/{token}/", headers={"Referer": f"https://pulse.example.com/s/{token}/"})

    # then the access log shows the request, with neither token
    wait_until(lambda: '"GET /s/[redacted]/ HTTP/1.1"' in web.output(), service=web, what="access-log line", timeout=10)
    log = web.output()
    assert '"https://pulse.example.com/s/[redacted]/"' in log
    assert token not in log


@pytest.mark.services
def test_worker_command_answers_a_celery_ping(start_service, service_env):
    from pulse.celery import app

    # given the worker service's command
    worker = start_service("worker")
    node = f"celery@{service_env['HOSTNAME']}"

    # when it is pinged through the broker
    replies = wait_until(
        lambda: app.control.ping(destination=[node], timeout=1.0), service=worker, what="reply to a Celery ping"
    )

    # then it answers
    assert replies == [{node: {"ok": "pong"}}]
    # and so does the compose health check, which pings it by its host name
    check = subprocess.run(healthcheck_command("worker"), cwd=REPO, env=service_env, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.services
def test_beat_command_starts_and_keeps_its_schedule_in_the_data_folder(start_service, tmp_path):
    # given the beat service's command
    beat = start_service("beat")

    # when it has started
    wait_until(lambda: "beat: Starting..." in beat.output(), service=beat, what="start-up line")

    # then it stays up (a beat that cannot load its app or its schedule dies in its first seconds)
    time.sleep(2)
    assert beat.process.poll() is None, beat.output()
    # and keeps its schedule where compose mounts a volume (PULSE_DATA_DIR)
    assert list(tmp_path.glob("celerybeat-schedule*")), beat.output()


def fresh_checkout(destination: Path) -> Path:
    """The project's files as a fresh clone has them (tracked, plus new files not ignored; no
    data/ folder, no virtualenv), copied from the working tree so that what is tested is what
    is about to be committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a deleted, not yet committed file is still listed
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (destination / "data").exists()
    return destination


@pytest.mark.services
def test_beat_starts_from_a_fresh_checkout_and_creates_its_data_folder(start_service, service_env, tmp_path):
    # given a fresh checkout, the services configured and PULSE_DATA_DIR left at its default
    # (data/ in the checkout, which does not exist yet)
    checkout = fresh_checkout(tmp_path / "checkout")
    env = {name: value for name, value in service_env.items() if name != "PULSE_DATA_DIR"}
    env["PULSE_DISPATCH_EVERY"] = "1"

    # when beat starts there
    beat = start_service("beat", cwd=checkout, env=env)

    # then it creates the folder, keeps its schedule in it, and hands out its periodic tasks
    wait_until(lambda: "beat: Starting..." in beat.output(), service=beat, what="start-up line")
    wait_until(lambda: "Sending due task dispatch-invitations" in beat.output(), service=beat, what="a dispatch tick")
    assert list((checkout / "data").glob("celerybeat-schedule*")), beat.output()
    assert beat.process.poll() is None
    assert "Traceback" not in beat.output()


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat"])
def test_a_data_folder_that_cannot_be_made_stops_each_service_with_one_line(service, tmp_path):
    # given PULSE_DATA_DIR where a file is in the way (no database or broker is needed to fail)
    in_the_way = tmp_path / "not-a-folder"
    in_the_way.write_text("")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PULSE_DATA_DIR": str(in_the_way / "data"),
        "PORT": str(free_port()),
    }

    # when the service's command starts
    result = subprocess.run(compose_command(service), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    # then it stops at once with one line naming the setting, and no traceback
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert output.splitlines()[-1] == (
        f"pulse: configuration error: PULSE_DATA_DIR '{in_the_way / 'data'}' can't be created: Not a directory"
    )
    assert "Traceback" not in output


# --- The compose file and .env.example, read statically -----------------------------------------


def test_redis_keeps_every_message():
    args = shlex.split(SERVICES["redis"]["command"])
    options = dict(zip(args[1::2], args[2::2], strict=True))

    assert args[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert SERVICES["redis"]["volumes"] == ["redis-data:/data"]


def test_app_services_start_after_healthy_services_and_migrations():
    healthy = {"condition": "service_healthy"}

    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "postgres": healthy,
            "redis": healthy,
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert SERVICES["migrate"]["depends_on"] == {"postgres": healthy, "redis": healthy}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("migrate", "web", "worker", "beat"):
        assert (SERVICES[name]["build"], SERVICES[name]["env_file"]) == (".", ".env"), name


def test_only_the_services_that_seal_get_the_seal_key():
    # The web tier encrypts with the public half; the worker (which seals closing waves) and the
    # one-shot commands keep the key from .env.
    assert {k: v for k, v in SERVICES["web"]["environment"].items() if k.startswith("PULSE_SEAL")} == {
        "PULSE_SEAL_KEY": "",
        "PULSE_SEAL_KEY_FALLBACKS": "",
    }
    for name in ("worker", "beat", "migrate"):
        assert "PULSE_SEAL_KEY" not in SERVICES[name].get("environment", {}), name


def test_workers_can_be_scaled_and_every_long_running_service_has_a_healthcheck():
    assert "container_name" not in SERVICES["worker"]
    assert "ports" not in SERVICES["worker"]
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert SERVICES["postgres"]["image"] == "postgres:15"
    assert SERVICES["redis"]["image"] == "redis:7"


def variables_read_by_settings() -> set[str]:
    """Every environment variable pulse/settings.py reads: env_*("NAME", ...) and os.environ."""
    tree = ast.parse((REPO / "pulse" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            reads_env = (isinstance(node.func, ast.Name) and node.func.id.startswith("env_")) or ast.unparse(
                node.func
            ) in {"os.environ.get", "os.getenv"}
            argument = node.args[0] if node.args else None
        elif isinstance(node, ast.Subscript):
            reads_env, argument = ast.unparse(node.value) == "os.environ", node.slice
        else:
            continue
        if reads_env and isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
    return names


def env_example() -> str:
    return (REPO / ".env.example").read_text()


def test_env_example_lists_every_setting():
    read = variables_read_by_settings()
    # commented lines count: they show the default of an optional setting
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_example(), flags=re.MULTILINE))

    assert {"PULSE_MIN_RESPONDENTS", "DATABASE_URL", "EMAIL_URL", "SECRET_KEY"} <= read  # the parser sees them
    assert read - listed == set()


def test_env_example_is_a_working_configuration_once_the_secret_key_is_set(tmp_path):
    values = dict(
        line.split("=", 1) for line in env_example().splitlines() if line and not line.startswith("#") and "=" in line
    )
    probe = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.PULSE_HTTPS, s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL, "
        "s.EMAIL_HOST, s.EMAIL_USE_TLS]))"
    )
    env = {"PATH": os.environ["PATH"], "PULSE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pulse.settings"}

    # as shipped, with the secret key left empty, Pulse refuses to start
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env={**env, **values}, capture_output=True, text=True
    )
    assert (refused.returncode, refused.stderr) == (
        2,
        "pulse: configuration error: SECRET_KEY must be set when DEBUG is off\n",
    )

    # with the keys, every other value in it parses, and points at the compose services
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    values["PULSE_SEAL_KEY"] = secrets.token_urlsafe(48)
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env={**env, **values}, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == [False, True, "postgres", "redis://redis:6379/0", "smtp.example.com", True]


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat"])
def test_a_data_folder_name_too_long_stops_each_service_with_one_line(service, tmp_path):
    too_long = tmp_path / ("d" * 300)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PULSE_DATA_DIR": str(too_long),
        "PORT": str(free_port()),
    }

    result = subprocess.run(compose_command(service), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert output.splitlines()[-1] == (
        f"pulse: configuration error: PULSE_DATA_DIR '{too_long}' can't be created: File name too long"
    )
    assert "Traceback" not in output


def test_a_relative_data_folder_is_the_same_folder_for_every_process(tmp_path):
    # gunicorn changes into the project folder, manage.py and Celery don't: a relative
    # PULSE_DATA_DIR must not split the embedded database between two folders
    probe = "from django.conf import settings; print(settings.DATA_DIR)"
    env = {"PATH": os.environ["PATH"], "PULSE_DATA_DIR": f"data-test-{secrets.token_hex(4)}"}
    env["DJANGO_SETTINGS_MODULE"] = "pulse.settings"
    try:
        seen = {
            subprocess.run(
                [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); {probe}"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.strip()
            for cwd in (REPO, tmp_path)
        }
        assert seen == {str(REPO / env["PULSE_DATA_DIR"])}
    finally:
        shutil.rmtree(REPO / env["PULSE_DATA_DIR"], ignore_errors=True)


@pytest.mark.parametrize("port", ["abc", "99999", "-1"])
def test_a_bad_gunicorn_setting_stops_web_with_one_line(tmp_path, port):
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PULSE_DATA_DIR": str(tmp_path)}

    result = subprocess.run(
        compose_command("web"), cwd=REPO, env={**env, "PORT": port}, capture_output=True, text=True, timeout=60
    )

    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2,
        f"pulse: configuration error: PORT must be an integer from 1 to 65535; got '{port}'",
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_beat_with_a_schedule_file_it_cannot_write_stops_with_one_line(tmp_path):
    schedule = tmp_path / "celerybeat-schedule.dat"
    schedule.write_bytes(b"")
    if subprocess.run(["chattr", "+i", str(schedule)], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +i (an immutable file) to make a file root can't write")
    try:
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "PULSE_DATA_DIR": str(tmp_path),
        }
        result = subprocess.run(compose_command("beat"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["chattr", "-i", str(schedule)], check=True)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"pulse: configuration error: beat's schedule file '{schedule}' (in PULSE_DATA_DIR) "
        "is not writable by this user"
    )
