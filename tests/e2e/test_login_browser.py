"""The login page in a real browser: accessible on a phone and a laptop, and the ``login`` helper
that the other browser tests of logged-in pages build on."""

from __future__ import annotations

import pytest

from tests.e2e.browser import login, no_horizontal_scroll, pretty
from tests.factories import EmployeeFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def session_cookies(page) -> list[str]:
    return [cookie["name"] for cookie in page.context.cookies() if cookie["name"] == "sessionid"]


@pytest.mark.parametrize("device", ["phone_page", "desktop_page"])
def test_the_login_page_is_accessible(live_server, device, request, axe_violations, screenshot):
    page = request.getfixturevalue(device)

    page.goto(f"{live_server.url}/login/")

    assert page.locator("h1").inner_text() == "Log in"
    screenshot(page, "login")
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)


def test_a_wrong_password_is_named_accessibly_and_logs_nobody_in(live_server, phone_page, axe_violations, screenshot):
    # given
    user = UserFactory()
    page = phone_page
    page.goto(f"{live_server.url}/login/")

    # when
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not the password")
    with page.expect_navigation():
        page.tap("button[type=submit]")

    # then
    assert page.url == f"{live_server.url}/login/"
    assert page.locator("[role=alert]").inner_text() == "Your e-mail and password didn't match. Please try again."
    screenshot(page, "refused")
    violations = axe_violations(page)
    assert not violations, pretty(violations)
    assert session_cookies(page) == []


def test_login_logs_in_through_the_form(live_server, desktop_page, axe_violations):
    # given: someone from HR
    user = UserFactory()
    EmployeeFactory(email=user.username, role="hr", user=user)
    page = desktop_page

    # when
    login(page, live_server, user)

    # then: sent on to the organisation overview, logged in
    assert page.url == f"{live_server.url}/hr/"
    assert page.get_by_role("button", name="Log out").is_visible()
    assert session_cookies(page) == ["sessionid"]
    violations = axe_violations(page)
    assert not violations, pretty(violations)


def test_login_says_so_when_it_fails(live_server, desktop_page):
    user = UserFactory()

    with pytest.raises(AssertionError, match=f"login as {user.username} failed"):
        login(desktop_page, live_server, user, password="not the password")

    assert session_cookies(desktop_page) == []
