"""Real-browser tests: Debian's Chromium driven by Playwright's sync API (never a downloaded browser).

Fixtures for a browser test (see test_survey_form_browser.py and test_employee_answers_from_email.py):
``phone_page`` / ``desktop_page``, ``new_context(**options)`` for anything else, ``axe_violations``,
``screenshot``; and ``tests.e2e.browser.login(page, live_server, user)``. Mark the module
``pytest.mark.e2e`` and ``pytest.mark.django_db(transaction=True)``: the live server answers from
another thread, which sees only committed rows (and on PostgreSQL, only another connection's).
Every page a test opened through these fixtures is saved as a full-page screenshot when the test
fails, next to the ones taken at named steps (``tests.e2e.browser.artifacts_dir``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    artifact_name,
    artifacts_dir,
    chromium_missing_reason,
)
from .browser import axe_violations as run_axe

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test, so that fixtures can tell at teardown whether it failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One Chromium per test module."""
    if not CHROMIUM.exists():
        pytest.skip(chromium_missing_reason(artifacts_dir(request.config.rootpath)))
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in the main thread, so Django would take the
    # test's own (synchronous) database calls for calls from async code and refuse them. They
    # are not: allow them while the browser runs, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """The folder screenshots go to ($PULSE_E2E_ARTIFACTS, or test-artifacts/e2e/ in the checkout)."""
    path = artifacts_dir(request.config.rootpath)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, artifacts: Path) -> Callable[[Any, str], Path]:
    """``screenshot(page, "step")`` saves the whole page as ``<test name>-<step>.png``."""

    def take(page: Any, step: str) -> Path:
        path = artifacts / artifact_name(request.node.name, step)
        page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.fixture
def new_context(request: pytest.FixtureRequest, browser: Any, screenshot) -> Iterator[Callable[..., Any]]:
    """``new_context(**options)``: a browser context of the test's own, closed after it; when
    the test fails, each of its open pages is saved first (``<test name>-failure[-N].png``)."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        return context

    yield make
    reports = request.node.stash.get(_REPORTS, {})
    if any(report.failed for report in reports.values()):
        pages = [page for context in contexts for page in context.pages if not page.is_closed()]
        for number, page in enumerate(pages, start=1):
            with contextlib.suppress(Exception):  # a crashed page must not hide the failure itself
                screenshot(page, "failure" if number == 1 else f"failure-{number}")
    for context in contexts:
        context.close()


@pytest.fixture
def phone_page(new_context) -> Any:
    """A page on a phone held upright: 390×844 CSS pixels, touch, mobile viewport rules."""
    return new_context(**PHONE).new_page()


@pytest.fixture
def desktop_page(new_context) -> Any:
    """A page on a laptop-sized window (1280×800)."""
    return new_context(**DESKTOP).new_page()


@pytest.fixture
def axe_violations() -> Callable[..., list]:
    """``axe_violations(page, impacts=("serious", "critical"))``: what axe-core finds on the page
    as it is now; assert with ``assert not violations, pretty(violations)``."""
    return run_axe
