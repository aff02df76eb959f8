from __future__ import annotations

import os

import pytest
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
