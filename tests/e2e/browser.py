"""Helpers for the browser tests: axe-core's findings, screenshots, logging in through the form.

The fixtures that hand these out live in conftest.py; a new browser test needs only those:
``phone_page`` / ``desktop_page`` (a fresh context each, closed after the test),
``axe_violations(page)``, ``screenshot(page, "step")`` and ``login(page, live_server, user)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# A phone held upright (an iPhone 12 to 15's CSS size) and a laptop.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}

# Where screenshots go: test-artifacts/e2e/ (gitignored) unless PULSE_E2E_ARTIFACTS says otherwise.
ARTIFACTS_ENV = "PULSE_E2E_ARTIFACTS"
ARTIFACTS_DEFAULT = Path("test-artifacts") / "e2e"

BLOCKING_IMPACTS = ("serious", "critical")
# The shipped axe-core (from the axe-playwright-python wheel), read once: nothing comes from a CDN.
_AXE = Axe()


def artifacts_dir(rootdir: Path) -> Path:
    configured = os.environ.get(ARTIFACTS_ENV)
    return Path(configured) if configured else rootdir / ARTIFACTS_DEFAULT


def artifact_name(test_name: str, step: str) -> str:
    """``<test name>-<step>.png``, safe as a file name (parametrised ids carry brackets)."""
    return re.sub(r"[^\w.-]+", "_", f"{test_name}-{step}").strip("_") + ".png"


def chromium_missing_reason(artifacts: Path) -> str:
    """Why the browser tests skip: what tests/e2e/install-chromium left in its log, if anything."""
    log = artifacts / "chromium-install.log"
    lines = log.read_text().strip().splitlines() if log.exists() else []
    why = f"; it did not: {lines[-1]}" if lines else "; or run 'apt-get install chromium'"
    return f"needs Chromium at {CHROMIUM}: `make test` installs Debian's chromium package when run as root{why}"


@dataclass(frozen=True)
class Violation:
    """One axe-core rule the page breaks, and where (CSS selectors of the offending nodes)."""

    id: str
    impact: str
    help: str
    targets: tuple[str, ...]


def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[Violation]:
    """Run axe-core (every rule it has: WCAG 2.x A/AA and best practices) on the page as it is
    now, and return its violations of the given impacts."""
    results = _AXE.run(page, options={"resultTypes": ["violations"]})
    return [
        Violation(
            id=violation["id"],
            impact=violation["impact"],
            help=violation["help"],
            targets=tuple(" ".join(map(str, node["target"])) for node in violation["nodes"]),
        )
        for violation in results.response["violations"]
        if violation["impact"] in impacts
    ]


def pretty(violations: list[Violation]) -> str:
    """For an assertion's message: one line per rule, then the nodes that break it."""
    lines = []
    for violation in violations:
        lines.append(f"{violation.impact}: {violation.id} ({violation.help})")
        lines.extend(f"    {target}" for target in violation.targets)
    return "\n".join(lines)


def no_horizontal_scroll(page: Any) -> bool:
    """True when the page is no wider than the viewport (nothing to scroll sideways).

    Against the layout viewport (``clientWidth``, the device width the page's viewport meta asks
    for), not ``innerWidth``: a mobile browser zooms out to fit a too-wide page, and
    ``innerWidth`` then grows with the page, so the comparison would always hold on a phone."""
    return page.evaluate("document.scrollingElement.scrollWidth <= document.documentElement.clientWidth")


def login(page: Any, live_server: Any, user: Any, password: str | None = None) -> None:
    """Log ``user`` in through the login form, as a person would, and wait until the redirect
    has landed. Without ``password`` the user gets a fresh one first (factories hash theirs)."""
    if password is None:
        password = "a browser's password"
        user.set_password(password)
        user.save(update_fields=["password"])
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if page.url.startswith(f"{live_server.url}/login/"):
        raise AssertionError(f"login as {user.get_username()} failed: still on {page.url}")
