"""GET /api/v1/teams/ and /api/v1/waves/: scoped to what the caller may see."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from surveys.models import Employee
from tests.factories import EmployeeFactory, InvitationFactory, TeamFactory, WaveFactory, api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def test_hr_lists_every_team_with_id_name_path_parent(org):
    client = api_for(role=Employee.Role.HR)

    response = client.get("/api/v1/teams/")

    assert response.status_code == 200
    results = {team["path"]: team for team in response.json()["results"]}
    assert results["Acme/Engineering/ML"] == {
        "id": org["ml"].pk,
        "name": "ML",
        "path": "Acme/Engineering/ML",
        "parent": org["eng"].pk,
    }
    assert results["Acme"]["parent"] is None
    assert {"Acme", "Acme/Engineering", "Acme/Sales"} <= set(results)


def test_a_manager_lists_only_their_subtrees(org):
    client = api_for(role=Employee.Role.MANAGER, manages=[org["eng"]])

    response = client.get("/api/v1/teams/")

    assert [team["path"] for team in response.json()["results"]] == ["Acme/Engineering", "Acme/Engineering/ML"]


def test_waves_for_hr_and_for_a_manager_whose_teams_were_invited(org):
    invited_ml = WaveFactory()
    InvitationFactory(wave=invited_ml, employee=EmployeeFactory(team=org["ml"]))
    sales_only = WaveFactory()
    InvitationFactory(wave=sales_only, employee=EmployeeFactory(team=org["sales"]))

    hr = api_for(role=Employee.Role.HR).get("/api/v1/waves/").json()["results"]
    manager = api_for(role=Employee.Role.MANAGER, manages=[org["eng"]]).get("/api/v1/waves/").json()["results"]

    assert {wave["id"] for wave in hr} == {invited_ml.pk, sales_only.pk}
    assert [wave["id"] for wave in manager] == [invited_ml.pk]
    assert set(manager[0]) >= {"id", "survey", "opens_on", "closes_at", "status"}
    assert manager[0]["survey"] == invited_ml.survey.slug


def test_anonymous_and_plain_employees_see_nothing(org):
    assert APIClient().get("/api/v1/teams/").status_code in (401, 403)
    employee = api_for(role=Employee.Role.EMPLOYEE)
    assert employee.get("/api/v1/teams/").json()["results"] == []
    assert employee.get("/api/v1/waves/").json()["results"] == []
