"""The manager dashboard and the HR pages, end to end through the real services (launch, record,
close, seal, analyse): what is shown is exactly what the gate released, and nothing more."""

from __future__ import annotations

import html as html_module
import io
import re
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.models import TeamRisk
from surveys.intake import response_record
from surveys.models import Employee, Question, Survey, SurveyQuestion, Team, Wave
from surveys.tokens import token_for
from surveys.waves import wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

# Acme (2 direct) ── Eng (6 direct) ── ML (5)
#                └── Sales (3): fewer than k, its answers go to Acme
# Wave 1: everyone answers workload 4 or 5 (favourable); wave 2: Eng's own six answer 2 or 3, ML 4 or 5.
START = date(2026, 9, 7)


@pytest.fixture
def org():
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    for team, count in ((acme, 2), (eng, 6), (ml, 5), (sales, 3)):
        EmployeeFactory.create_batch(count, team=team)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


@pytest.fixture
def survey():
    survey = SurveyFactory(comment_enabled=True)
    for position, question in enumerate(
        [
            QuestionFactory(code="d_w1", dimension="workload"),
            QuestionFactory(code="d_e1", dimension="enps", scale=Question.Scale.NPS11),
        ]
    ):
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def _wave(org, survey: Survey, *, opens_on: date, workload, comment=lambda team: "") -> Wave:
    """Each team's members answer workload(team) and one more in turn, and eNPS 9 and 7 in turn:
    no group's values say what each of its members answered."""
    wave = wave_launch(survey=survey, teams=[org["acme"]], opens_on=opens_on)
    seen: dict[str, int] = {}
    for invitation in wave.invitations.select_related("team"):
        team = invitation.team.name
        turn = seen.setdefault(team, 0) % 2
        seen[team] += 1
        response_record(
            token=token_for(invitation.id),
            answers={"d_w1": workload(team) + turn, "d_e1": 7 if turn else 9},
            comment=comment(team),
        )
    return wave


def _close(wave: Wave) -> Wave:
    call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return Wave.objects.get(pk=wave.pk)


@pytest.fixture
def history(org, survey):
    first = _close(_wave(org, survey, opens_on=START, workload=lambda team: 4))
    second = _close(
        _wave(
            org,
            survey,
            opens_on=START + timedelta(days=14),
            workload=lambda team: 2 if team == "Eng" else 4,
            comment=lambda team: "More focus time, please" if team == "ML" else "",
        )
    )
    return first, second


def _login(*, role: str, manages=()) -> Client:
    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user)
    employee.manages.set(manages)
    client = Client()
    client.force_login(user)
    return client


def _text(response) -> str:
    """The page's visible text, tags stripped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_a_manager_lands_on_their_team_and_sees_its_released_values(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    home = client.get("/")
    board = client.get("/dashboard/")
    page = client.get(board["Location"])

    assert home.status_code == 302 and home["Location"] == "/dashboard/"
    assert board.status_code == 302 and board["Location"] == f"/teams/{org['eng'].pk}/"
    assert page.status_code == 200
    text = _text(page)
    # Eng's subtree (11): wave 1 six 4, 5, 4, 5, 4, 5 and five 4, 5, 4, 5, 4 → 49 / 11 = 4.45 (100%
    # favourable); wave 2 six 2, 3, ... (15) and five 4, 5, ... (22) → 37 / 11 = 3.36, 5 of 11 favourable
    assert "Workload" in text and "3.36 (46% favourable)" in text
    assert "−1.09" in text  # 3.36 − 4.45, since the last wave
    assert "Engagement index" in text
    # the chart: one focusable mark per wave, named by its value
    assert page.content.decode().count('class="point" tabindex="0"') >= 4
    assert 'aria-label="2026-09-21: 3.36 (46%)"' in page.content.decode()
    # the picker lists the manager's subtree and nothing above it
    assert "ML" in text and "Sales" not in text and ">Acme<" not in page.content.decode()


def test_the_risk_reasons_on_the_dashboard_are_in_the_readers_language(org, history):
    # given Eng's churn risk stored as data (the codes and released numbers analytics/risk.py stores)
    TeamRisk.objects.filter(team=org["eng"]).update(
        reasons=[
            {"code": "workload", "value": 2.91, "org": 3.47},
            {"code": "participation_change", "value": -0.25, "base": 0.85, "lag": 1},
        ]
    )
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    # when an English and a German browser open Eng's page
    english = _text(client.get(f"/teams/{org['eng'].pk}/", HTTP_ACCEPT_LANGUAGE="en"))
    german = _text(client.get(f"/teams/{org['eng'].pk}/", HTTP_ACCEPT_LANGUAGE="de"))

    # then each reads the reasons in their own words
    assert "workload worse than the whole organisation (2.9 against 3.5)" in english
    assert "participation fell from 85 % to 60 %" in english
    assert "Arbeitslast schlechter als in der gesamten Organisation (2,9 gegenüber 3,5)" in german
    assert "Beteiligung von 85 % auf 60 % gesunken" in german
    assert "whole organisation" not in german and "gesamten Organisation" not in english


def test_another_teams_page_is_a_404_for_a_manager(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    assert client.get(f"/teams/{org['ml'].pk}/").status_code == 200
    assert client.get(f"/teams/{org['acme'].pk}/").status_code == 404
    assert client.get(f"/teams/{org['sales'].pk}/").status_code == 404
    assert client.get("/teams/999999/").status_code == 404
    for hr_page in ("/hr/", "/hr/risks/", "/hr/waves/", f"/hr/waves/{history[0].pk}/"):
        assert client.get(hr_page).status_code == 404


def test_a_team_whose_answers_went_upward_says_where_and_shows_no_number(org, history):
    client = _login(role=Employee.Role.HR)

    text = _text(client.get(f"/teams/{org['sales'].pk}/"))

    assert "counted with Acme" in text
    assert "favourable)" not in text  # no value of its own in any wave


def test_comments_only_where_the_group_clears_the_comment_threshold(org, history):
    client = _login(role=Employee.Role.HR)

    acme = _text(client.get(f"/teams/{org['acme'].pk}/"))  # 16 answers
    eng = _text(client.get(f"/teams/{org['eng'].pk}/"))  # 11, but Acme without Eng is 5 < 10
    ml = _text(client.get(f"/teams/{org['ml'].pk}/"))  # 5 answers < 10

    assert acme.count("More focus time, please") == 5  # ML's five, in the wave they were given
    assert "No comments in this wave" in acme  # the first wave had none
    for page in (eng, ml):
        assert "More focus time, please" not in page
        assert "comments need at least 10 answers" in page


def test_an_open_wave_shows_only_participation(org, survey, history):
    wave = wave_launch(survey=survey, teams=[org["acme"]], opens_on=START + timedelta(days=28))
    invitation = wave.invitations.filter(team=org["eng"]).first()
    response_record(token=token_for(invitation.id), answers={"d_w1": 1, "d_e1": 0})
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    text = _text(client.get(f"/teams/{org['eng'].pk}/"))

    assert "1 of 11 invited have answered so far" in text
    assert "Results appear when the wave closes" in text
    assert "1.00" not in text  # the one answer in the open wave is nowhere


def test_hr_heatmap_prints_released_shares_and_marks_the_rest_with_their_reason(org, history):
    client = _login(role=Employee.Role.HR)

    home = client.get("/")
    page = client.get("/hr/")

    assert home["Location"] == "/hr/"
    html = page.content.decode()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-path="([^"]+)">(.*?)</tr>', html, flags=re.S)}
    eng_row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rows["Acme/Eng"]))
    assert "46%" in eng_row  # workload in wave 2: 5 favourable of 11 item answers (0.455)
    assert "55%" in eng_row  # eNPS: 6 promoters of 11
    assert "counted with Acme" in rows["Acme/Sales"]
    assert 'class="num heat-2"' in rows["Acme/Eng"]  # 45% on the six-step scale
    # the earlier wave can be picked
    earlier = client.get("/hr/", {"wave": history[0].pk}).content.decode()
    assert "100%" in earlier and client.get("/hr/", {"wave": "x"}).status_code == 404


def test_hr_risk_list_and_waves_with_participation(org, history):
    client = _login(role=Employee.Role.HR)

    risks = client.get("/hr/risks/")
    waves = client.get("/hr/waves/")
    wave = client.get(f"/hr/waves/{history[1].pk}/")

    assert risks.status_code == 200
    shown = re.findall(r'<th scope="row"><a href="/teams/(\d+)/">', risks.content.decode())
    assert sorted(int(pk) for pk in shown) == sorted(TeamRisk.objects.values_list("team_id", flat=True))
    assert waves.status_code == 200 and f'href="/hr/waves/{history[1].pk}/"' in waves.content.decode()
    text = _text(wave)
    assert "Eng 11 11 100%" in text  # invited, answered, rate
    assert "Sales hidden this team's answers are counted with Acme" in text


def test_live_participation_is_shown_only_for_groups_with_k_invited(org, survey, history):
    wave = wave_launch(survey=survey, teams=[org["acme"]], opens_on=START + timedelta(days=28))
    client = _login(role=Employee.Role.HR)

    text = _text(client.get(f"/hr/waves/{wave.pk}/"))

    assert "Eng 11 0 0%" in text
    assert "Sales hidden fewer than 5 people invited" in text


def test_the_root_sends_each_visitor_where_they_belong(org):
    anonymous = Client().get("/")
    nobody = _login(role=Employee.Role.EMPLOYEE)

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert nobody.get("/")["Location"] == "/dashboard/"
    assert "manages no team" in _text(nobody.get("/dashboard/"))
    assert Client().get("/hr/")["Location"].startswith("/login/")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_dashboard_and_heatmap_queries_do_not_grow_with_the_organisation(org, survey, history):
    client = _login(role=Employee.Role.HR)
    before = (_queries(client, f"/teams/{org['eng'].pk}/"), _queries(client, "/hr/"), _queries(client, "/hr/risks/"))

    # given: the organisation grows by four teams of six and a third wave
    for i in range(4):
        EmployeeFactory.create_batch(6, team=TeamFactory(name=f"New {i}", parent=org["acme"]))
    _close(_wave(org, survey, opens_on=START + timedelta(days=28), workload=lambda team: 3))

    after = (_queries(client, f"/teams/{org['eng'].pk}/"), _queries(client, "/hr/"), _queries(client, "/hr/risks/"))
    assert after == before
    assert Team.objects.filter(name__startswith="New ").count() == 4


def _picker(response) -> list[str]:
    """The team names the page's picker lists, but the root teams the logins' employees were given."""
    nav = re.search(r'<nav class="picker".*?</nav>', response.content.decode(), flags=re.S).group(0)
    logins = set(Team.objects.filter(parent=None).exclude(name="Acme").values_list("name", flat=True))
    return [name for name in re.findall(r'<a href="/teams/\d+/"[^>]*>([^<]+)</a>', nav) if name not in logins]


def test_the_picker_shows_the_way_down_to_the_team_not_every_team(org, history):
    TeamFactory(name="EMEA", parent=org["sales"])
    hr = _login(role=Employee.Role.HR)
    manager = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    # HR: the tops, every team on the way down with its children, the team's own children
    assert _picker(hr.get(f"/teams/{org['ml'].pk}/")) == ["Acme", "Eng", "ML", "Sales"]
    assert _picker(hr.get(f"/teams/{org['sales'].pk}/")) == ["Acme", "Eng", "Sales", "EMEA"]
    # a manager: the same below the team they manage, nothing above it
    assert _picker(manager.get(f"/teams/{org['ml'].pk}/")) == ["Eng", "ML"]


def test_the_closed_waves_part_is_rendered_once_per_analysis_and_language(org, survey, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])
    url = f"/teams/{org['eng'].pk}/"
    first = client.get(url)

    # when: the same page again
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)

    # then: the same page, without reading the releases again
    assert _text(again) == _text(first)  # (the logout form's CSRF token differs)
    assert not [q for q in queries.captured_queries if "analytics_dimensionrelease" in q["sql"]]

    # a new wave's analysis is on the page as soon as it is published
    _close(_wave(org, survey, opens_on=START + timedelta(days=28), workload=lambda team: 1))
    assert 'aria-label="2026-10-05: ' in client.get(url).content.decode()

    # another language gets its own rendering, not the English one
    german = _text(client.get(url, headers={"accept-language": "de"}))
    assert "Beteiligung" in german or "Teilnahme" in german
