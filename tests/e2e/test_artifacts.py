"""The browser tests' screenshots: at named steps, and of every open page when a test fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, artifact_name, chromium_missing_reason

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# Only the browser tests' own fixtures: no Django, no project settings.
PLUGINS = ["-p", "no:django", "-p", "no:cacheprovider", "-p", "tests.e2e.conftest"]
PNG = b"\x89PNG\r\n\x1a\n"

INNER = """
def test_passes(new_context, screenshot):
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_content("<h1>Fine</h1>")
    screenshot(page, "named step")


def test_fails(new_context):
    first = new_context().new_page()
    first.set_content("<h1>One</h1>")
    second = new_context().new_page()
    second.set_content("<h1>Two</h1>")
    assert first.locator("h1").inner_text() == "Three"
"""


def test_artifact_names_are_safe_file_names():
    assert artifact_name("test_x[phone_page]", "after login") == "test_x_phone_page_-after_login.png"
    assert artifact_name("test_y", "form") == "test_y-form.png"


def test_the_skip_names_why_chromium_is_missing(tmp_path):
    assert chromium_missing_reason(tmp_path) == (
        "needs Chromium at /usr/bin/chromium: `make test` installs Debian's chromium package when run as root;"
        " or run 'apt-get install chromium'"
    )
    (tmp_path / "chromium-install.log").write_text("E: Unable to locate package chromium\n")
    assert chromium_missing_reason(tmp_path).endswith("; it did not: E: Unable to locate package chromium")


def test_named_steps_and_failures_leave_screenshots_where_the_variable_says(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    # given: two browser tests, one passing and one failing, with their own artefacts folder
    (tmp_path / "test_inner.py").write_text(INNER)
    out = tmp_path / "shots"
    env = {**os.environ, "PULSE_E2E_ARTIFACTS": str(out), "PYTHONPATH": str(ROOT)}

    # when
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *PLUGINS, "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then: the step of the passing test, and both open pages of the failing one; no more
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "test_fails-failure-2.png",
        "test_fails-failure.png",
        "test_passes-named_step.png",
    ]
    assert all(path.read_bytes().startswith(PNG) for path in out.iterdir())
