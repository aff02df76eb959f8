"""Users and the HR group for the people who log in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from surveys.org_import import org_csv_build, org_import
from surveys.roles import (
    HR_GROUP_NAME,
    UserAccess,
    hr_group_ensure,
    user_access_for,
    user_password_set,
)
from tests.factories import UserFactory

User = get_user_model()
PASSWORD = "a long demo passphrase"
HR_MODEL_NAMES = ["employee", "question", "schedule", "survey", "surveyquestion", "team", "wave"]

ORG = [
    {"email": "hr@acme.example", "name": "Hana", "team": "Acme/People", "timezone": "UTC", "role": "hr"},
    {
        "email": "boss@acme.example",
        "name": "Bo",
        "team": "Acme",
        "timezone": "UTC",
        "role": "manager",
        "manages": "Acme",
    },
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # These tests are about who may log in, not about hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def hr_codenames() -> list[str]:
    group = Group.objects.get(name=HR_GROUP_NAME)
    return sorted(group.permissions.values_list("codename", flat=True))


def test_hr_group_holds_exactly_the_org_and_survey_permissions(db):
    hr_group_ensure()

    assert hr_codenames() == sorted(
        f"{action}_{model}" for model in HR_MODEL_NAMES for action in ("add", "change", "delete", "view")
    )


def test_hr_group_ensure_is_idempotent_keeps_extras_and_strips_the_anonymous_side(db):
    # given an administrator widened the group, once harmlessly and once on answers
    group = hr_group_ensure()
    extras = Permission.objects.filter(codename__in=["view_logentry", "view_answer", "view_invitation"])
    group.permissions.add(*extras)

    # when
    hr_group_ensure()

    # then the answers and invitations are gone again, the log entry stays
    codenames = hr_codenames()
    assert "view_logentry" in codenames
    assert not {"view_answer", "view_invitation"} & set(codenames)
    assert len(codenames) == 4 * len(HR_MODEL_NAMES) + 1
    assert Group.objects.filter(name=HR_GROUP_NAME).count() == 1


def test_user_access_rules():
    assert user_access_for(role="hr", employee_active=True) == UserAccess(True, True, True)
    assert user_access_for(role="manager", employee_active=True) == UserAccess(True, False, False)
    assert user_access_for(role="manager", employee_active=False) == UserAccess(False, False, False)
    assert user_access_for(role="employee", employee_active=True) == UserAccess(False, False, False)
    # a superuser listed as a manager keeps the admin
    assert user_access_for(role="manager", employee_active=True, is_superuser=True, is_staff=True) == UserAccess(
        True, True, False
    )


def test_imported_hr_can_log_into_the_admin_and_see_employees(db):
    # given
    org_import(data=org_csv_build(ORG))
    user_password_set(email="hr@acme.example", password=PASSWORD)
    client = Client()

    # when
    logged_in = client.login(username="hr@acme.example", password=PASSWORD)
    changelist = client.get("/admin/surveys/employee/")

    # then
    assert logged_in is True
    assert changelist.status_code == 200
    assert b"boss@acme.example" in changelist.content


def test_hr_cannot_administer_users_in_the_admin(db):
    org_import(data=org_csv_build(ORG))
    client = Client()
    client.force_login(User.objects.get(username="hr@acme.example"))

    assert client.get("/admin/auth/user/").status_code == 403


def test_an_imported_manager_is_not_staff(db):
    # given
    org_import(data=org_csv_build(ORG))
    user_password_set(email="boss@acme.example", password=PASSWORD)
    client = Client()

    # when
    logged_in = client.login(username="boss@acme.example", password=PASSWORD)
    admin = client.get("/admin/surveys/employee/")

    # then the manager can log in, but the admin sends them to its login page
    manager = User.objects.get(username="boss@acme.example")
    assert (logged_in, manager.is_staff, list(manager.groups.all())) == (True, False, [])
    assert admin.status_code == 302
    assert admin["Location"].startswith("/admin/login/")


def test_imported_users_have_no_usable_password_until_one_is_set(db):
    org_import(data=org_csv_build(ORG))

    assert [user.has_usable_password() for user in User.objects.order_by("username")] == [False, False]


def test_user_password_set_keeps_an_unchanged_hash(db):
    # given
    user = UserFactory(username="boss@acme.example")
    user_password_set(email="boss@acme.example", password=PASSWORD)
    user.refresh_from_db()
    first_hash = user.password

    # when the same password is set again (a re-run of the demo)
    user_password_set(email="BOSS@acme.example", password=PASSWORD)

    # then sessions survive: the hash is the same
    user.refresh_from_db()
    assert user.password == first_hash
    assert user.check_password(PASSWORD)
