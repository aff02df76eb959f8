from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from surveys.intake import response_record
from surveys.models import Answer, Comment, Employee, Invitation, Response, Schedule, Submission, Team, Wave
from surveys.waves import wave_close
from tests.factories import EmployeeFactory, InvitationFactory, TeamFactory, UserFactory, WaveFactory

pytestmark = pytest.mark.django_db

HR_MODELS = ["team", "employee", "question", "survey", "surveyquestion", "schedule", "wave"]


@pytest.fixture
def hr_client(client):
    """A staff user with exactly the model permissions HR needs (not a superuser)."""
    user = UserFactory(username="hr@example.com", is_staff=True)
    codenames = [f"{action}_{model}" for model in HR_MODELS for action in ("view", "add", "change", "delete")]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="surveys", codename__in=codenames))
    client.force_login(user)
    return client


def _tree() -> dict[str, Team]:
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def _paths() -> list[str]:
    return list(Team.objects.order_by("path").values_list("path", flat=True))


def test_site_header():
    assert admin.site.site_header == "Pulse administration"


@pytest.mark.parametrize("model", [Invitation, Submission, Response, Answer, Comment])
def test_anonymous_data_is_not_in_the_admin(model):
    assert admin.site.is_registered(model) is False


@pytest.mark.parametrize("model", ["team", "employee", "question", "survey", "schedule", "wave"])
def test_hr_opens_every_changelist(hr_client, model):
    assert hr_client.get(reverse(f"admin:surveys_{model}_changelist")).status_code == 200


def test_hr_opens_change_forms(hr_client, default_survey):
    # given
    tree = _tree()
    person = EmployeeFactory(team=tree["ml"])
    wave = WaveFactory(survey=default_survey)
    question = default_survey.questions.get(code="burnout_2")

    # when / then
    for name, pk in [
        ("team", tree["eng"].pk),
        ("employee", person.pk),
        ("question", question.pk),
        ("survey", default_survey.pk),
        ("wave", wave.pk),
    ]:
        assert hr_client.get(reverse(f"admin:surveys_{name}_change", args=[pk])).status_code == 200, name
    for name in ["team", "employee", "question", "survey", "schedule"]:
        assert hr_client.get(reverse(f"admin:surveys_{name}_add")).status_code == 200, name


def test_team_changelist_shows_the_indented_tree(hr_client):
    # given
    tree = _tree()
    EmployeeFactory.create_batch(2, team=tree["ml"])
    EmployeeFactory(team=tree["ml"], active=False)
    boss = EmployeeFactory(team=tree["eng"], name="Grace Hopper", role=Employee.Role.MANAGER)
    boss.manages.add(tree["eng"])

    # when
    html = hr_client.get(reverse("admin:surveys_team_changelist")).content.decode()

    # then rows come in path order, each name indented by its depth
    rows = re.findall(r'<span style="padding-left: ([\d.]+)em">([^<]+)</span>', html)
    assert rows == [("0.0", "Acme"), ("1.5", "Engineering"), ("3.0", "ML"), ("1.5", "Sales")]
    assert "Grace Hopper" in html
    assert re.search(r'<td class="field-headcount">2</td>', html)


def test_creating_a_team_under_a_parent_sets_its_path(hr_client):
    # given
    tree = _tree()

    # when
    response = hr_client.post(reverse("admin:surveys_team_add"), {"name": " Platform ", "parent": tree["eng"].pk})

    # then
    assert response.status_code == 302
    created = Team.objects.get(name="Platform")
    assert (created.parent, created.path) == (tree["eng"], "Acme/Engineering/Platform")


def test_creating_a_root_team(hr_client):
    response = hr_client.post(reverse("admin:surveys_team_add"), {"name": "Globex", "parent": ""})

    assert response.status_code == 302
    assert Team.objects.get(name="Globex").path == "Globex"


def test_renaming_a_team_rewrites_the_subtree(hr_client):
    # given
    tree = _tree()

    # when
    response = hr_client.post(
        reverse("admin:surveys_team_change", args=[tree["eng"].pk]), {"name": "R&D", "parent": tree["acme"].pk}
    )

    # then
    assert response.status_code == 302
    assert _paths() == ["Acme", "Acme/R&D", "Acme/R&D/ML", "Acme/Sales"]


def test_moving_and_renaming_a_team_at_once(hr_client):
    # given
    tree = _tree()

    # when
    response = hr_client.post(
        reverse("admin:surveys_team_change", args=[tree["eng"].pk]), {"name": "Sales Eng", "parent": tree["sales"].pk}
    )

    # then
    assert response.status_code == 302
    assert _paths() == ["Acme", "Acme/Sales", "Acme/Sales/Sales Eng", "Acme/Sales/Sales Eng/ML"]
    assert Team.objects.get(pk=tree["eng"].pk).parent == tree["sales"]


def test_moving_a_team_into_its_own_subtree_is_refused(hr_client):
    # given
    tree = _tree()
    before = _paths()

    # when
    response = hr_client.post(
        reverse("admin:surveys_team_change", args=[tree["eng"].pk]), {"name": "Engineering", "parent": tree["ml"].pk}
    )

    # then
    assert response.status_code == 200
    assert "can&#x27;t be placed under itself or one of its own sub-teams" in response.content.decode()
    assert _paths() == before


def test_a_team_name_with_a_slash_is_refused(hr_client):
    # given
    before = _paths()

    # when
    response = hr_client.post(reverse("admin:surveys_team_add"), {"name": "A/B", "parent": ""})

    # then
    assert response.status_code == 200
    assert "separates the levels of a team path" in response.content.decode()
    assert _paths() == before


def test_a_duplicate_sibling_name_is_refused(hr_client):
    # given
    tree = _tree()

    # when
    response = hr_client.post(reverse("admin:surveys_team_add"), {"name": "ML", "parent": tree["eng"].pk})

    # then
    assert response.status_code == 200
    assert Team.objects.filter(name="ML").count() == 1


def test_deleting_a_team_with_members_is_refused_with_a_clear_message(hr_client):
    # given
    tree = _tree()
    EmployeeFactory.create_batch(3, team=tree["ml"], name="Ada Lovelace")
    url = reverse("admin:surveys_team_delete", args=[tree["ml"].pk])

    # when
    page = hr_client.get(url).content.decode()
    response = hr_client.post(url, {"post": "yes"})

    # then the reason is given as a count, naming nobody; nothing is deleted
    assert "3 people are (or were) members: move them to another team first." in page
    assert "Ada Lovelace" not in page
    assert response.status_code == 200
    assert Team.objects.filter(pk=tree["ml"].pk).exists()
    assert Employee.objects.filter(team=tree["ml"]).count() == 3


def test_deleting_a_team_with_sub_teams_or_history_is_refused(hr_client):
    # given
    tree = _tree()
    InvitationFactory(team=tree["sales"], employee=EmployeeFactory(team=tree["ml"]))
    Employee.objects.filter(team=tree["sales"]).delete()

    # when
    eng_page = hr_client.get(reverse("admin:surveys_team_delete", args=[tree["eng"].pk])).content.decode()
    sales_page = hr_client.get(reverse("admin:surveys_team_delete", args=[tree["sales"].pk])).content.decode()

    # then
    assert "1 sub-team: move or delete it first." in eng_page
    assert "Survey history: past waves refer to this team" in sales_page


def test_deleting_an_empty_team_works(hr_client):
    # given
    tree = _tree()

    # when
    response = hr_client.post(reverse("admin:surveys_team_delete", args=[tree["ml"].pk]), {"post": "yes"})

    # then
    assert response.status_code == 302
    assert _paths() == ["Acme", "Acme/Engineering", "Acme/Sales"]


def test_employee_search_by_email_name_and_team_path(hr_client):
    # given
    tree = _tree()
    EmployeeFactory(email="ada@example.com", name="Ada Lovelace", team=tree["ml"])
    EmployeeFactory(email="alan@example.com", name="Alan Turing", team=tree["sales"])
    url = reverse("admin:surveys_employee_changelist")

    def found(query: str) -> list[str]:
        return [e.email for e in hr_client.get(url, {"q": query}).context["cl"].result_list]

    # then
    assert found("ada@") == ["ada@example.com"]
    assert found("turing") == ["alan@example.com"]
    assert found("Acme/Engineering") == ["ada@example.com"]


def test_employee_team_filter_takes_the_subtree(hr_client):
    # given
    tree = _tree()
    EmployeeFactory(email="ml@example.com", team=tree["ml"])
    EmployeeFactory(email="eng@example.com", team=tree["eng"])
    EmployeeFactory(email="sales@example.com", team=tree["sales"])

    # when
    response = hr_client.get(reverse("admin:surveys_employee_changelist"), {"team_subtree": tree["eng"].pk})

    # then
    assert [e.email for e in response.context["cl"].result_list] == ["eng@example.com", "ml@example.com"]


def _employee_form(person: Employee, **changes: str) -> dict[str, object]:
    data = {
        "email": person.email,
        "name": person.name,
        "team": person.team.pk,
        "role": "employee",
        "timezone": "Europe/Berlin",
        "locale": "en",
        "active": "on",
        "left_on": "",
        "left_reason": "",
    }
    return {key: value for key, value in {**data, **changes}.items() if value is not None}


def test_employee_form_refuses_an_active_leaver(hr_client):
    # given
    person = EmployeeFactory(email="leaver@example.com")

    # when
    response = hr_client.post(
        reverse("admin:surveys_employee_change", args=[person.pk]),
        _employee_form(person, left_on="2020-01-31", left_reason="voluntary"),
    )

    # then
    assert response.status_code == 200
    assert "Someone who has left can&#x27;t be active." in response.content.decode()
    person.refresh_from_db()
    assert (person.active, person.left_on, person.left_reason) == (True, None, "")


def test_employee_form_records_a_departure(hr_client):
    # given
    person = EmployeeFactory(email="LEAVER@example.com")

    # when
    response = hr_client.post(
        reverse("admin:surveys_employee_change", args=[person.pk]),
        _employee_form(
            person, email=" Leaver@Example.com ", active=None, left_on="2020-01-31", left_reason="voluntary"
        ),
    )

    # then
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.email, person.active, person.left_on, person.left_reason) == (
        "leaver@example.com",
        False,
        date(2020, 1, 31),
        "voluntary",
    )


def test_employee_form_refuses_a_reason_without_a_date_and_an_unknown_zone(hr_client):
    # given
    person = EmployeeFactory()

    # when
    response = hr_client.post(
        reverse("admin:surveys_employee_change", args=[person.pk]),
        _employee_form(person, left_reason="involuntary", timezone="Mars/Olympus"),
    )

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "Give the date someone left together with the reason." in page
    assert "Not a known IANA time zone" in page
    person.refresh_from_db()
    assert (person.left_reason, person.timezone) == ("", "Europe/Berlin")


def test_wave_shows_participation_as_a_count_and_keeps_thresholds(hr_client, default_survey):
    # given
    wave = WaveFactory(survey=default_survey, min_respondents=5, min_comment_respondents=10)
    InvitationFactory.create_batch(2, wave=wave, responded=True)
    InvitationFactory(wave=wave)

    # when
    listing = hr_client.get(reverse("admin:surveys_wave_changelist")).content.decode()
    hr_client.post(
        reverse("admin:surveys_wave_change", args=[wave.pk]),
        {
            "closes_at_0": "2030-01-01",
            "closes_at_1": "12:00:00",
            "remind_after_days": "",
            "min_respondents": "3",
            "min_comment_respondents": "3",
        },
    )

    # then
    assert re.search(r'<td class="field-participation">2/3</td>', listing)
    wave.refresh_from_db()
    assert (wave.min_respondents, wave.min_comment_respondents) == (5, 10)
    assert wave.closes_at.date() == date(2030, 1, 1)


def test_a_sealed_wave_shows_the_participation_the_seal_kept(hr_client, default_survey):
    # given a wave of six, four answered, then sealed (which clears every invitation's mark)
    team = TeamFactory()
    wave = WaveFactory(survey=default_survey)
    invitations = [InvitationFactory(wave=wave, employee=EmployeeFactory(team=team)) for _ in range(6)]
    for invitation in invitations[:4]:
        response_record(token=invitation.token, answers={"workload_1": 3})
    wave_close(wave=wave)
    assert not Invitation.objects.filter(wave=wave, responded=True).exists()

    # when
    listing = hr_client.get(reverse("admin:surveys_wave_changelist")).content.decode()

    # then the count comes from the seal's participation counts
    assert re.search(r'<td class="field-participation">4/6</td>', listing)


def _schedule_form(team: Team, survey) -> dict[str, str]:
    return {
        "name": "Small pulse",
        "survey": str(survey.pk),
        "teams": [str(team.pk)],
        "cadence": "weekly",
        "weekday": "1",
        "send_time": "10:00",
        "days_open": "5",
        "remind_after_days": "3",
        "starts_on": "2030-01-01",
        "active": "on",
    }


def test_a_schedule_for_fewer_people_than_the_threshold_is_refused(hr_client, default_survey):
    # given a team of four (the threshold is five)
    team = TeamFactory(name="Tiny")
    EmployeeFactory.create_batch(4, team=team)

    # when
    response = hr_client.post(reverse("admin:surveys_schedule_add"), _schedule_form(team, default_survey))

    # then the form comes back naming the threshold, and nothing was saved
    assert response.status_code == 200
    assert (
        "A wave must invite at least 5 people (PULSE_MIN_RESPONDENTS, the anonymity threshold), "
        "or its answers could be told apart; Tiny has 4 active employees." in response.content.decode()
    )
    assert not Schedule.objects.exists()

    # and with a fifth person it is saved
    EmployeeFactory(team=team)
    saved = hr_client.post(reverse("admin:surveys_schedule_add"), _schedule_form(team, default_survey))
    assert saved.status_code == 302
    assert list(Schedule.objects.values_list("name", flat=True)) == ["Small pulse"]


def test_waves_are_not_added_by_hand(hr_client):
    assert hr_client.get(reverse("admin:surveys_wave_add")).status_code == 403


def test_an_open_wave_cannot_be_deleted(hr_client, default_survey):
    # given
    wave = WaveFactory(survey=default_survey, status=Wave.Status.OPEN)

    # when
    response = hr_client.post(reverse("admin:surveys_wave_delete", args=[wave.pk]), {"post": "yes"})

    # then
    assert response.status_code == 403
    assert Wave.objects.filter(pk=wave.pk).exists()


def test_employee_changelist_stays_flat(hr_client, django_assert_max_num_queries):
    # given 50 people in 50 teams
    for n in range(50):
        EmployeeFactory(team=TeamFactory(name=f"Team {n:02}"))

    # when / then (one of them the reader's language, read on every logged-in page)
    with django_assert_max_num_queries(11):
        response = hr_client.get(reverse("admin:surveys_employee_changelist"))
    assert len(response.context["cl"].result_list) == 50


def test_team_changelist_stays_flat(hr_client, django_assert_max_num_queries):
    # given 50 teams, each with a member and a manager
    root = TeamFactory(name="Acme")
    for n in range(49):
        team = TeamFactory(name=f"Team {n:02}", parent=root)
        EmployeeFactory(team=team)
        EmployeeFactory(team=team, role=Employee.Role.MANAGER).manages.add(team)

    # when / then (one of them the reader's language, read on every logged-in page)
    with django_assert_max_num_queries(10):
        response = hr_client.get(reverse("admin:surveys_team_changelist"))
    assert len(response.context["cl"].result_list) == 50


def test_promoting_someone_to_hr_in_the_admin_gives_them_an_hr_login(hr_client):
    # given a plain employee
    person = EmployeeFactory()

    # when HR makes them HR in the admin
    response = hr_client.post(
        reverse("admin:surveys_employee_change", args=[person.pk]), _employee_form(person, role="hr")
    )

    # then they have a staff login in the HR group (no password until one is set)
    assert response.status_code == 302
    user = get_user_model().objects.get(username=person.email)
    assert user.is_staff and user.is_active
    assert list(user.groups.values_list("name", flat=True)) == ["HR"]
    person.refresh_from_db()
    assert person.user == user


def test_wave_list_names_the_audience_and_the_whole_organisation(hr_client, default_survey):
    # given a wave for two teams, and one for everyone
    tree = _tree()
    for_teams = WaveFactory(survey=default_survey)
    for_teams.teams.set([tree["sales"], tree["eng"]])
    WaveFactory(survey=default_survey)

    # when
    listing = hr_client.get(reverse("admin:surveys_wave_changelist")).content.decode()
    form = hr_client.get(reverse("admin:surveys_wave_change", args=[for_teams.pk])).content.decode()

    # then
    audiences = re.findall(r'<td class="field-audience">([^<]*)</td>', listing)
    assert sorted(audiences) == ["Acme/Engineering; Acme/Sales", "Whole organisation"]
    assert "Acme/Engineering; Acme/Sales" in form


def test_wave_times_are_shown_and_entered_in_the_staff_users_zone_with_its_name(hr_client, default_survey):
    # given HR works in Berlin (their employee record), and a wave closing at 10:00 UTC
    EmployeeFactory(email="hr@example.com", timezone="Europe/Berlin")
    wave = WaveFactory(survey=default_survey, closes_at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))

    # when
    listing = hr_client.get(reverse("admin:surveys_wave_changelist")).content.decode()
    form = hr_client.get(reverse("admin:surveys_wave_change", args=[wave.pk])).content.decode()
    hr_client.post(
        reverse("admin:surveys_wave_change", args=[wave.pk]),
        {"closes_at_0": "2026-03-10", "closes_at_1": "18:00:00", "remind_after_days": ""},
    )

    # then the list shows Berlin time with the zone, the form says which zone it takes, and
    # 18:00 entered is 18:00 in Berlin
    assert re.search(r'<td class="field-closes">Monday, March 9, 2026, 11 a.m. CET \(Europe/Berlin\)</td>', listing)
    assert 'value="11:00:00"' in form
    assert "In Europe/Berlin (your time zone)." in form
    wave.refresh_from_db()
    assert wave.closes_at == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def test_wave_times_are_in_utc_with_its_name_for_staff_without_an_employee_record(hr_client, default_survey):
    WaveFactory(survey=default_survey, closes_at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))

    listing = hr_client.get(reverse("admin:surveys_wave_changelist")).content.decode()

    assert re.search(r'<td class="field-closes">Monday, March 9, 2026, 10 a.m. UTC</td>', listing)
