"""Failed token look-ups are throttled per client address; valid tokens never are."""

from __future__ import annotations

import os
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from surveys.ratelimit import client_address
from tests.surveys.test_intake import make_invitation, stored
from tests.surveys.test_survey_views import submit

pytestmark = pytest.mark.django_db

LIMIT, WINDOW = 3, 60
# The start of the next window (the waves of these tests are open then); tests freeze time
# at known offsets from it, so none straddles a window boundary by accident.
WINDOW_START = datetime.fromtimestamp((int(time.time()) // WINDOW + 1) * WINDOW, tz=UTC)


@pytest.fixture(params=["locmem", "redis"])
def backend(request, settings):
    """Both cache backends: per-process LocMem (embedded default) and Redis (deployments)."""
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("needs Redis: set REDIS_URL (CI does)")
        backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
    else:
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit-tests"}
    settings.CACHES = {"default": {**backend, "KEY_PREFIX": f"pulse-test-{secrets.token_hex(4)}"}}
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = LIMIT
    settings.PULSE_TOKEN_FAILURE_WINDOW = WINDOW
    yield request.param
    if request.param == "locmem":
        cache.clear()


@pytest.fixture
def address() -> str:
    # A fresh address per test: counters in a shared Redis outlive a test run.
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def unknown_api_get(client: APIClient, address: str):
    return client.get(f"/api/v1/invitations/{secrets.token_urlsafe(32)}/", REMOTE_ADDR=address)


def test_failed_lookups_beyond_the_limit_get_429_with_retry_after(backend, address):
    client = APIClient()

    with time_machine.travel(WINDOW_START + timedelta(seconds=15), tick=False):
        statuses = [unknown_api_get(client, address).status_code for _ in range(LIMIT)]
        throttled = unknown_api_get(client, address)

    assert statuses == [404] * LIMIT
    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "45"
    assert throttled.json() == {"code": "rate_limited", "detail": "Too many unknown links from this address."}


def test_malformed_tokens_and_unknown_submissions_count_too(backend, address):
    client = APIClient()

    with time_machine.travel(WINDOW_START, tick=False):
        client.get("/api/v1/invitations/short/", REMOTE_ADDR=address)
        client.post("/api/v1/responses/", {"token": "x", "answers": {"a": 1}}, format="json", REMOTE_ADDR=address)
        client.get(f"/s/{'y' * 10}/", REMOTE_ADDR=address)
        throttled = client.post(
            "/api/v1/responses/",
            {"token": secrets.token_urlsafe(32), "answers": {"a": 1}},
            format="json",
            REMOTE_ADDR=address,
        )

    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "60"


def test_a_valid_token_from_a_throttled_address_still_reads_and_answers(backend, address):
    # given: a colleague behind the same NAT address has exhausted the failures
    invitation = make_invitation()
    client = APIClient()
    with time_machine.travel(WINDOW_START, tick=False):
        for _ in range(LIMIT + 2):
            unknown_api_get(client, address)
        assert unknown_api_get(client, address).status_code == 429

        # when
        read = client.get(f"/api/v1/invitations/{invitation.token}/", REMOTE_ADDR=address)
        answered = client.post(
            "/api/v1/responses/",
            {"token": invitation.token, "answers": {"t_workload": 4}},
            format="json",
            REMOTE_ADDR=address,
        )
        used = client.get(f"/api/v1/invitations/{invitation.token}/", REMOTE_ADDR=address)

    # then
    assert (read.status_code, answered.status_code, used.status_code) == (200, 201, 409)
    assert stored(invitation) == (1, 1, 0, True)


def test_valid_tokens_never_touch_the_counter(backend, address):
    invitation = make_invitation()
    client = APIClient()
    key = f"token-failures:{int(WINDOW_START.timestamp()) // WINDOW}:{address}"

    with time_machine.travel(WINDOW_START, tick=False):
        client.get(f"/api/v1/invitations/{invitation.token}/", REMOTE_ADDR=address)
        client.post(
            "/api/v1/responses/",
            {"token": invitation.token, "answers": {"t_workload": 4}},
            format="json",
            REMOTE_ADDR=address,
        )
        client.get(f"/api/v1/invitations/{invitation.token}/", REMOTE_ADDR=address)  # 409: known, used
        assert cache.get(key) is None
        unknown_api_get(client, address)
        assert cache.get(key) == 1


def test_the_window_ends_and_failures_are_answered_404_again(backend, address):
    client = APIClient()
    with time_machine.travel(WINDOW_START + timedelta(seconds=50), tick=False):
        for _ in range(LIMIT):
            unknown_api_get(client, address)
        assert unknown_api_get(client, address).status_code == 429

    with time_machine.travel(WINDOW_START + timedelta(seconds=WINDOW), tick=False):
        assert unknown_api_get(client, address).status_code == 404


def test_another_address_is_not_throttled_by_its_neighbour(backend, address):
    client = APIClient()
    with time_machine.travel(WINDOW_START, tick=False):
        for _ in range(LIMIT + 1):
            unknown_api_get(client, address)

        assert unknown_api_get(client, "192.0.2.200").status_code == 404


def test_the_survey_pages_are_throttled_the_same_way(backend, address):
    client = Client(REMOTE_ADDR=address)
    with time_machine.travel(WINDOW_START + timedelta(seconds=30), tick=False):
        # the link itself is looked up (only a known link gets the survey cookie)
        for _ in range(LIMIT):
            assert client.get(f"/s/{secrets.token_urlsafe(32)}/").status_code == 404
        throttled = client.get(f"/s/{secrets.token_urlsafe(32)}/")

    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "30"
    assert throttled["Referrer-Policy"] == "no-referrer"
    assert "Please try again in 1 minute." in " ".join(throttled.content.decode().split())


def test_the_survey_form_of_a_valid_link_works_from_a_throttled_address(backend, address):
    invitation = make_invitation()
    attacker, colleague = Client(REMOTE_ADDR=address), Client(REMOTE_ADDR=address)
    with time_machine.travel(WINDOW_START, tick=False):
        for _ in range(LIMIT + 1):
            attacker.get(f"/s/{'z' * 12}/")
        assert attacker.get(f"/s/{'z' * 12}/").status_code == 429

        colleague.get(f"/s/{invitation.token}/")
        assert colleague.get("/s/").status_code == 200
        assert submit(colleague, {"answer-t_workload": "5"}).status_code == 302

    assert stored(invitation) == (1, 1, 0, True)


def test_a_cache_outage_does_not_turn_unknown_links_into_errors(settings, address):
    # Nothing listens on port 1: every cache call fails. Failures then go unthrottled (and
    # logged), rather than answering 500.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    settings.PULSE_TOKEN_FAILURES_PER_WINDOW = 1

    statuses = [unknown_api_get(APIClient(), address).status_code for _ in range(3)]

    assert statuses == [404, 404, 404]


@pytest.mark.parametrize(
    ("remote_addr", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("", "unknown"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_client_address_is_remote_addr_with_ipv6_hosts_grouped_by_64(remote_addr, counted_as):
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR="198.51.100.77")

    assert client_address(request) == counted_as
