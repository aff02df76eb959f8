"""Managers and HR in a real browser: the team dashboard's chart and table, the heatmap, the risk
list and the waves page, each checked with axe; a manager can't open another team by URL."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.models import ExportAudit, TeamRisk
from surveys.intake import response_record
from surveys.models import Employee, Question, SurveyQuestion
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.e2e.browser import login, no_horizontal_scroll, pretty
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

START = date(2026, 8, 3)


@pytest.fixture
def org():
    """Acme ── Eng (6) ── ML (5), Acme ── Sales (6): four closed waves, Eng's own six slipping."""
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    for team, count in ((eng, 6), (ml, 5), (sales, 6)):
        EmployeeFactory.create_batch(count, team=team)
    survey = SurveyFactory()
    for position, question in enumerate(
        [
            QuestionFactory(code="b_w1", dimension="workload"),
            QuestionFactory(code="b_c1", dimension="connection"),
            QuestionFactory(code="b_e1", dimension="enps", scale=Question.Scale.NPS11),
        ]
    ):
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    for n in range(4):
        wave = wave_launch(survey=survey, teams=[acme], opens_on=START + timedelta(days=14 * n))
        skipped, seen = 0, {}
        for invitation in wave.invitations.select_related("team"):
            slipping = invitation.team.name == "Eng"
            # each team's members answer one of two in turn: no group says what each answered
            turn = seen.setdefault(invitation.team.name, 0) % 2
            seen[invitation.team.name] += 1
            answers = {"b_w1": (4 - n if slipping else 4) + turn, "b_c1": 3 + turn, "b_e1": 9 if turn else 6}
            if invitation.team.name == "ML" and n == 3 and skipped < 3:
                answers.pop("b_c1")  # three of ML skip connection in the last wave: 2 < k, hidden there
                skipped += 1
            response_record(token=token_for(invitation.id), answers=answers)
        call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def _user(role: str, manages=()):
    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user)
    employee.manages.set(manages)
    return user


def test_a_manager_sees_their_teams_chart_and_table_and_not_another_team(
    org, live_server, desktop_page, axe_violations, screenshot
):
    page = desktop_page
    login(page, live_server, _user(Employee.Role.MANAGER, manages=[org["eng"]]))

    # lands on their team
    assert page.url == f"{live_server.url}/teams/{org['eng'].pk}/"
    assert page.locator("h1").inner_text() == "Eng"
    workload = page.locator("article", has=page.locator("h3", has_text="Workload"))
    marks = workload.locator("figure.chart g[tabindex]")
    assert marks.count() == 4
    # Eng's subtree of 11 in the last wave: six at 1 or 2 (9), five at 4 or 5 (22) → 31 / 11 = 2.82
    assert marks.nth(3).get_attribute("aria-label").startswith("Sept. 14, 2026: 2.82")
    # the keyboard reaches a point and the value is written under the chart
    marks.nth(3).focus()
    assert workload.locator("figcaption.focused").inner_text().startswith("Sept. 14, 2026: 2.82")
    # the table alternative
    workload.locator("summary").click()
    rows = workload.locator("details table tbody tr")
    assert rows.count() == 4
    assert rows.nth(3).inner_text().split("\t")[1:] == ["2.82", "46 %", "11"]
    screenshot(page, "dashboard")
    violations = axe_violations(page)
    assert not violations, pretty(violations)
    assert no_horizontal_scroll(page)

    # another team, by URL: a plain 404, nothing about it
    response = page.goto(f"{live_server.url}/teams/{org['sales'].pk}/")
    assert response.status == 404
    assert "Sales" not in page.content()


def test_a_hidden_point_is_a_gap_with_its_reason(org, live_server, phone_page, axe_violations, screenshot):
    page = phone_page
    login(page, live_server, _user(Employee.Role.MANAGER, manages=[org["eng"]]))

    page.goto(f"{live_server.url}/teams/{org['ml'].pk}/")

    connection = page.locator("article", has=page.locator("h3", has_text="Connection"))
    gap = connection.locator("figure.chart g.gap")
    assert gap.count() == 1
    assert "fewer than 5 answers" in gap.get_attribute("aria-label")
    connection.locator("summary").click()
    assert "fewer than 5 answers" in connection.locator("details table tbody tr").nth(3).inner_text()
    screenshot(page, "gap")
    assert no_horizontal_scroll(page)
    violations = axe_violations(page)
    assert not violations, pretty(violations)


def test_hr_opens_the_heatmap_collapses_the_tree_and_drills_into_a_team(
    org, live_server, desktop_page, axe_violations, screenshot
):
    page = desktop_page
    login(page, live_server, _user(Employee.Role.HR))

    assert page.url == f"{live_server.url}/hr/"
    eng_row = page.locator("tr[data-path='Acme/Eng']")
    assert "46 %" in eng_row.inner_text()  # workload, last wave: 5 favourable of 11 (0.455)
    screenshot(page, "heatmap")
    violations = axe_violations(page)
    assert not violations, pretty(violations)

    # the tree collapses and opens again
    toggle = eng_row.locator("button.toggle")
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.locator("tr[data-path='Acme/Eng/ML']").is_hidden()
    toggle.click()
    assert page.locator("tr[data-path='Acme/Eng/ML']").is_visible()

    # drill into a team
    with page.expect_navigation():
        eng_row.get_by_role("link", name="Eng").click()
    assert page.url == f"{live_server.url}/teams/{org['eng'].pk}/"

    for path, name in (("/hr/risks/", "risks"), ("/hr/waves/", "waves")):
        page.goto(f"{live_server.url}{path}")
        screenshot(page, name)
        violations = axe_violations(page)
        assert not violations, f"{path}\n{pretty(violations)}"


def test_a_chart_is_one_tab_stop_and_the_arrow_keys_move_between_its_waves(org, live_server, desktop_page):
    page = desktop_page
    login(page, live_server, _user(Employee.Role.MANAGER, manages=[org["eng"]]))
    workload = page.locator("article", has=page.locator("h3", has_text="Workload"))
    caption = workload.locator("figcaption.focused")

    # Tab reaches the chart's latest wave, once
    latest = workload.locator("figure.chart g[tabindex='0']")
    assert latest.count() == 1
    latest.focus()
    assert caption.inner_text().startswith("Sept. 14, 2026: 2.82")

    # the arrow keys, Home and End walk the waves, the tab stop following the focus
    page.keyboard.press("ArrowLeft")
    assert caption.inner_text().startswith("Aug. 31, 2026: ")
    assert workload.locator("figure.chart g[tabindex='0']").get_attribute("aria-label").startswith("Aug. 31, 2026")
    page.keyboard.press("Home")
    assert caption.inner_text().startswith("Aug. 3, 2026: ")
    page.keyboard.press("ArrowLeft")  # stays on the first
    assert caption.inner_text().startswith("Aug. 3, 2026: ")
    page.keyboard.press("End")
    assert caption.inner_text().startswith("Sept. 14, 2026: ")

    # and the next Tab leaves the chart for its table, not for the chart's next point
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert workload.locator("summary").evaluate("(node) => node === document.activeElement")


def test_hr_pages_with_long_team_paths_fit_a_phone(org, live_server, phone_page, axe_violations, screenshot):
    # given teams with long paths, their risk rows, and exports that name them
    parent = TeamFactory(name="Engineering and Product Development", parent=org["acme"])
    deep = TeamFactory(name="Machine Learning Platform Infrastructure Reliability", parent=parent)
    EmployeeFactory.create_batch(5, team=deep)
    TeamRisk.objects.create(
        team=deep,
        level="elevated",
        score=0.123,
        reasons=[{"code": "workload", "value": 2.5, "org": 3.5}],
        computed_at=timezone.now(),
    )
    hr = _user(Employee.Role.HR)
    for _ in range(3):
        ExportAudit.objects.create(
            user=hr,
            username=hr.username,
            format="xlsx",
            channel="web",
            rows=1234,
            finished=True,
            filters={"waves": [1, 2, 3, 4], "teams": [deep.pk], "team_paths": [deep.path, parent.path]},
        )
    page = phone_page
    login(page, live_server, hr)

    pages = [
        ("/hr/risks/", "risks"),
        ("/hr/exports/", "exports"),
        ("/hr/exports/log/", "export-log"),
        ("/hr/waves/", "waves"),
        (f"/teams/{deep.pk}/", "team"),
        (f"/teams/{org['eng'].pk}/", "team-eng"),
    ]
    for path, name in pages:
        page.goto(f"{live_server.url}{path}")
        screenshot(page, f"phone-{name}")
        assert no_horizontal_scroll(page), f"{path} scrolls sideways on a phone"
        violations = axe_violations(page)
        assert not violations, f"{path}\n{pretty(violations)}"
    # the long path is on the page, wrapped rather than cut
    page.goto(f"{live_server.url}/hr/risks/")
    assert page.get_by_role("link", name=deep.path).is_visible()
