"""The manager dashboard and the HR pages, end to end through the real services (launch, record,
close, seal, analyse): what is shown is exactly what the gate released, and nothing more."""

from __future__ import annotations

import html as html_module
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from analytics import selectors
from analytics.models import TeamRisk, TeamTrend
from analytics.selectors import Trend
from surveys.emails import closing_time_display
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


def _login(*, role: str, manages=(), locale: str = "en", timezone: str = "Europe/Berlin") -> Client:
    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user, locale=locale, timezone=timezone)
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
    assert "Workload" in text and "3.36 (46 % favourable)" in text
    assert "−1.09" in text  # 3.36 − 4.45, since the last wave
    assert "Engagement index" in text
    # the chart: a mark per wave, named by its value; the latest is the chart's one tab stop
    html = page.content.decode()
    assert html.count('class="point" tabindex="-1"') >= 2 and html.count('class="point" tabindex="0"') >= 2
    assert 'aria-label="Sept. 21, 2026: 3.36 (46 %)"' in html
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
    english_reader = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="en")
    german_reader = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de")

    # when an English and a German manager open Eng's page
    english = _text(english_reader.get(f"/teams/{org['eng'].pk}/"))
    german = _text(german_reader.get(f"/teams/{org['eng'].pk}/"))

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
    assert "46 %" in eng_row  # workload in wave 2: 5 favourable of 11 item answers (0.455)
    assert "55 %" in eng_row  # eNPS: 6 promoters of 11
    assert "counted with Acme" in rows["Acme/Sales"]
    assert 'class="num heat-2"' in rows["Acme/Eng"]  # 45% on the six-step scale
    # the earlier wave can be picked
    earlier = client.get("/hr/", {"wave": history[0].pk}).content.decode()
    assert "100 %" in earlier and client.get("/hr/", {"wave": "x"}).status_code == 404


def test_hr_risk_list_and_waves_with_participation(org, history):
    client = _login(role=Employee.Role.HR)

    risks = client.get("/hr/risks/")
    waves = client.get("/hr/waves/")
    wave = client.get(f"/hr/waves/{history[1].pk}/")

    assert risks.status_code == 200
    shown = re.findall(r'<th scope="row" class="path"><a href="/teams/(\d+)/">', risks.content.decode())
    assert sorted(int(pk) for pk in shown) == sorted(TeamRisk.objects.values_list("team_id", flat=True))
    assert waves.status_code == 200 and f'href="/hr/waves/{history[1].pk}/"' in waves.content.decode()
    text = _text(wave)
    assert "Eng 11 11 100 %" in text  # invited, answered, rate
    assert "Sales hidden this team's answers are counted with Acme" in text


def test_live_participation_is_shown_only_for_groups_with_k_invited(org, survey, history):
    wave = wave_launch(survey=survey, teams=[org["acme"]], opens_on=START + timedelta(days=28))
    client = _login(role=Employee.Role.HR)

    text = _text(client.get(f"/hr/waves/{wave.pk}/"))

    assert "Eng 11 0 0 %" in text
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
    assert 'aria-label="Oct. 5, 2026: ' in client.get(url).content.decode()

    # another language gets its own rendering, not the English one
    Employee.objects.filter(manages=org["eng"]).update(locale="de")
    german = _text(client.get(url))
    assert "Beteiligung" in german and "Participation" not in german


# --- the reader's language, numbers and time zone ------------------------------------------------

ENGLISH_ON_THE_TEAM_PAGE = (
    "Your teams",
    "Churn risk",
    "Latest",
    "Since the last wave",
    "Over the last quarter",
    "as a table",
    "Wave",
    "Mean",
    "Favourable",
    "favourable",
    "Answers",
    "Invited",
    "Answered",
    "Rate",
    "Comments",
    "Engagement index",
    "Participation",
    "Sentiment",
    "hidden",
    "needs two waves",
    "over waves",
)


def _words(text: str, words) -> list[str]:
    return [word for word in words if re.search(rf"\b{re.escape(word)}\b", text)]


def test_a_german_manager_reads_the_dashboard_in_german_with_german_numbers(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de")

    page = client.get(f"/teams/{org['eng'].pk}/", HTTP_ACCEPT_LANGUAGE="en")  # an English browser

    html, text = page.content.decode(), _text(page)
    assert '<html lang="de">' in html
    headings = ("Deine Teams", "Fluktuationsrisiko", "Neueste Runde", "Seit der letzten Runde", "Im letzten Quartal")
    assert [heading for heading in headings if heading not in text] == []
    assert "Arbeitslast als Tabelle" in text and "Engagement-Index" in text
    # Eng's subtree in wave 2: 37 / 11 = 3.36, 5 of 11 favourable; the change since wave 1 −1.09
    assert "3,36 (46 % positiv)" in text and "−1,09" in text
    assert "Runde Mittelwert Positiv Antworten" in text and "Runde Eingeladen Geantwortet Quote" in text
    assert "21. September 2026 3,36 46 % 11" in text  # the table's row
    assert 'aria-label="21. September 2026: 3,36 (46 %)"' in html  # the chart's mark
    assert ">21. Sep</text>" in html and ">07. Sep" not in html  # the axis, in German
    assert "Runde vom 21. September 2026 · " in text  # the comments
    assert _words(text, ENGLISH_ON_THE_TEAM_PAGE) == []


def test_an_english_manager_reads_english_numbers_whatever_the_browser(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="en")

    text = _text(client.get(f"/teams/{org['eng'].pk}/", HTTP_ACCEPT_LANGUAGE="de"))

    assert "3.36 (46 % favourable)" in text and "−1.09" in text and "Sept. 21, 2026 3.36 46 % 11" in text
    assert "Fluktuationsrisiko" not in text and "3,36" not in text


def test_the_hr_pages_speak_german_to_a_german_hr_person(org, history):
    client = _login(role=Employee.Role.HR, locale="de")

    urls = ("/hr/", "/hr/risks/", "/hr/waves/", "/hr/exports/", "/hr/exports/log/")
    pages = {url: _text(client.get(url)) for url in urls}

    assert "Übersicht über die Organisation" in pages["/hr/"] and "46 %" in pages["/hr/"]
    assert "Teams nach Fluktuationsrisiko" in pages["/hr/risks/"]
    assert "Beginn Umfrage Ende Status" in pages["/hr/waves/"] and "Abgeschlossen am " in pages["/hr/waves/"]
    assert "Bericht exportieren" in pages["/hr/exports/"] and "21. September 2026 · " in pages["/hr/exports/"]
    assert "Noch keine Exporte." in pages["/hr/exports/log/"]
    english = ("Organisation overview", "Churn risk", "Waves", "Closed", "Export the report", "Export log", "Wave")
    assert {url: _words(text, english) for url, text in pages.items()} == {url: [] for url in pages}


def test_a_language_chosen_on_the_site_wins_over_the_employee_locale(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de")

    chosen = client.post("/i18n/setlang/", {"language": "en", "next": f"/teams/{org['eng'].pk}/"})
    text = _text(client.get(f"/teams/{org['eng'].pk}/", HTTP_ACCEPT_LANGUAGE="de"))

    assert chosen.status_code == 302
    assert "Your teams" in text and "Deine Teams" not in text


def test_a_login_whose_employee_row_is_found_by_its_email_reads_its_locale(org, history):
    # given a login not linked to its employee row, which has the same address
    user = UserFactory()
    EmployeeFactory(email=user.username, locale="de")
    client = Client()
    client.force_login(user)

    page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")

    assert page["Content-Language"] == "de"
    assert "Dieses Login leitet kein Team" in _text(page)


def test_a_login_without_an_employee_row_and_the_api_follow_the_browser(org, history):
    # given a superuser without an employee row, and a German HR person calling the API
    admin = UserFactory(is_superuser=True, is_staff=True)
    superuser = Client()
    superuser.force_login(admin)
    german_hr = _login(role=Employee.Role.HR, locale="de")

    # then the pages follow the browser for the former, the API the request for the latter
    assert "Übersicht über die Organisation" in _text(superuser.get("/hr/", HTTP_ACCEPT_LANGUAGE="de"))
    assert "Organisation overview" in _text(superuser.get("/hr/", HTTP_ACCEPT_LANGUAGE="en"))
    reasons = german_hr.get(f"/api/v1/teams/{org['eng'].pk}/results/?wave=999999", HTTP_ACCEPT_LANGUAGE="en")
    assert reasons.status_code == 404 and reasons["Content-Language"] == "en"


def test_the_verdict_counts_the_answers_not_the_team(org, history):
    # given Eng's trends judged stable (its latest wave: 11 answers from its subtree)
    TeamTrend.objects.filter(team=org["eng"]).update(direction="stable", slope=0.0, p_value=0.5)
    english = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])
    german = _login(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de")

    assert "Within normal variation for 11 answers." in _text(english.get(f"/teams/{org['eng'].pk}/"))
    assert "Im Rahmen der normalen Schwankung bei 11 Antworten." in _text(german.get(f"/teams/{org['eng'].pk}/"))
    assert selectors.trend_verdict(Trend("stable", 0.0, 0.5), respondents=1) == "Within normal variation for 1 answer."


def test_hr_waves_says_when_a_closed_wave_closed_and_when_an_open_one_closes_in_the_readers_zone(org, survey, history):
    # given a back-filled wave closed at a known moment, long before its planned end, and an open one
    first, _ = history
    Wave.objects.filter(pk=first.pk).update(
        closed_at=datetime(2026, 9, 21, 8, 30, tzinfo=UTC), closes_at=datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    )
    running = wave_launch(survey=survey, teams=[org["acme"]], opens_on=START + timedelta(days=28))
    berlin = _login(role=Employee.Role.HR, timezone="Europe/Berlin")
    tokyo = _login(role=Employee.Role.HR, timezone="Asia/Tokyo", locale="de")

    in_berlin = _text(berlin.get("/hr/waves/"))
    in_tokyo = _text(tokyo.get("/hr/waves/"))

    assert "Closed Sept. 21, 2026, 10:30 a.m. CEST (Europe/Berlin)" in in_berlin
    assert "Dec. 31, 2026" not in in_berlin and "Jan. 1, 2027" not in in_berlin  # the planned end
    assert f"Closes {closing_time_display(running.closes_at, 'Europe/Berlin')} Open" in in_berlin
    assert "Abgeschlossen am 21. September 2026 17:30 JST (Asia/Tokyo)" in in_tokyo
    with translation.override("de"):
        assert f"Endet am {closing_time_display(running.closes_at, 'Asia/Tokyo')} Offen" in in_tokyo


def test_comments_of_waves_opened_the_same_day_are_told_apart(org, survey, history):
    # given another survey's wave and a second wave of the same survey, opened the day of wave 2
    other = SurveyFactory(name="Onboarding check", comment_enabled=True)
    SurveyQuestion.objects.create(survey=other, question=Question.objects.get(code="d_w1"), position=0)
    SurveyQuestion.objects.create(survey=other, question=Question.objects.get(code="d_e1"), position=1)
    day = history[1].opens_on
    onboarding = _close(_wave(org, other, opens_on=day, workload=lambda team: 4, comment=lambda team: "Hi"))
    again = _close(_wave(org, survey, opens_on=day, workload=lambda team: 4, comment=lambda team: "Hello"))
    client = _login(role=Employee.Role.HR)

    text = _text(client.get(f"/teams/{org['acme'].pk}/"))

    name = survey.name
    assert "Wave of Sept. 21, 2026 · Onboarding check Not shown" not in text
    assert "Wave of Sept. 21, 2026 · Onboarding check" in text
    assert f"Wave of Sept. 21, 2026 · {name} (wave #{history[1].pk})" in text
    assert f"Wave of Sept. 21, 2026 · {name} (wave #{again.pk})" in text
    assert f"(wave #{onboarding.pk})" not in text  # its name alone tells it apart


def test_each_chart_is_a_single_tab_stop(org, history):
    client = _login(role=Employee.Role.MANAGER, manages=[org["eng"]])

    html = client.get(f"/teams/{org['eng'].pk}/").content.decode()

    charts = html.count('<figure class="chart">')
    assert charts >= 2
    assert html.count('tabindex="0" role="img"') == charts  # the latest wave of each
    assert html.count('tabindex="-1" role="img"') == charts  # the other wave of each
