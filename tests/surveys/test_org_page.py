"""`/` and `/org/`: each visitor sees the part of the organisation they may see."""

from __future__ import annotations

import re

import pytest

from surveys.models import Employee
from tests.factories import EmployeeFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Engineering", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    EmployeeFactory.create_batch(3, team=ml)
    EmployeeFactory(team=ml, active=False)
    EmployeeFactory.create_batch(2, team=eng)
    EmployeeFactory.create_batch(4, team=sales)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def login(client, *, role: str, manages=()):
    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user, team=TeamFactory())
    employee.manages.set(manages)
    client.force_login(user)
    return employee


def rows(response) -> list[tuple[str, int, int]]:
    return [(team.path, team.headcount, subtree) for team, _level, subtree in response.context["rows"]]


def test_anonymous_visitors_are_sent_to_the_login(client):
    assert client.get("/").url == "/login/"
    assert client.get("/org/").url.startswith("/login/")


def test_hr_sees_the_whole_tree_with_direct_and_subtree_headcounts(client, org):
    login(client, role=Employee.Role.HR)

    assert client.get("/").url == "/hr/"  # the root sends HR to the overview (tests/analytics/test_dashboard.py)
    response = client.get("/org/")

    assert response.status_code == 200
    got = {path: (direct, subtree) for path, direct, subtree in rows(response)}
    assert got["Acme"] == (0, 9)
    assert got["Acme/Engineering"] == (2, 5)
    assert got["Acme/Engineering/ML"] == (3, 3)
    assert got["Acme/Sales"] == (4, 4)


def test_a_manager_sees_only_their_subtree(client, org):
    login(client, role=Employee.Role.MANAGER, manages=[org["eng"]])

    response = client.get("/org/")

    assert rows(response) == [("Acme/Engineering", 2, 5), ("Acme/Engineering/ML", 3, 3)]
    assert b"Sales" not in response.content


def test_someone_without_a_role_sees_no_teams(client, org):
    login(client, role=Employee.Role.EMPLOYEE)

    response = client.get("/org/")

    assert rows(response) == []
    assert b"There are no teams for you to see yet." in response.content


def test_a_parent_team_shows_its_people_with_sub_teams_first(client, org):
    # given Acme has nobody directly in it, and nine active people below it
    login(client, role=Employee.Role.HR)

    html = client.get("/org/").content.decode()

    # then its row says 9 people, and 0 directly in the team, under headers that say so
    cells = re.findall(
        r'<th scope="row"><span class="indent" style="--level: \d+">([^<]+)</span></th>'
        r'<td class="num people">(\d+)</td><td class="num direct">(\d+)</td>',
        html,
    )
    assert cells[:2] == [("Acme", "9", "0"), ("Engineering", "5", "2")]
    assert "People (with sub-teams)" in html
    assert "Directly in the team" in html
