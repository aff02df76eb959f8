"""Reads of the write side, with the access rules in one place.

``analytics`` reads ``surveys`` through this module only.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from .models import Employee, Team, Wave


def user_is_hr(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    employee = getattr(user, "employee", None)
    return bool(employee and employee.role == Employee.Role.HR and employee.active)


def user_managed_roots(user: AbstractBaseUser | AnonymousUser) -> list[Team]:
    """The teams a manager manages directly (each brings its subtree)."""
    if not user.is_authenticated or not user.is_active:
        return []
    employee = getattr(user, "employee", None)
    if not employee or not employee.active or employee.role != Employee.Role.MANAGER:
        return []
    return list(employee.manages.all())


def teams_subtree_q(roots: list[Team], prefix: str = "") -> Q:
    """Teams at or below any of ``roots``; matches nothing when ``roots`` is empty."""
    if not roots:
        return Q(pk__in=[])
    return reduce(or_, (root.subtree_q(prefix) for root in roots))


def teams_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    """HR sees every team, a manager the subtrees they manage, anyone else none."""
    if user_is_hr(user):
        return Team.objects.all()
    return Team.objects.filter(teams_subtree_q(user_managed_roots(user)))


def team_get_for_user(*, user: AbstractBaseUser | AnonymousUser, team_id: int) -> Team:
    """The team, or 404 for a team the user may not see: a caller never learns it exists."""
    team = teams_visible_to(user).filter(pk=team_id).first()
    if team is None:
        raise Http404("No such team.")
    return team


def teams_with_headcount(teams: QuerySet[Team]) -> QuerySet[Team]:
    return teams.annotate(headcount=Count("members", filter=Q(members__active=True))).order_by("path")


def waves_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Wave]:
    """HR sees every wave; a manager the waves that invited anyone in their subtrees."""
    waves = Wave.objects.select_related("survey")
    if user_is_hr(user):
        return waves.all()
    roots = user_managed_roots(user)
    if not roots:
        return waves.none()
    return waves.filter(invitations__team__in=Team.objects.filter(teams_subtree_q(roots))).distinct()


def employees_in_subtrees(roots: list[Team]) -> QuerySet[Employee]:
    return Employee.objects.filter(teams_subtree_q(roots, prefix="team__"))
