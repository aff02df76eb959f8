from __future__ import annotations

import os
import uuid

import pytest
from django.core.cache import caches
from django.db import connection

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgis"))
WITH_SERVICES = ON_POSTGRES and bool(os.environ.get("REDIS_URL"))


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI does)")
    skip_services = pytest.mark.skip(reason="needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL (CI does)")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
        if "services" in item.keywords and not WITH_SERVICES:
            item.add_marker(skip_services)


@pytest.fixture(autouse=True)
def cache_of_its_own(monkeypatch):
    """Each test starts with nothing in the cache: the throttle's counters of failed token
    look-ups from the test client's address must not spill from one test into the next. A key
    prefix of its own rather than ``cache.clear()``: with REDIS_URL the cache shares its Redis
    database with the Celery broker, whose queues a clear would wipe."""
    cache = caches["default"]
    monkeypatch.setattr(cache, "key_prefix", f"{cache.key_prefix}test-{uuid.uuid4().hex}")
    # django-axes' cache handler (with REDIS_URL) keeps the cache object of the thread it was first
    # built in, perhaps a live server's, whose prefix is shared by every test and every xdist worker:
    # point it at this test's, so login failures never spill between tests either.
    from axes.handlers.proxy import AxesProxyHandler

    handler = AxesProxyHandler.get_implementation()
    if hasattr(handler, "cache"):
        monkeypatch.setattr(handler, "cache", cache)


@pytest.fixture(autouse=True)
def client_login_with_a_request(monkeypatch):
    """django-axes checks every ``authenticate()`` and needs its request, which Django's test
    client's ``login()`` doesn't pass. Give it one from the test client's address, so that
    ``client.login`` counts failures and honours lockouts as the login page does (``force_login``
    doesn't authenticate, so it needs nothing)."""
    from django.test import Client, RequestFactory

    login = Client.login

    def login_with_request(self, **credentials):
        credentials.setdefault("request", RequestFactory().post("/login/"))
        return login(self, **credentials)

    monkeypatch.setattr(Client, "login", login_with_request)


@pytest.fixture
def enqueued(monkeypatch) -> list[str]:
    """The names of the tasks enqueued during the test, in order; none of them runs.

    The services enqueue by name (``current_app.signature(name).delay()``), which ends in the
    registered task's ``apply_async``: a name no task is registered under fails the test."""
    from celery import Task

    names: list[str] = []
    monkeypatch.setattr(Task, "apply_async", lambda task, *args, **kwargs: names.append(task.name))
    return names


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def default_survey(db):
    """The default survey `pulse` from the shipped question bank (data migration)."""
    from surveys.models import Survey

    return Survey.objects.get(slug="pulse")


# Suite-wide fixtures: `smtp_server` / `smtp_mail`, a real SMTP server (aiosmtpd) in a thread.
pytest_plugins = ["tests.smtp"]
