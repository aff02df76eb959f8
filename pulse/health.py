"""/healthz: is the database there, is the broker there? 200 or 503 naming what failed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    failures = {name: error for name, error in (("database", check_database()), ("broker", check_broker())) if error}
    checks = {name: ("ok" if name not in failures else "failed") for name in ("database", "broker")}
    for name, error in failures.items():
        logger.warning("healthz: %s check failed: %s", name, error)
    body: dict[str, object] = {"status": "ok" if not failures else "failed", "checks": checks}
    if settings.DEBUG:  # details may name internal hosts; only show them on a developer's machine
        body["errors"] = failures
    return JsonResponse(body, status=503 if failures else 200)
