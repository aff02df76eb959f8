"""The answer-intake bench's baseline server: Pulse's settings, one minimal view instead of Pulse's URLs.

Served by the same gunicorn settings as Pulse with ``DJANGO_SETTINGS_MODULE=bench.intake_baseline``:
this module is at once the settings (everything of ``pulse.settings``, so the same middleware,
database connection handling and logging), the URLconf and the view. The view does the least a
real endpoint can: parse the JSON body and insert one row (the token and a fresh id) into a
small table, one INSERT that is its own transaction, and answer 201. A second path does the
same inside ``transaction.atomic()``, the usual Django spelling of "one row in one
transaction", which costs a BEGIN and a COMMIT round trip more. The table is made by the
bench in its throwaway database (``BASELINE_TABLE_SQL``).
"""

from __future__ import annotations

import json
import uuid

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pulse import health
from pulse.settings import *  # noqa: F403 - the baseline runs on Pulse's own settings

ROOT_URLCONF = "bench.intake_baseline"

BASELINE_TABLE = "bench_baseline_submission"
BASELINE_TABLE_SQL = f"CREATE TABLE {BASELINE_TABLE} (id uuid PRIMARY KEY, token varchar(64) NOT NULL)"


def _insert(request: HttpRequest) -> None:
    token = json.loads(request.body)["token"]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BASELINE_TABLE} (id, token) VALUES (%s, %s)", [uuid.uuid4(), token])


@csrf_exempt  # like the Pulse endpoint: the token is the credential, there is no session
@require_POST
def submission_create(request: HttpRequest) -> HttpResponse:
    _insert(request)
    return JsonResponse({"status": "recorded"}, status=201)


@csrf_exempt
@require_POST
def submission_create_atomic(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        _insert(request)
    return JsonResponse({"status": "recorded"}, status=201)


urlpatterns = [
    path("api/v1/responses/", submission_create),
    path("atomic/api/v1/responses/", submission_create_atomic),
    # The load generator's filler at the very end of a run (see bench_intake.py), as on Pulse.
    path("healthz", health.healthz),
]
