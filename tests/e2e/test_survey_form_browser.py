"""The answer form in a real browser: clean URL, keyboard only, no JavaScript, a phone-sized screen."""

from __future__ import annotations

import pytest

from surveys.models import Submission
from tests.e2e.browser import no_horizontal_scroll, pretty
from tests.sealed import submissions_opened
from tests.surveys.test_intake import make_invitation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


def press_tab_until(page, element_id: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_an_employee_answers_on_a_phone_with_the_keyboard_only(live_server, new_context, screenshot):
    # given
    invitation = make_invitation()
    context = new_context(viewport=PHONE)
    page = context.new_page()

    # when: the e-mailed link is opened
    page.goto(f"{live_server.url}/s/{invitation.token}/")

    # then: the token has left the address bar, and lives in an HttpOnly cookie for /s/ only
    assert page.url == f"{live_server.url}/s/"
    assert page.evaluate("location.href").endswith("/s/")
    (cookie,) = [c for c in context.cookies() if c["name"] == "pulse_survey"]
    assert (cookie["value"], cookie["path"], cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
        invitation.token,
        "/s/",
        True,
        "Lax",
        False,  # live_server is plain HTTP (PULSE_HTTPS off)
    )
    assert page.evaluate("document.cookie").find(invitation.token) == -1  # not readable by scripts

    # the page fits a 375-px phone, styled by pulse.css
    assert page.evaluate("getComputedStyle(document.querySelector('fieldset')).borderRadius") == "8px"
    assert screenshot(page, "form-375").stat().st_size > 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # when: every answer is given with Tab, Space and the arrow keys
    press_tab_until(page, "t_workload-1")
    page.keyboard.press("Space")  # 1
    for _ in range(3):
        page.keyboard.press("ArrowDown")  # 2, 3, 4
    assert page.evaluate("document.activeElement.id") == "t_workload-4"
    # focus is visible: the focused option's box gets pulse.css's outline
    assert page.evaluate("getComputedStyle(document.activeElement.closest('label')).outlineStyle") == "solid"
    page.keyboard.press("Tab")  # into the next question
    assert page.evaluate("document.activeElement.id") == "t_growth-1"
    page.keyboard.press("Tab")  # skip it: on to the 0..10 question
    assert page.evaluate("document.activeElement.id") == "t_enps-0"
    page.keyboard.press("Space")
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    # the script counts what is answered, in a polite live region (nothing counted twice)
    progress = page.locator("#survey-progress")
    assert (progress.is_visible(), progress.inner_text()) == (True, "2 of 3 answered")
    assert page.locator("legend").first.inner_text().startswith("Question 1 of 3")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "comment"
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    page.keyboard.press("Space")

    # then
    page.wait_for_url(f"{live_server.url}/s/thanks/**")
    assert page.locator("h1").inner_text() == "Thank you"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert [c for c in context.cookies() if c["name"] == "pulse_survey"] == []
    context.close()
    invitation.refresh_from_db()
    assert invitation.responded is True
    (opened,) = submissions_opened()
    assert (opened.answers, opened.comment) == ([("t_enps", 8), ("t_workload", 4)], "Typed without a mouse")


def test_the_form_works_without_javascript(live_server, new_context):
    # given
    invitation = make_invitation()
    context = new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    assert page.url == f"{live_server.url}/s/"

    # when: tap the options' labels and send
    page.click("label[for=t_workload-2]")
    page.click("label[for=t_growth-5]")
    page.click("label[for=t_enps-10]")
    # the questions are still numbered; the script's counter stays hidden
    assert page.locator("legend").nth(2).inner_text().startswith("Question 3 of 3")
    assert page.locator("#survey-progress").is_hidden()
    page.click("button[type=submit]")

    # then
    page.wait_for_url(f"{live_server.url}/s/thanks/**")
    assert page.locator("h1").inner_text() == "Thank you"
    context.close()
    (opened,) = submissions_opened()
    assert opened.answers == [("t_enps", 10), ("t_growth", 5), ("t_workload", 2)]
    invitation.refresh_from_db()
    assert invitation.responded is True


def test_an_empty_form_comes_back_with_the_problem_named(live_server, new_context):
    invitation = make_invitation()
    context = new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{invitation.token}/")

    page.click("button[type=submit]")

    assert page.url == f"{live_server.url}/s/"
    assert page.locator("[role=alert] li").all_inner_texts() == ["answer at least one question"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
    assert Submission.objects.count() == 0


def test_the_form_and_its_problems_pass_axe_on_a_laptop(live_server, desktop_page, axe_violations, screenshot):
    # given: the wide layout (the agreement options side by side)
    invitation = make_invitation()
    page = desktop_page
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    assert page.evaluate("getComputedStyle(document.querySelector('.scale.likert5')).flexDirection") == "row"
    screenshot(page, "form")
    violations = axe_violations(page)
    assert not violations, pretty(violations)

    # when: sent empty
    page.click("button[type=submit]")

    # then: the problem is named at the top, and that page passes too
    assert page.locator("[role=alert] li").all_inner_texts() == ["answer at least one question"]
    screenshot(page, "problem")
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)
    assert Submission.objects.count() == 0
