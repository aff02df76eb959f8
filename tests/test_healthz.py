"""/healthz: 200 when the database and the broker answer, 503 naming whichever does not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from surveys import crypto as seal_keys

REPO = Path(__file__).resolve().parent.parent
# A web server needs only the public half of the seal key (it encrypts, never decrypts).
WEB_TIER_SEAL_KEY = seal_keys.public_key_text(seal_keys.private_key_derive("x" * 40).public_key)

# A fresh process, so that settings read at start-up (the database, PULSE_HTTPS) are the ones
# the test gives, without touching this process's connections. Prints what a client would see.
REQUEST = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
answers = {}
for path in sys.argv[1:]:
    response = Client().get(path)
    answers[path] = {"status": response.status_code, "location": response.get("Location"),
                     "body": response.content.decode()}
print(json.dumps(answers))
"""


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections: bound, so nobody else takes it, but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def get_in_fresh_process(tmp_path: Path, paths: list[str], **variables: str) -> dict[str, dict[str, Any]]:
    env = {"PATH": os.environ["PATH"], "PULSE_DATA_DIR": str(tmp_path), **variables}
    result = subprocess.run(
        [sys.executable, "-c", REQUEST, *paths], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_healthz_is_ok_when_database_and_broker_answer(client, db):
    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    # a prober must see the state now, never a cached answer
    assert set(response["Cache-Control"].split(", ")) >= {"no-cache", "no-store", "must-revalidate", "max-age=0"}


def test_healthz_answers_head_and_refuses_writes(client, db):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_healthz_names_the_broker_when_redis_is_down(client, db, closed_port):
    # given a broker address where nothing answers
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0", DEBUG=False):
        # when
        response = client.get("/healthz")

    # then
    assert response.status_code == 503
    assert response.json() == {"status": "failed", "checks": {"database": "ok", "broker": "failed"}}


def test_healthz_shows_the_error_only_in_debug(client, db, closed_port):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0", DEBUG=True):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert list(response.json()["errors"]) == ["broker"]
    assert response.json()["errors"]["broker"].startswith("ConnectionError: ")


def test_healthz_names_the_database_when_it_is_down(tmp_path, closed_port):
    # given a process whose database is a PostgreSQL address where nothing answers
    answer = get_in_fresh_process(
        tmp_path,
        ["/healthz"],
        DATABASE_URL=f"postgres://pulse:secret@127.0.0.1:{closed_port}/pulse",
        DEBUG="0",
        SECRET_KEY="a-test-key-that-is-long-enough-for-nobody-to-care-about-it",
        PULSE_SEAL_PUBLIC_KEY=WEB_TIER_SEAL_KEY,
        PULSE_HTTPS="0",
    )["/healthz"]

    # then: 503 naming the database, and without DEBUG no detail that could name internal hosts
    assert answer["status"] == 503
    assert json.loads(answer["body"]) == {"status": "failed", "checks": {"database": "failed", "broker": "ok"}}


def test_healthz_is_served_over_plain_http_when_https_is_on(tmp_path):
    # given the production default: DEBUG off, so PULSE_HTTPS on
    variables = {
        "DEBUG": "0",
        "SECRET_KEY": "a-test-key-that-is-long-enough-for-nobody-to-care-about-it",
        "PULSE_SEAL_PUBLIC_KEY": WEB_TIER_SEAL_KEY,
    }

    # when a probe inside the deployment asks over plain HTTP
    answers = get_in_fresh_process(tmp_path, ["/healthz", "/healthz/", "/login/"], **variables)
    health, health_slash, login = answers["/healthz"], answers["/healthz/"], answers["/login/"]

    # then /healthz answers while every other page is redirected to HTTPS
    assert (health["status"], json.loads(health["body"])["status"]) == (200, "ok")
    assert health_slash["status"] == 200
    assert (login["status"], login["location"]) == (301, "https://testserver/login/")
