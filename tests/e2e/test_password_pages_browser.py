"""The password pages and the lockout page in a real browser: a forgotten password reset from the
login page on a phone, and five wrong passwords on a laptop, each page checked with axe."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.e2e.browser import login, no_horizontal_scroll, pretty
from tests.factories import EmployeeFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a brand new passphrase 42"


def assert_accessible(page, axe_violations) -> None:
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)


def test_a_forgotten_password_is_reset_from_the_login_page(
    live_server, phone_page, axe_violations, screenshot, settings
):
    # given a manager, and e-mailed links that point at this server
    settings.PULSE_BASE_URL = live_server.url
    user = UserFactory(username="ada@example.com")
    EmployeeFactory(email=user.username, name="Ada", role="manager", user=user)
    page = phone_page
    page.goto(f"{live_server.url}/login/")

    # when she asks for a reset
    with page.expect_navigation():
        page.get_by_role("link", name="Forgot your password?").tap()
    assert_accessible(page, axe_violations)
    page.get_by_label("E-mail").fill("ada@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Send the link").tap()

    # then the page says an e-mail is on its way, and it is
    assert page.locator("h1").inner_text() == "Check your e-mail"
    screenshot(page, "reset-sent")
    assert_accessible(page, axe_violations)
    (message,) = mail.outbox
    link = re.search(rf"{re.escape(live_server.url)}/password-reset/\S+/", message.body).group(0)

    # when she opens the link and types two different passwords
    page.goto(link)
    assert page.url.endswith("/set-password/")  # the token left the address bar
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD + "!")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the new password").tap()

    # then the problem is named in an accessible summary
    assert "The two password fields didn’t match." in page.locator("[role=alert]").inner_text()
    screenshot(page, "mismatch")
    assert_accessible(page, axe_violations)

    # when she types it twice the same
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Save the new password").tap()

    # then it is saved, and she logs in with it
    assert page.locator("h1").inner_text() == "Password changed"
    assert_accessible(page, axe_violations)
    login(page, live_server, user, password=NEW_PASSWORD)
    assert page.get_by_role("button", name="Log out").is_visible()


def test_five_wrong_passwords_show_the_lockout_page(live_server, desktop_page, axe_violations, screenshot):
    # given
    user = UserFactory(username="ada@example.com")
    page = desktop_page
    page.goto(f"{live_server.url}/login/")

    # when
    for _ in range(5):
        page.fill("#id_password", "wrong guess")
        if not page.input_value("#id_username"):
            page.fill("#id_username", user.username)
        with page.expect_navigation():
            page.click("button[type=submit]")

    # then
    assert page.locator("h1").inner_text() == "Too many failed attempts"
    assert page.get_by_role("link", name="Reset your password").is_visible()
    screenshot(page, "locked-out")
    assert_accessible(page, axe_violations)
