"""Settings validation: each case loads pulse/settings.py in a fresh process with a controlled
environment, because settings are read once at start-up and a bad value must stop it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from surveys import crypto

REPO = Path(__file__).resolve().parent.parent

# Loads the settings (and nothing else: no apps, no database) and prints the named ones.
PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
from django.conf import settings
print(json.dumps({name: getattr(settings, name, None) for name in sys.argv[1:]}, default=str))
"""

SECRET = secrets.token_urlsafe(50)
SEAL_KEY = secrets.token_urlsafe(48)
SEAL_PUBLIC_KEY = crypto.public_key_text(crypto.private_key_derive(SEAL_KEY).public_key)


def _environment(tmp_path: Path, variables: dict[str, str]) -> dict[str, str]:
    # Only what the test sets: nothing from the developer's or CI's environment leaks in.
    return {"PATH": os.environ["PATH"], "PULSE_DATA_DIR": str(tmp_path), **variables}


def start_up(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=REPO,
        env=_environment(tmp_path, variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_settings(tmp_path: Path, names: list[str], **variables: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=REPO,
        env=_environment(tmp_path, variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param(
            {"PULSE_MIN_RESPONDENTS": "2"},
            "PULSE_MIN_RESPONDENTS must be at least 3 (an anonymity threshold below 3 exposes individual answers); "
            "got 2",
            id="min-respondents-below-3",
        ),
        pytest.param(
            {"PULSE_MIN_RESPONDENTS": "abc"},
            "PULSE_MIN_RESPONDENTS must be an integer; got 'abc'",
            id="min-respondents-not-a-number",
        ),
        pytest.param(
            {"PULSE_MIN_RESPONDENTS": "6", "PULSE_MIN_COMMENT_RESPONDENTS": "5"},
            "PULSE_MIN_COMMENT_RESPONDENTS must be at least PULSE_MIN_RESPONDENTS (5 < 6)",
            id="comment-threshold-below-min-respondents",
        ),
        pytest.param(
            {"DEBUG": "maybe"},
            "DEBUG must be a boolean (1/0, true/false, yes/no, on/off); got 'maybe'",
            id="debug-not-a-boolean",
        ),
        pytest.param({"DEBUG": "0"}, "SECRET_KEY must be set when DEBUG is off", id="no-secret-key-without-debug"),
        pytest.param(
            {"DEBUG": "0", "SECRET_KEY": SECRET},
            "PULSE_SEAL_KEY must be set when DEBUG is off: any secret of at least 32 characters, e.g. from "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' (on a web server that never seals "
            "a wave, its public half PULSE_SEAL_PUBLIC_KEY is enough)",
            id="no-seal-key-without-debug",
        ),
        pytest.param(
            {"PULSE_SEAL_KEY": "too-short"},
            "PULSE_SEAL_KEY must be at least 32 characters long (got 9)",
            id="seal-key-too-short",
        ),
        pytest.param(
            {"PULSE_SEAL_KEY": SEAL_KEY, "PULSE_SEAL_KEY_FALLBACKS": "short"},
            "PULSE_SEAL_KEY_FALLBACKS must be at least 32 characters long (got 5)",
            id="seal-key-fallback-too-short",
        ),
        pytest.param(
            {"PULSE_SEAL_PUBLIC_KEY": "not base64!"},
            "PULSE_SEAL_PUBLIC_KEY is not URL-safe base64",
            id="seal-public-key-not-base64",
        ),
        pytest.param(
            {"PULSE_SEAL_PUBLIC_KEY": "AAAA"},
            "PULSE_SEAL_PUBLIC_KEY must be 32 bytes in base64 (got 3)",
            id="seal-public-key-wrong-length",
        ),
        pytest.param(
            {
                "PULSE_SEAL_KEY": SEAL_KEY,
                "PULSE_SEAL_PUBLIC_KEY": crypto.public_key_text(crypto.PrivateKey.generate().public_key),
            },
            "PULSE_SEAL_PUBLIC_KEY is not the public half of PULSE_SEAL_KEY "
            "(python manage.py seal_key --public prints the right one)",
            id="seal-public-key-of-another-key",
        ),
        pytest.param(
            {"DATABASE_URL": "ftp://x"},
            "DATABASE_URL must be a URL starting with postgres:// or postgresql:// or pgsql:// or postgis:// or "
            "sqlite:// or mysql://; got 'ftp://x'",
            id="database-url-scheme",
        ),
        pytest.param(
            {"DATABASE_URL": "ftp://pulse:hunter2@db.example.com/pulse"},
            "DATABASE_URL must be a URL starting with postgres:// or postgresql:// or pgsql:// or postgis:// or "
            "sqlite:// or mysql://; got 'ftp://pulse:***@db.example.com/pulse'",
            id="database-url-password-not-echoed",
        ),
        pytest.param(
            {"DATABASE_URL": "postgres://pulse@127.0.0.1:abc/pulse"},
            "DATABASE_URL has a bad port: Port could not be cast to integer value as 'abc'",
            id="database-url-port-not-a-number",
        ),
        pytest.param(
            {"DATABASE_URL": "postgres://pulse@127.0.0.1:99999/pulse"},
            "DATABASE_URL has a bad port: Port out of range 0-65535",
            id="database-url-port-out-of-range",
        ),
        pytest.param(
            {"DATABASE_URL": "postgres://pulse:hunter2@[::1/pulse"},
            "DATABASE_URL is not a valid URL (Invalid IPv6 URL); got 'postgres://pulse:***@[::1/pulse'",
            id="database-url-broken-ipv6",
        ),
        pytest.param(
            {"REDIS_URL": "http://x"},
            "REDIS_URL must be a URL starting with redis:// or rediss:// or unix://; got 'http://x'",
            id="redis-url-scheme",
        ),
        pytest.param(
            {"EMAIL_URL": "gopher://pulse:hunter2@mail.example.com"},
            "EMAIL_URL must start with one of smtp://, submission://, submit://, smtps://, console://, file://, "
            "memory://, dummy://; got 'gopher://pulse:***@mail.example.com'",
            id="email-url-scheme",
        ),
        pytest.param(
            {"EMAIL_URL": "smtp://mail.example.com:abc"},
            "EMAIL_URL is not a valid e-mail URL: Port could not be cast to integer value as 'abc'",
            id="email-url-port",
        ),
        pytest.param(
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": "twenty-five"},
            "EMAIL_PORT must be an integer; got 'twenty-five'",
            id="email-port-not-a-number",
        ),
        pytest.param(
            {"EMAIL_HOST": "mail.example.com", "EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"},
            "EMAIL_USE_TLS (STARTTLS, port 587) and EMAIL_USE_SSL (port 465) exclude each other",
            id="email-tls-and-ssl",
        ),
        pytest.param(
            {"PULSE_BASE_URL": "pulse.example.com"},
            "PULSE_BASE_URL must be a URL starting with http:// or https://; got 'pulse.example.com'",
            id="base-url-without-scheme",
        ),
        pytest.param(
            {"PULSE_TREND_FALSE_ALARM_RATE": "0"},
            "PULSE_TREND_FALSE_ALARM_RATE must be between 0 and 0.5 (exclusive); got 0",
            id="trend-false-alarm-rate-zero",
        ),
        pytest.param(
            {"PULSE_TREND_FALSE_ALARM_RATE": "0.5"},
            "PULSE_TREND_FALSE_ALARM_RATE must be between 0 and 0.5 (exclusive); got 0.5",
            id="trend-false-alarm-rate-half",
        ),
        pytest.param(
            {"PULSE_TREND_FALSE_ALARM_RATE": "1%"},
            "PULSE_TREND_FALSE_ALARM_RATE must be a number; got '1%'",
            id="trend-false-alarm-rate-not-a-number",
        ),
        pytest.param(
            {"LOG_LEVEL": "LOUD"},
            "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'LOUD'",
            id="log-level",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(tmp_path, variables, message):
    # when
    result = start_up(tmp_path, **variables)

    # then: no traceback, one line naming the variable and the reason, exit code 2
    assert (result.returncode, result.stderr, result.stdout) == (2, f"pulse: configuration error: {message}\n", "")


def test_anonymity_thresholds_accept_the_lowest_safe_values(tmp_path):
    loaded = load_settings(
        tmp_path,
        ["PULSE_MIN_RESPONDENTS", "PULSE_MIN_COMMENT_RESPONDENTS"],
        PULSE_MIN_RESPONDENTS="3",
        PULSE_MIN_COMMENT_RESPONDENTS="3",
    )

    assert loaded == {"PULSE_MIN_RESPONDENTS": 3, "PULSE_MIN_COMMENT_RESPONDENTS": 3}


def test_trend_false_alarm_rate_default_and_override(tmp_path):
    assert load_settings(tmp_path, ["PULSE_TREND_FALSE_ALARM_RATE"]) == {"PULSE_TREND_FALSE_ALARM_RATE": 0.01}
    loaded = load_settings(tmp_path, ["PULSE_TREND_FALSE_ALARM_RATE"], PULSE_TREND_FALSE_ALARM_RATE="0.05")
    assert loaded == {"PULSE_TREND_FALSE_ALARM_RATE": 0.05}


def test_embedded_default_with_nothing_set(tmp_path):
    # when nothing at all is configured
    names = [
        "DEBUG",
        "DATABASES",
        "CACHES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "CELERY_BEAT_SCHEDULE_FILENAME",
        "EMAIL_BACKEND",
        "EMAIL_FILE_PATH",
        "PULSE_MIN_RESPONDENTS",
        "PULSE_MIN_COMMENT_RESPONDENTS",
        "PULSE_HTTPS",
        "SECURE_SSL_REDIRECT",
        "SECRET_KEY",
        "PULSE_TOKEN_KEY",
    ]
    first = load_settings(tmp_path, names)

    # then SQLite, eager Celery and mail files, all inside the data folder
    assert first["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert first["DATABASES"]["default"]["NAME"] == str(tmp_path / "pulse.sqlite3")
    assert first["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert (first["CELERY_BROKER_URL"], first["CELERY_TASK_ALWAYS_EAGER"]) == ("memory://localhost/", True)
    assert first["CELERY_BEAT_SCHEDULE_FILENAME"] == str(tmp_path / "celerybeat-schedule")
    assert first["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert first["EMAIL_FILE_PATH"] == str(tmp_path / "mail")
    assert (first["PULSE_MIN_RESPONDENTS"], first["PULSE_MIN_COMMENT_RESPONDENTS"]) == (5, 10)
    # a developer's machine: debug on, so no HTTPS redirect on 127.0.0.1
    assert (first["DEBUG"], first["PULSE_HTTPS"], first["SECURE_SSL_REDIRECT"]) == (True, False, False)
    # the development secret key is generated once, private, and shared by every process
    key_file = tmp_path / "secret_key"
    assert key_file.read_text() == first["SECRET_KEY"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    second = load_settings(tmp_path, ["SECRET_KEY", "PULSE_TOKEN_KEY"])
    assert second == {"SECRET_KEY": first["SECRET_KEY"], "PULSE_TOKEN_KEY": first["PULSE_TOKEN_KEY"]}
    assert len(first["PULSE_TOKEN_KEY"]) == 64  # derived from SECRET_KEY, never equal to it


def test_database_and_redis_urls_switch_to_the_real_services(tmp_path):
    loaded = load_settings(
        tmp_path,
        ["DATABASES", "CACHES", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"],
        DATABASE_URL="postgres://pulse:s3cret@db.example.com:5433/pulse",
        REDIS_URL="redis://cache.example.com:6379/2",
    )

    database = loaded["DATABASES"]["default"]
    assert {key: database[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pulse",
        "USER": "pulse",
        "PASSWORD": "s3cret",
        "HOST": "db.example.com",
        "PORT": 5433,
    }
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (60, True)
    assert loaded["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["CACHES"]["default"]["LOCATION"] == "redis://cache.example.com:6379/2"
    assert (loaded["CELERY_BROKER_URL"], loaded["CELERY_TASK_ALWAYS_EAGER"]) == (
        "redis://cache.example.com:6379/2",
        False,
    )


EMAIL_NAMES = [
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
]
SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("email_url", "expected"),
    [
        pytest.param(
            "smtp://pulse%40example.com:p%40ss@mail.example.com:587/?tls=True",
            [SMTP, "mail.example.com", 587, "pulse@example.com", "p@ss", True, False],
            id="smtp-starttls",
        ),
        pytest.param(
            "smtp://relay.example.com:465/?ssl=True",
            [SMTP, "relay.example.com", 465, None, None, False, True],
            id="smtp-implicit-tls",
        ),
        pytest.param(
            "submission://pulse:secret@mail.example.com",
            [SMTP, "mail.example.com", 587, "pulse", "secret", True, False],
            id="submission-defaults",
        ),
    ],
)
def test_email_url_configures_smtp(tmp_path, email_url, expected):
    loaded = load_settings(tmp_path, EMAIL_NAMES, EMAIL_URL=email_url)

    assert loaded == dict(zip(EMAIL_NAMES, expected, strict=True))


def test_email_host_family_configures_smtp(tmp_path):
    loaded = load_settings(
        tmp_path,
        EMAIL_NAMES,
        EMAIL_HOST="mail.example.com",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="pulse@example.com",
        EMAIL_HOST_PASSWORD="secret",
        EMAIL_USE_TLS="yes",
    )

    assert loaded == dict(
        zip(EMAIL_NAMES, [SMTP, "mail.example.com", 2525, "pulse@example.com", "secret", True, False], strict=True)
    )


HTTPS_NAMES = [
    "PULSE_HTTPS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REDIRECT_EXEMPT",
]


def test_https_is_on_by_default_when_debug_is_off(tmp_path):
    loaded = load_settings(tmp_path, HTTPS_NAMES, DEBUG="0", SECRET_KEY=SECRET, PULSE_SEAL_KEY=SEAL_KEY)

    assert loaded == {
        "PULSE_HTTPS": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REDIRECT_EXEMPT": ["^healthz/?$"],
    }


def test_https_can_be_turned_off_for_plain_http_on_loopback(tmp_path):
    loaded = load_settings(
        tmp_path, HTTPS_NAMES, DEBUG="0", SECRET_KEY=SECRET, PULSE_SEAL_KEY=SEAL_KEY, PULSE_HTTPS="0"
    )

    # Django's own defaults: no redirect, no HSTS, cookies allowed over HTTP
    assert loaded == {
        "PULSE_HTTPS": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_REDIRECT_EXEMPT": [],
    }


def test_a_production_configuration_passes_djangos_deployment_checks(tmp_path):
    # when the settings a compose deployment uses are checked with --deploy
    result = start_up(
        tmp_path,
        "check",
        "--deploy",
        DEBUG="False",
        SECRET_KEY=SECRET,
        PULSE_SEAL_KEY=SEAL_KEY,
        PULSE_BASE_URL="https://pulse.example.com",
    )

    # then the only remark is HSTS preload, which is the operator's commitment to make, not ours
    assert result.returncode == 0, result.stderr
    assert "(security.W021)" in result.stderr
    assert "System check identified 1 issue (0 silenced)." in result.stderr


def test_allowed_hosts_default_to_the_base_url_host_and_loopback(tmp_path):
    loaded = load_settings(
        tmp_path,
        ["PULSE_BASE_URL", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"],
        PULSE_BASE_URL="https://pulse.example.com/",
    )

    assert loaded == {
        "PULSE_BASE_URL": "https://pulse.example.com",
        "ALLOWED_HOSTS": ["127.0.0.1", "[::1]", "localhost", "pulse.example.com"],
        "CSRF_TRUSTED_ORIGINS": ["https://pulse.example.com"],
    }


def test_allowed_hosts_can_be_listed(tmp_path):
    loaded = load_settings(tmp_path, ["ALLOWED_HOSTS"], ALLOWED_HOSTS=" a.example.com , b.example.com,")

    assert loaded == {"ALLOWED_HOSTS": ["a.example.com", "b.example.com"]}


def test_time_is_utc_whatever_the_machine_zone(tmp_path):
    loaded = load_settings(tmp_path, ["TIME_ZONE", "USE_TZ", "CELERY_TIMEZONE"], TZ="America/New_York")

    assert loaded == {"TIME_ZONE": "UTC", "USE_TZ": True, "CELERY_TIMEZONE": "UTC"}


def test_log_level_is_case_insensitive(tmp_path):
    loaded = load_settings(tmp_path, ["LOG_LEVEL", "LOGGING"], LOG_LEVEL="warning")

    assert (loaded["LOG_LEVEL"], loaded["LOGGING"]["root"]["level"]) == ("WARNING", "WARNING")


def test_beat_ticks_every_minute_for_dispatch_and_every_five_for_housekeeping_by_default(tmp_path):
    loaded = load_settings(tmp_path, ["CELERY_BEAT_SCHEDULE"])

    assert {name: entry["schedule"] for name, entry in loaded["CELERY_BEAT_SCHEDULE"].items()} == {
        "materialise-waves": "0:05:00",
        "dispatch-invitations": "0:01:00",
        "send-reminders": "0:05:00",
        "close-waves": "0:05:00",
        "apply-departures": "0:05:00",
        "analyse": "1 day, 0:00:00",  # nightly: catches up a lost analysis, refreshes trends and risk
    }


def test_beat_cadence_can_be_tightened_to_seconds_but_not_to_zero(tmp_path):
    loaded = load_settings(tmp_path, ["CELERY_BEAT_SCHEDULE"], PULSE_DISPATCH_EVERY="1", PULSE_HOUSEKEEPING_EVERY="2")
    refused = start_up(tmp_path, PULSE_HOUSEKEEPING_EVERY="0")

    assert {name: entry["schedule"] for name, entry in loaded["CELERY_BEAT_SCHEDULE"].items()} == {
        "materialise-waves": "0:00:02",
        "dispatch-invitations": "0:00:01",
        "send-reminders": "0:00:02",
        "close-waves": "0:00:02",
        "apply-departures": "0:00:02",
        "analyse": "1 day, 0:00:00",
    }
    assert (refused.returncode, refused.stderr) == (
        2,
        "pulse: configuration error: PULSE_HOUSEKEEPING_EVERY must be at least 1; got 0\n",
    )


def test_the_seal_key_of_the_embedded_default_is_derived_from_the_secret_key(tmp_path):
    first = load_settings(tmp_path, ["PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY", "SECRET_KEY"])
    second = load_settings(tmp_path, ["PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY"])

    # the same in every process of the checkout, never the secret key itself, with its public half
    assert second == {name: first[name] for name in ("PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY")}
    assert first["PULSE_SEAL_KEY"] != first["SECRET_KEY"]
    assert first["PULSE_SEAL_PUBLIC_KEY"] == crypto.public_key_text(
        crypto.private_key_derive(first["PULSE_SEAL_KEY"]).public_key
    )


def test_a_web_server_can_run_on_the_public_half_of_the_seal_key_alone(tmp_path):
    loaded = load_settings(
        tmp_path,
        ["PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY"],
        DEBUG="0",
        SECRET_KEY=SECRET,
        PULSE_SEAL_PUBLIC_KEY=SEAL_PUBLIC_KEY,
    )

    assert loaded == {"PULSE_SEAL_KEY": "", "PULSE_SEAL_PUBLIC_KEY": SEAL_PUBLIC_KEY}


def test_the_seal_key_brings_its_public_half(tmp_path):
    loaded = load_settings(tmp_path, ["PULSE_SEAL_PUBLIC_KEY"], PULSE_SEAL_KEY=SEAL_KEY)

    assert loaded == {"PULSE_SEAL_PUBLIC_KEY": SEAL_PUBLIC_KEY}


def test_a_worker_without_the_seal_key_does_not_start(tmp_path):
    # given a web server's settings: the public half only
    env = _environment(tmp_path, {"DEBUG": "0", "SECRET_KEY": SECRET, "PULSE_SEAL_PUBLIC_KEY": SEAL_PUBLIC_KEY})

    # when a worker is started with them
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "pulse", "worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then it refuses at once, naming the setting: a worker closes (and so seals) waves
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "pulse: configuration error: PULSE_SEAL_KEY must be set for a Celery worker (it seals the waves "
        "it closes); PULSE_SEAL_PUBLIC_KEY alone is for the web tier\n"
    )


def test_seal_key_command_makes_a_key_and_prints_the_public_half_of_the_one_in_use(tmp_path):
    made = start_up(tmp_path, "seal_key")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split("=", 1) for line in made.stdout.splitlines())
    assert set(lines) == {"PULSE_SEAL_KEY", "PULSE_SEAL_PUBLIC_KEY"}
    assert len(lines["PULSE_SEAL_KEY"]) >= 32

    old = secrets.token_urlsafe(48)
    public = start_up(
        tmp_path, "seal_key", "--public", PULSE_SEAL_KEY=lines["PULSE_SEAL_KEY"], PULSE_SEAL_KEY_FALLBACKS=old
    )

    def key_id(secret: str) -> str:
        return crypto.key_id(crypto.private_key_derive(secret).public_key)

    assert public.returncode == 0, public.stderr
    assert public.stdout.splitlines() == [
        f"PULSE_SEAL_PUBLIC_KEY={lines['PULSE_SEAL_PUBLIC_KEY']}",
        f"# key id {key_id(lines['PULSE_SEAL_KEY'])}: PULSE_SEAL_KEY",
        f"# key id {key_id(old)}: PULSE_SEAL_KEY_FALLBACKS, number 1",
    ]


@pytest.mark.parametrize(
    ("url", "path"),
    [("file:///var/spool/pulse-mail", "/var/spool/pulse-mail"), ("file://relative/mail", "relative/mail")],
    ids=["absolute", "relative"],
)
def test_email_url_file_keeps_an_absolute_path_absolute(tmp_path, url, path):
    loaded = load_settings(tmp_path, ["EMAIL_BACKEND", "EMAIL_FILE_PATH"], EMAIL_URL=url)

    assert loaded == {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": path}


@pytest.mark.parametrize(
    ("base_url", "sender"),
    [
        ("https://pulse.example.com", "Pulse <pulse@pulse.example.com>"),
        ("https://survey.acme.example:8443/", "Pulse <pulse@survey.acme.example>"),
        # an address or a loopback name is no mail domain
        ("http://127.0.0.1:8000", "Pulse <pulse@localhost>"),
        ("http://[::1]:8000", "Pulse <pulse@localhost>"),
        ("http://localhost:8000", "Pulse <pulse@localhost>"),
    ],
)
def test_the_default_sender_is_at_the_base_url_host(tmp_path, base_url, sender):
    loaded = load_settings(tmp_path, ["DEFAULT_FROM_EMAIL", "SERVER_EMAIL"], PULSE_BASE_URL=base_url)

    assert loaded == {"DEFAULT_FROM_EMAIL": sender, "SERVER_EMAIL": sender}


def test_the_sender_can_be_set(tmp_path):
    loaded = load_settings(
        tmp_path,
        ["DEFAULT_FROM_EMAIL"],
        PULSE_BASE_URL="https://pulse.example.com",
        DEFAULT_FROM_EMAIL="People team <people@acme.example>",
    )

    assert loaded == {"DEFAULT_FROM_EMAIL": "People team <people@acme.example>"}
