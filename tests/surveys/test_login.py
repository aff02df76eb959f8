"""Logging in and out, and the brute-force lockout (django-axes) in front of every login form."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_cache_keys
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import caches
from django.urls import reverse
from rest_framework.authtoken.models import Token

from surveys.models import Employee
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # These tests are about who may log in, not about hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager():
    user = UserFactory(username=EMAIL, password=PASSWORD)
    EmployeeFactory(email=EMAIL, role=Employee.Role.MANAGER, user=user)
    return user


def log_in(client, *, username: str = EMAIL, password: str = PASSWORD, path: str = "/login/"):
    return client.post(path, {"username": username, "password": password})


def logged_in_as(client) -> str | None:
    return client.session.get(SESSION_KEY)


def without_csrf_token(page: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)


def fail(client, times: int, *, path: str = "/login/") -> list[int]:
    return [log_in(client, password="wrong guess", path=path).status_code for _ in range(times)]


# --- Logging in and out ------------------------------------------------------------------


def test_a_manager_logs_in_and_is_sent_home(client, manager):
    response = log_in(client)

    assert (response.status_code, response["Location"]) == (302, "/")
    assert logged_in_as(client) == str(manager.pk)


def test_the_e_mail_may_be_typed_in_any_case_with_spaces(client, manager):
    response = log_in(client, username="  Ada@Example.COM ")

    assert response.status_code == 302
    assert logged_in_as(client) == str(manager.pk)


def test_an_administrators_mixed_case_username_is_kept(client):
    admin = UserFactory(username="Admin", password=PASSWORD, is_staff=True, is_superuser=True)

    response = log_in(client, username="Admin")

    assert response.status_code == 302
    assert logged_in_as(client) == str(admin.pk)


def test_logging_out_ends_the_session(client, manager):
    # given
    log_in(client)

    # when
    response = client.post("/logout/")

    # then
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert logged_in_as(client) is None
    assert client.get("/org/")["Location"] == "/login/?next=/org/"


def test_a_failed_login_keeps_the_e_mail_but_not_the_password_and_says_why(client, manager):
    response = log_in(client, password="not it")
    page = response.content.decode()

    assert response.status_code == 200
    assert logged_in_as(client) is None
    assert '<p class="error" role="alert" id="login-error">Your e-mail and password didn\'t match.' in page
    username_input = next(line for line in page.splitlines() if 'id="id_username"' in line)
    password_input = next(line for line in page.splitlines() if 'id="id_password"' in line)
    assert f'value="{EMAIL}"' in username_input
    assert 'aria-invalid="true" aria-describedby="login-error"' in username_input
    assert "value=" not in password_input
    assert "autofocus" in password_input  # the e-mail is there; the password is what to type next


def test_the_login_page_labels_its_fields_and_links_to_the_reset(client):
    page = client.get("/login/").content.decode()

    assert '<label for="id_username">E-mail</label>' in page
    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page
    assert f'<a href="{reverse("password_reset")}">Forgot your password?</a>' in page


def test_an_unknown_e_mail_gets_the_same_answer_as_a_wrong_password(client, manager):
    unknown = log_in(client, username="nobody@example.com").content.decode()
    wrong = log_in(client, password="not it").content.decode()

    assert without_csrf_token(unknown.replace("nobody@example.com", EMAIL)) == without_csrf_token(wrong)


def test_a_deactivated_login_cannot_log_in(client, manager):
    manager.is_active = False
    manager.save()

    response = log_in(client)

    assert response.status_code == 200
    assert logged_in_as(client) is None


# --- Lockout -----------------------------------------------------------------------------


def test_five_failures_lock_the_login_out_even_with_the_right_password(client, manager):
    # when
    statuses = fail(client, 5)
    locked = log_in(client)

    # then the fifth failure already answers with the lockout page, and the right password is refused
    assert settings.AXES_FAILURE_LIMIT == 5
    assert statuses == [200, 200, 200, 200, 429]
    assert locked.status_code == 429
    assert logged_in_as(client) is None
    assert locked["Retry-After"] == "900"
    page = locked.content.decode()
    assert "<h1>Too many failed attempts</h1>" in page
    assert "After 5 wrong passwords in a row, logging in with this e-mail from here is paused for 15 minutes" in page
    assert f'<a href="{reverse("password_reset")}">Reset your password</a>' in page


def test_four_failures_then_the_right_password_logs_in_and_starts_the_count_again(client, manager):
    # given
    fail(client, 4)

    # when
    log_in(client)
    client.post("/logout/")
    statuses = fail(client, 4)

    # then
    assert statuses == [200, 200, 200, 200]
    assert log_in(client).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, manager, settings):
    # given a cool-off short enough to wait for (real time: with Redis, the counter's own expiry ends it)
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    fail(client, 5)
    assert log_in(client).status_code == 429

    # when the cool-off has passed
    time.sleep(1.5)
    response = log_in(client)

    # then
    assert response.status_code == 302
    assert logged_in_as(client) == str(manager.pk)


def test_the_lockout_is_per_e_mail_and_address(client, manager):
    # given someone guessing another person's password from this address
    colleague = UserFactory(username="grace@example.com", password=PASSWORD)
    fail(client, 5)

    # when a colleague logs in from the same address, and Ada from another one
    colleague_login = log_in(client, username="grace@example.com")
    elsewhere = client.post("/login/", {"username": EMAIL, "password": PASSWORD}, REMOTE_ADDR="192.0.2.44")

    # then
    assert colleague_login.status_code == 302
    assert elsewhere.status_code == 302
    assert logged_in_as(client) == str(manager.pk)
    assert colleague.pk != manager.pk


def test_an_ipv6_client_counts_per_64_network(client, manager):
    # given failures from one address of a /64 (one host usually holds a whole /64)
    for _ in range(5):
        client.post("/login/", {"username": EMAIL, "password": "wrong guess"}, REMOTE_ADDR="2001:db8:0:1::17")

    # when
    same_network = client.post("/login/", {"username": EMAIL, "password": PASSWORD}, REMOTE_ADDR="2001:db8:0:1::99")
    next_network = client.post("/login/", {"username": EMAIL, "password": PASSWORD}, REMOTE_ADDR="2001:db8:0:2::17")

    # then
    assert (same_network.status_code, next_network.status_code) == (429, 302)


def test_changing_the_case_of_the_e_mail_does_not_get_round_the_lockout(client, manager):
    fail(client, 5)

    assert log_in(client, username="ADA@example.com").status_code == 429


def test_the_admin_login_is_locked_out_the_same_way(client):
    # given
    UserFactory(username="root@example.com", password=PASSWORD, is_staff=True, is_superuser=True)
    attempts = {"username": "root@example.com", "password": "wrong guess"}

    # when
    statuses = [client.post("/admin/login/", attempts).status_code for _ in range(5)]
    locked = client.post("/admin/login/", {**attempts, "password": PASSWORD})

    # then
    assert statuses == [200, 200, 200, 200, 429]
    assert locked.status_code == 429
    assert "<h1>Too many failed attempts</h1>" in locked.content.decode()


def test_the_admin_login_still_works(client):
    UserFactory(username="root@example.com", password=PASSWORD, is_staff=True, is_superuser=True)

    response = client.post("/admin/login/?next=/admin/", {"username": "root@example.com", "password": PASSWORD})

    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


def test_the_api_takes_tokens_and_login_sessions_as_before(client, manager):
    # given a token, and a session from the login page
    token = Token.objects.create(user=manager)
    log_in(client)

    # when
    with_token = client.__class__().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token.key}")
    with_session = client.get("/api/v1/teams/")

    # then
    assert (with_token.status_code, with_session.status_code) == (200, 200)


def test_test_clients_login_goes_through_the_lockout_too(client, manager):
    # The suite's client.login passes a request (tests/conftest.py), so axes sees it like a form login.
    fail(client, 5)

    assert client.login(username=EMAIL, password=PASSWORD) is False
    assert client.__class__().login(username="nobody@example.com", password="x") is False
    assert log_in(client.__class__(), username=EMAIL, password=PASSWORD, path="/login/").status_code == 429


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="without REDIS_URL")
def test_failures_are_counted_in_the_database_without_redis(client, manager):
    fail(client, 2)

    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (EMAIL, "127.0.0.1", 2)


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
def test_failures_are_counted_in_the_redis_cache_with_redis(client, manager):
    # when
    fail(client, 2)

    # then the counter is in Redis, shared by every web process, and not in the database
    assert settings.AXES_HANDLER == "axes.handlers.cache.AxesCacheHandler"
    cache = caches["default"]
    assert type(cache).__name__ == "RedisCache"
    assert AxesProxyHandler.get_implementation().cache is cache
    keys = get_client_cache_keys(AccessAttempt(username=EMAIL, ip_address="127.0.0.1"))
    assert [cache.get(key) for key in keys] == [2]
    assert AccessAttempt.objects.count() == 0
