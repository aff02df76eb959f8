"""Departures recorded ahead of time take effect on the day; logins follow role and status."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from surveys.models import Employee
from surveys.roles import HR_GROUP_NAME, employee_account_sync
from surveys.services import employees_departures_apply
from surveys.tasks import employees_departures_task
from tests.factories import EmployeeFactory, TeamFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_a_departure_takes_effect_on_its_day_and_closes_the_login():
    # given a manager leaving on 1 December, with a login, and a colleague staying
    team = TeamFactory()
    leaving = EmployeeFactory(team=team, role=Employee.Role.MANAGER, left_on=date(2026, 12, 1), left_reason="voluntary")
    leaving.manages.add(team)
    employee_account_sync(employee=leaving)
    staying = EmployeeFactory(team=team)
    assert User.objects.get(username=leaving.email).is_active

    # when the day before, nothing happens
    assert employees_departures_apply(today=date(2026, 11, 30)) == 0
    leaving.refresh_from_db()
    assert leaving.active
    assert leaving.user.is_active

    # then on the day, the person is inactive and cannot log in any more
    assert employees_departures_apply(today=date(2026, 12, 1)) == 1
    leaving.refresh_from_db()
    staying.refresh_from_db()
    assert not leaving.active
    assert not leaving.user.is_active
    assert staying.active
    # and running again changes nothing
    assert employees_departures_apply(today=date(2026, 12, 2)) == 0


def test_the_departures_task_runs_the_sweep(time_machine):
    time_machine.move_to("2026-12-05T03:00:00Z")
    person = EmployeeFactory(left_on=date(2026, 12, 4), left_reason="involuntary")

    assert employees_departures_task.apply().get() == 1

    person.refresh_from_db()
    assert not person.active


def test_account_sync_gives_hr_a_staff_login_in_the_hr_group_and_takes_it_away_on_a_role_change():
    person = EmployeeFactory(role=Employee.Role.HR)

    user = employee_account_sync(employee=person)

    assert user.username == person.email
    assert user.is_active and user.is_staff
    assert not user.has_usable_password()
    assert user.groups.filter(name=HR_GROUP_NAME).exists()

    # when HR becomes a plain employee
    person.role = Employee.Role.EMPLOYEE
    person.save()
    employee_account_sync(employee=person)

    user.refresh_from_db()
    assert not user.is_active and not user.is_staff
    assert not user.groups.exists()
    assert Group.objects.get(name=HR_GROUP_NAME).user_set.count() == 0


def test_account_sync_leaves_plain_employees_without_a_login():
    person = EmployeeFactory()

    assert employee_account_sync(employee=person) is None
    assert not User.objects.filter(username=person.email).exists()
