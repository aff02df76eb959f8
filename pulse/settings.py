"""Pulse settings, read from the environment (12-factor).

With nothing set, Pulse runs on its embedded default: SQLite in ``data/``, Celery tasks run
eagerly in-process, e-mail is written to ``data/mail/``. Setting ``DATABASE_URL``,
``REDIS_URL`` and ``EMAIL_URL`` (or ``EMAIL_HOST`` ...) switches to real services.
Every helper below fails loudly: a malformed value stops start-up with a message naming the
variable, rather than running with a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from surveys import crypto as seal_keys
from surveys import task_names

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off); got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, why: str = "") -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        value = default
    else:
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None
    if minimum is not None and value < minimum:
        reason = f" ({why})" if why else ""
        raise ImproperlyConfigured(f"{name} must be at least {minimum}{reason}; got {value}")
    return value


def env_float(name: str, default: float, *, above: float, below: float) -> float:
    """A number strictly between ``above`` and ``below``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}") from None
    if not above < value < below:  # also refuses nan and inf
        raise ImproperlyConfigured(f"{name} must be between {above:g} and {below:g} (exclusive); got {raw}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def without_password(url: str) -> str:
    """The URL with any password masked: error messages end up in logs, secrets must not."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable: mask whatever sits between "user:" and "@"
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url, count=1)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def env_url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    raw = env_str(name, default)
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise ImproperlyConfigured(f"{name} is not a valid URL ({exc}); got {without_password(raw)!r}") from None
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}; "
            f"got {without_password(raw)!r}"
        )
    return raw


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env_str(name, default)
    for choice in choices:  # case-insensitive: LOG_LEVEL=info is as clear as INFO
        if raw.lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {raw!r}")


def data_dir_ready(path: Path) -> Path:
    """The data folder, created if missing: beat's schedule, the mail folder, static files and the
    embedded database live there, and every process may be the first to start on a fresh machine."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ImproperlyConfigured(f"PULSE_DATA_DIR {str(path)!r} is a file, not a folder") from None
    except OSError as exc:  # no permission on a parent, a name too long, ...
        raise ImproperlyConfigured(f"PULSE_DATA_DIR {str(path)!r} can't be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ImproperlyConfigured(f"PULSE_DATA_DIR {str(path)!r} is not writable by this user")
    return path


# A relative PULSE_DATA_DIR is relative to the project folder, whatever folder a process starts
# in (gunicorn changes into the project folder; manage.py and Celery don't).
DATA_DIR = data_dir_ready(BASE_DIR / (env_str("PULSE_DATA_DIR") or "data"))
DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: a random key kept in the data folder, so that the web process and a
    # worker started from the same checkout agree, and no key is ever committed.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

# Survey links are an HMAC of the invitation under this key, so that every send of an
# invitation (first send, retry, reminder) carries the same working link while only its
# SHA-256 is stored. Rotating the key invalidates every open link.
PULSE_TOKEN_KEY = (
    env_str("PULSE_TOKEN_KEY")
    or hmac.new(SECRET_KEY.encode(), b"pulse-invitation-token-key", hashlib.sha256).hexdigest()
)

# Answers are stored encrypted while a wave is open and decrypted only by the seal at close
# (surveys/crypto.py, DESIGN.md Anonymity 1). Encrypting needs only the public half, so the web
# tier can run with PULSE_SEAL_PUBLIC_KEY alone; the worker, which seals, needs PULSE_SEAL_KEY.
# PULSE_SEAL_KEY_FALLBACKS keeps older keys for submissions made before a rotation.
PULSE_SEAL_KEY = env_str("PULSE_SEAL_KEY")
PULSE_SEAL_KEY_FALLBACKS = env_list("PULSE_SEAL_KEY_FALLBACKS", [])
PULSE_SEAL_PUBLIC_KEY = env_str("PULSE_SEAL_PUBLIC_KEY")
if not PULSE_SEAL_KEY and not PULSE_SEAL_PUBLIC_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "PULSE_SEAL_KEY must be set when DEBUG is off: any secret of at least 32 characters, e.g. from "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' (on a web server that never seals "
            "a wave, its public half PULSE_SEAL_PUBLIC_KEY is enough)"
        )
    # Embedded default only: derived from the development secret key, like the token key.
    PULSE_SEAL_KEY = hmac.new(SECRET_KEY.encode(), b"pulse-seal-key", hashlib.sha256).hexdigest()


def seal_public_half(name: str, secret: str) -> str:
    try:
        return seal_keys.public_key_text(seal_keys.private_key_derive(secret).public_key)
    except seal_keys.SealKeyError as exc:
        raise ImproperlyConfigured(f"{name} {exc}") from None


for _fallback in PULSE_SEAL_KEY_FALLBACKS:
    seal_public_half("PULSE_SEAL_KEY_FALLBACKS", _fallback)
_seal_public_half = seal_public_half("PULSE_SEAL_KEY", PULSE_SEAL_KEY) if PULSE_SEAL_KEY else ""
if PULSE_SEAL_PUBLIC_KEY:
    try:
        seal_keys.public_key_parse(PULSE_SEAL_PUBLIC_KEY)
    except seal_keys.SealKeyError as exc:
        raise ImproperlyConfigured(f"PULSE_SEAL_PUBLIC_KEY {exc}") from None
    if _seal_public_half and _seal_public_half != PULSE_SEAL_PUBLIC_KEY:
        raise ImproperlyConfigured(
            "PULSE_SEAL_PUBLIC_KEY is not the public half of PULSE_SEAL_KEY "
            "(python manage.py seal_key --public prints the right one)"
        )
else:
    PULSE_SEAL_PUBLIC_KEY = _seal_public_half

PULSE_BASE_URL = env_url("PULSE_BASE_URL", "http://127.0.0.1:8000", ("http", "https")).rstrip("/")
_base_host = urlsplit(PULSE_BASE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", sorted({_base_host, "localhost", "127.0.0.1", "[::1]"}))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PULSE_BASE_URL])

PULSE_HTTPS = env_bool("PULSE_HTTPS", not DEBUG)
if PULSE_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz is probed over plain HTTP from inside the deployment.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Anonymity thresholds (DESIGN.md, Anonymity 2). Below 3 a group of two could each subtract
# their own answer from the mean and learn the other's, so start-up refuses it.
PULSE_MIN_RESPONDENTS = env_int(
    "PULSE_MIN_RESPONDENTS", 5, minimum=3, why="an anonymity threshold below 3 exposes individual answers"
)
PULSE_MIN_COMMENT_RESPONDENTS = env_int("PULSE_MIN_COMMENT_RESPONDENTS", 10, minimum=3)
if PULSE_MIN_COMMENT_RESPONDENTS < PULSE_MIN_RESPONDENTS:
    raise ImproperlyConfigured(
        "PULSE_MIN_COMMENT_RESPONDENTS must be at least PULSE_MIN_RESPONDENTS "
        f"({PULSE_MIN_COMMENT_RESPONDENTS} < {PULSE_MIN_RESPONDENTS})"
    )

# The false-alarm rate per team and wave that trend flags are calibrated to (analytics/trends.py):
# a team with no real change is flagged "declining" in about this share of its waves. Half or
# more would flag more teams than chance leaves unflagged.
PULSE_TREND_FALSE_ALARM_RATE = env_float("PULSE_TREND_FALSE_ALARM_RATE", 0.01, above=0.0, below=0.5)

# How many failed token look-ups one client address may make per window before 429.
PULSE_TOKEN_FAILURES_PER_WINDOW = env_int("PULSE_TOKEN_FAILURES_PER_WINDOW", 20, minimum=1)
PULSE_TOKEN_FAILURE_WINDOW = env_int("PULSE_TOKEN_FAILURE_WINDOW", 300, minimum=1)
# Invitations claimed and sent over one SMTP connection per batch.
PULSE_DISPATCH_BATCH = env_int("PULSE_DISPATCH_BATCH", 200, minimum=1)
# The longest one invitation's SMTP exchange may take before it is cut off and its batch handed
# back. It also sets the dispatch lease (this + 30 s): how soon a killed worker's invitations go
# out again. Raise it for a relay that scans mail slowly before it answers.
PULSE_SMTP_MESSAGE_TIMEOUT = env_int("PULSE_SMTP_MESSAGE_TIMEOUT", 30, minimum=5)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's files, served from our own static files: /api/docs/ works offline and loads
    # nothing from another host.
    "drf_spectacular_sidecar",
    "axes",
    "surveys",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After both: a logged-in reader's own language (their employee locale) wins over the browser's.
    "pulse.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pulse.urls"
WSGI_APPLICATION = "pulse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_url("DATABASE_URL", "", ("postgres", "postgresql", "pgsql", "postgis", "sqlite", "mysql"))
if DATABASE_URL:
    try:
        urlsplit(DATABASE_URL).port  # noqa: B018 -- dj_database_url would only say "not a valid url"
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL has a bad port: {exc}") from None
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:  # dj_database_url.ParseError
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "pulse.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", ("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pulse",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: the database holds what is due (the invitation table is the outbox); the broker
# only carries "go look". Late acks plus reject-on-lost mean a killed worker's task is
# redelivered; every task is safe to run twice.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
# Longer than the longest task (the hard time limit), so Redis never redelivers a task that
# is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Beat only says "go look": the database decides what is due, so these cadences bound how late
# an e-mail or a close can be, not what happens. Intervals rather than crontabs, so that a
# deployment (or the system test) can tighten them to seconds.
PULSE_DISPATCH_EVERY = timedelta(seconds=env_int("PULSE_DISPATCH_EVERY", 60, minimum=1))
PULSE_HOUSEKEEPING_EVERY = timedelta(seconds=env_int("PULSE_HOUSEKEEPING_EVERY", 300, minimum=1))
CELERY_BEAT_SCHEDULE = {
    "materialise-waves": {"task": task_names.WAVES_MATERIALISE, "schedule": PULSE_HOUSEKEEPING_EVERY},
    "dispatch-invitations": {"task": task_names.INVITATIONS_DISPATCH, "schedule": PULSE_DISPATCH_EVERY},
    "send-reminders": {"task": task_names.REMINDERS_DISPATCH, "schedule": PULSE_HOUSEKEEPING_EVERY},
    "close-waves": {"task": task_names.WAVES_CLOSE_DUE, "schedule": PULSE_HOUSEKEEPING_EVERY},
    "apply-departures": {"task": task_names.EMPLOYEES_DEPARTURES, "schedule": PULSE_HOUSEKEEPING_EVERY},
    # Nightly: catches up any wave whose analysis task was lost, and refreshes trends and risk.
    "analyse": {"task": "analytics.analyse", "schedule": timedelta(hours=24)},
}

# E-mail: EMAIL_URL (smtp://user:password@host:587/?tls=True), or the EMAIL_HOST family, or
# (embedded default) files in data/mail/.
EMAIL_URL = env_str("EMAIL_URL")
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_URL:
    # The library accepts any scheme and then leaves the backend out, so check it here.
    if urlsplit(EMAIL_URL).scheme not in dj_email_url.SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with one of {', '.join(s + '://' for s in dj_email_url.SCHEMES)}; "
            f"got {without_password(EMAIL_URL)!r}"
        )
    try:
        _email = dj_email_url.parse(EMAIL_URL)
    except ValueError as exc:  # e.g. a port that is not a number
        raise ImproperlyConfigured(f"EMAIL_URL is not a valid e-mail URL: {exc}") from None
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    if _email["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
        # file:///var/mail/pulse is an absolute path; the library drops its leading slash.
        _mail_path = urlsplit(EMAIL_URL)
        EMAIL_FILE_PATH = (_mail_path.path if not _mail_path.netloc else _mail_path.netloc + _mail_path.path) or str(
            DATA_DIR / "mail"
        )
elif EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        # Django would only refuse this when the first mail is sent; refuse it at start-up instead.
        raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS, port 587) and EMAIL_USE_SSL (port 465) exclude each other")
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)


def _sender_domain(host: str) -> str:
    """The domain mail comes from by default: PULSE_BASE_URL's host, unless it is an address
    or loopback name, which no mail system accepts as a sender's domain."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host if "." in host else "localhost"
    return "localhost"


DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"Pulse <pulse@{_sender_domain(_base_host)}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Password reset and "set your password" links (surveys/accounts.py) work this long, and once.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 60 * 60, minimum=600)

# Login brute-force protection (django-axes). The standalone backend only checks and counts; the
# model backend after it logs people in (and serves force_login, which takes the first backend
# that can get a user). Failures count per e-mail *and* address together, so a guesser locks out
# only themselves, never a colleague behind the same office NAT address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("PULSE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PULSE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as the survey-link throttle (REMOTE_ADDR, IPv6 per /64).
AXES_CLIENT_IP_CALLABLE = "surveys.accounts.login_client_address"
AXES_LOCKOUT_CALLABLE = "surveys.web.account_views.login_locked_out"
# Counts only; a log of every successful login is not something Pulse needs to keep.
AXES_DISABLE_ACCESS_LOG = True
# Quiet at start-up (commands' output stays theirs); failures are still logged, with the e-mail
# and address masked.
AXES_VERBOSE = False
# With Redis the counters live in the shared cache, so every web process sees the same failures;
# on the embedded default in the database, which outlives a restart of the single process.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "pulse.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 200,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pulse API",
    "DESCRIPTION": "Anonymous employee pulse surveys: org import, answer intake and anonymized reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from the online validator: the docs page talks to this server only.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Logs never carry survey tokens: request lines of /s/<token>/ are rewritten by a filter
# before any handler sees them (surveys/logging.py). Gunicorn's access log has its own
# redacting logger (pulse/gunicorn.conf.py).
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "surveys.logging.RedactTokensFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"filters": ["redact_tokens"]},
        # Django's defaults give this logger its own handler and propagate=False; replacing
        # its handlers without naming one would drop runserver's request lines altogether.
        "django.server": {"filters": ["redact_tokens"], "handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

SESSION_COOKIE_HTTPONLY = True
SURVEY_COOKIE_MAX_AGE = timedelta(hours=2)
