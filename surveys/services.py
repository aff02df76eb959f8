"""Writes of the organisation that several flows share (import, admin, demo)."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from .models import TEAM_PATH_SEPARATOR, Employee, Team
from .roles import employee_account_sync


def team_path_split(path: str) -> list[str]:
    return [part.strip() for part in path.split(TEAM_PATH_SEPARATOR)]


def team_ensure_path(*, path: str, cache: dict[str, Team] | None = None) -> Team:
    """The team at ``path`` ("Acme/Engineering/ML"), creating it and any missing ancestors."""
    cache = {} if cache is None else cache
    parent: Team | None = None
    so_far: list[str] = []
    for name in team_path_split(path):
        so_far.append(name)
        key = TEAM_PATH_SEPARATOR.join(so_far)
        team = cache.get(key)
        if team is None:
            team, _ = Team.objects.get_or_create(path=key, defaults={"name": name, "parent": parent})
            cache[key] = team
        parent = team
    assert parent is not None, "a team path has at least one part"
    return parent


@transaction.atomic
def team_rename(*, team: Team, name: str) -> Team:
    """Rename a team and rewrite the paths of its whole subtree in one transaction."""
    prefix = team.parent.path + TEAM_PATH_SEPARATOR if team.parent else ""
    team.name = name
    return _team_repath(team=team, new_path=prefix + name, fields=["name", "path"])


@transaction.atomic
def team_move(*, team: Team, parent: Team | None) -> Team:
    """Move a team (with its subtree) under another parent."""
    if parent is not None and (parent.pk == team.pk or parent.path.startswith(team.path + TEAM_PATH_SEPARATOR)):
        raise ValueError("A team cannot be moved into its own subtree.")
    team.parent = parent
    new_path = (parent.path + TEAM_PATH_SEPARATOR if parent else "") + team.name
    return _team_repath(team=team, new_path=new_path, fields=["parent", "path"])


def _team_repath(*, team: Team, new_path: str, fields: list[str]) -> Team:
    """Give ``team`` its new path (saving ``fields``) and rewrite its descendants' paths to match."""
    old_path = Team.objects.values_list("path", flat=True).get(pk=team.pk)
    descendants = list(Team.objects.select_for_update().filter(path__startswith=old_path + TEAM_PATH_SEPARATOR))
    team.path = new_path
    team.save(update_fields=fields)
    for child in descendants:
        child.path = new_path + child.path[len(old_path) :]
    Team.objects.bulk_update(descendants, ["path"])
    return team


def employees_departures_apply(*, today: date | None = None) -> int:
    """Make everyone whose leaving date has come inactive, and close their logins.

    The import records a future ``left_on`` and keeps the person active (and invited) until
    then; this, run by beat's housekeeping, takes them out on the day. Safe to run any time.
    """
    today = today or timezone.now().date()
    applied = 0
    for employee in Employee.objects.filter(active=True, left_on__lte=today).select_related("user"):
        with transaction.atomic():
            # Conditional: an edit made meanwhile (someone's return) wins over this sweep.
            if Employee.objects.filter(pk=employee.pk, active=True, left_on__lte=today).update(active=False):
                employee.active = False
                employee_account_sync(employee=employee)
                applied += 1
    return applied
