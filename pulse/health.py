"""/healthz: is the database there, is the broker there? 200 or 503 naming what failed.

Probed by docker-compose's health check and by load balancers, over plain HTTP even when
PULSE_HTTPS is on (settings.SECURE_REDIRECT_EXEMPT), never cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Short: a health check that hangs is as bad as one that fails, and the prober has its own timeout.
BROKER_TIMEOUT_SECONDS = 2


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is an unhealthy database, whatever the driver raises
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def check_broker() -> str | None:
    if not settings.REDIS_URL:
        return None  # embedded default: tasks run eagerly in-process, there is no broker
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure is an unhealthy broker, whatever redis-py raises
        return f"{type(exc).__name__}: {exc}".strip()
    return None


CHECKS: dict[str, Callable[[], str | None]] = {"database": check_database, "broker": check_broker}


@never_cache
@require_safe  # GET, and HEAD for probes that only read the status
def healthz(request: HttpRequest) -> JsonResponse:
    failures = {name: error for name, check in CHECKS.items() if (error := check())}
    for name, error in failures.items():
        logger.warning("healthz: %s check failed: %s", name, error)
    body: dict[str, object] = {
        "status": "failed" if failures else "ok",
        "checks": {name: ("failed" if name in failures else "ok") for name in CHECKS},
    }
    if failures and settings.DEBUG:  # details may name internal hosts; only on a developer's machine
        body["errors"] = failures
    return JsonResponse(body, status=503 if failures else 200)
