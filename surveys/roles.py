"""Django users and groups for the people who log in: managers and HR.

Employees never log in (they answer from an e-mailed link). A manager or HR row of the org
import gets a Django user whose username is the (lower-case) e-mail, linked through
``Employee.user``; HR users are staff and members of the "HR" group, which may administer the
organisation, the question bank and the schedules, but never the anonymous side
(invitations, responses, answers, comments).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from .models import (
    Answer,
    Comment,
    Employee,
    Invitation,
    Question,
    Response,
    Schedule,
    Submission,
    Survey,
    SurveyQuestion,
    Team,
    Wave,
)

HR_GROUP_NAME = "HR"
PERMISSION_ACTIONS = ("view", "add", "change", "delete")
HR_MODELS: tuple[type[models.Model], ...] = (Team, Employee, Question, Survey, SurveyQuestion, Schedule, Wave)
# The anonymous side and the outbox that knows who was invited: no human administers them.
HR_FORBIDDEN_MODELS: tuple[type[models.Model], ...] = (Invitation, Submission, Response, Answer, Comment)
ROLES_WITH_ACCOUNT = frozenset({Employee.Role.MANAGER, Employee.Role.HR})


@dataclass(frozen=True)
class UserAccess:
    """What a person's Django user should be allowed, given their row in the org."""

    is_active: bool
    is_staff: bool
    hr_member: bool


def role_has_account(role: str) -> bool:
    return role in ROLES_WITH_ACCOUNT


def user_access_for(
    *, role: str, employee_active: bool, is_superuser: bool = False, is_staff: bool = False
) -> UserAccess:
    """The access a linked user should have.

    A departure, or a role change to employee, deactivates the user; returning restores it.
    A superuser keeps the staff flag it already has, so importing a file that lists the
    administrator as a manager cannot lock them out of the admin.
    """
    keeps_account = role_has_account(role) and employee_active
    is_hr = keeps_account and role == Employee.Role.HR
    return UserAccess(is_active=keeps_account, is_staff=is_hr or (is_superuser and is_staff), hr_member=is_hr)


def user_build(*, email: str, access: UserAccess) -> AbstractBaseUser:
    """An unsaved user for ``email``: no usable password until they set one (admin / changepassword)."""
    user_model = get_user_model()
    # make_password(None) is an unusable-password marker: nobody can log in until a password is set.
    return user_model(
        username=email, email=email, password=make_password(None), is_active=access.is_active, is_staff=access.is_staff
    )


def _permissions_for(model_classes: tuple[type[models.Model], ...]) -> list[Permission]:
    """The four model permissions of each model, created if post_migrate has not run yet."""
    content_types = ContentType.objects.get_for_models(*model_classes, for_concrete_models=False)
    permissions = []
    for model_class, content_type in content_types.items():
        opts = model_class._meta
        for action in PERMISSION_ACTIONS:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{opts.model_name}",
                defaults={"name": f"Can {action} {opts.verbose_name_raw}"},
            )
            permissions.append(permission)
    return permissions


@transaction.atomic
def hr_group_ensure() -> Group:
    """The "HR" group with its permissions; safe to call any number of times.

    Permissions an administrator added by hand are kept, except on the anonymous side, which
    is always removed.
    """
    group, _ = Group.objects.get_or_create(name=HR_GROUP_NAME)
    group.permissions.add(*_permissions_for(HR_MODELS))
    forbidden = ContentType.objects.get_for_models(*HR_FORBIDDEN_MODELS, for_concrete_models=False).values()
    group.permissions.remove(*group.permissions.filter(content_type__in=list(forbidden)))
    return group


@transaction.atomic
def user_password_set(*, email: str, password: str) -> AbstractBaseUser:
    """Give the user of ``email`` a known password (the demo's logins).

    An unchanged password is not rewritten: a new hash would log out that user's sessions.
    """
    user = get_user_model().objects.select_for_update().get(username=email.lower())
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def employee_account_sync(*, employee: Employee) -> AbstractBaseUser | None:
    """Bring one person's login in line with their role and status, as the import does in bulk.

    For edits one at a time: the admin, and departures whose date has come. A manager or HR
    person gets a user (username = e-mail) if they have none; a departure or a role change to
    employee deactivates it; HR membership follows the role.
    """
    user_model = get_user_model()
    user = employee.user or user_model.objects.filter(username=employee.email).first()
    if user is None and not role_has_account(employee.role):
        return None
    access = user_access_for(
        role=employee.role,
        employee_active=employee.active,
        is_superuser=bool(user and user.is_superuser),
        is_staff=bool(user and user.is_staff),
    )
    if user is None:
        user = user_build(email=employee.email, access=access)
        user.save()
    elif (user.is_active, user.is_staff) != (access.is_active, access.is_staff):
        user.is_active, user.is_staff = access.is_active, access.is_staff
        user.save(update_fields=["is_active", "is_staff"])
    if employee.user_id != user.pk:
        employee.user = user
        employee.save(update_fields=["user"])
    hr_group = hr_group_ensure()
    if access.hr_member:
        user.groups.add(hr_group)
    else:
        user.groups.remove(hr_group)
    return user
