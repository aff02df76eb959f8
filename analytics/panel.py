"""What the gate released over every sealed wave, as team × wave arrays: the only input of
trends (analytics/trends.py) and churn risk (analytics/risk.py).

Only published values enter (``DimensionRelease`` rows whose mean is not null, and
``GroupRelease`` participation where it was released), so nothing computed from here can show
more than a reader of the results already sees: a trend point or a risk term is a release.
Arrays are shaped (teams, waves), waves oldest first; a value that was not released is NaN and
its respondent count 0, the convention of analytics/stats.py. Row ``teams[i]`` is a team id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from surveys import selectors as surveys

from .models import DimensionRelease, GroupRelease

Array = NDArray[np.float64]
ROOT = -1  # "parent" of a top-level team: the wave as a whole


@dataclass(frozen=True)
class Panel:
    waves: tuple[int, ...]  # wave ids, the columns, oldest first
    opens_on: tuple[date, ...]
    teams: NDArray[np.int64]  # team ids, the rows, ascending
    dimensions: tuple[str, ...]
    mean: dict[str, Array]  # released mean, NaN where suppressed or absent
    n: dict[str, Array]  # respondents where the mean was released, else 0
    favorable: dict[str, Array]  # released favourable share (promoters on eNPS)
    enps: dict[str, Array]  # released eNPS in points (eNPS dimension only)
    listed: dict[str, NDArray[np.bool_]]  # the gate decided on it (released or not)
    org_mean: dict[str, Array]  # (waves,): the wave as a whole
    org_favorable: dict[str, Array]
    org_enps: dict[str, Array]
    invited: Array  # released participation, NaN where hidden
    responded: Array
    org_invited: Array  # (waves,)
    org_responded: Array
    counted: Array  # most respondents over the team's dimensions (a published count), 0 where none
    surveyed: NDArray[np.bool_]  # the team was in the wave (it has a group release)
    parent: NDArray[np.int64]  # row of the team's parent in the wave's frozen tree (else today's), ROOT at the top

    @property
    def shape(self) -> tuple[int, int]:
        return (self.teams.size, len(self.waves))

    def participation(self) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.invited > 0, self.responded / self.invited, np.nan)

    def org_participation(self) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.org_invited > 0, self.org_responded / self.org_invited, np.nan)

    def rows(self, team_ids: object) -> NDArray[np.int64]:
        """Rows of the given team ids (each must be one of ``teams``)."""
        return np.searchsorted(self.teams, np.asarray(team_ids, dtype=np.int64))


def released_panel() -> Panel:
    """Read every sealed wave's releases into a `Panel` (one query per dimension, two more)."""
    waves = list(surveys.waves_sealed().values_list("pk", "opens_on"))
    wave_ids = [pk for pk, _ in waves]
    tree = surveys.teams_tree()
    frozen = surveys.waves_frozen_parents()
    groups = list(
        GroupRelease.objects.filter(wave_id__in=wave_ids).values_list("wave_id", "team_id", "invited", "responded")
    )
    dimensions = sorted(
        DimensionRelease.objects.filter(wave_id__in=wave_ids).values_list("dimension", flat=True).distinct()
    )
    releases = {
        d: list(
            DimensionRelease.objects.filter(wave_id__in=wave_ids, dimension=d).values_list(
                "wave_id", "team_id", "respondents", "mean", "favorable", "enps"
            )
        )
        for d in dimensions
    }
    return panel_build(waves=waves, tree=tree, frozen=frozen, groups=groups, releases=releases)


def _table(rows: list[tuple], width: int) -> tuple[Array, Array]:
    """Rows of (wave, team or None, numbers or None...) as one float array, None as NaN: one
    conversion in C instead of one per value (ids are far below 2**53, so they stay exact).
    Returns (team rows, wave-as-a-whole rows)."""
    table = np.array(rows, dtype=float).reshape(-1, width)
    org = np.isnan(table[:, 1])
    return table[~org], table[org]


def panel_build(
    *,
    waves: list[tuple[int, date]],
    tree: list[tuple[int, int | None, str]],
    frozen: list[tuple[int, int, int | None]],
    groups: list[tuple[int, int | None, int | None, int | None]],
    releases: dict[str, list[tuple[int, int | None, int | None, float | None, float | None, float | None]]],
) -> Panel:
    """The arrays from plain rows (what `released_panel` reads), so the building is testable by hand.

    ``waves``: (id, opens_on) oldest first; ``tree``: today's (team, parent, path); ``frozen``:
    (wave, team, parent) as sealed; ``groups``: (wave, team or None, invited, responded) with
    None where participation was hidden; ``releases``: per dimension (wave, team or None,
    respondents, mean, favorable, enps) with mean None where suppressed.
    """
    wave_ids = np.array([pk for pk, _ in waves], dtype=np.int64)
    wave_order = np.argsort(wave_ids, kind="stable")
    group_rows, org_groups = _table(groups, 4)
    tables = {d: _table(rows, 6) for d, rows in releases.items()}
    frozen_rows = np.array(frozen, dtype=float).reshape(-1, 3)  # parent None → NaN
    teams = np.unique(
        np.concatenate(
            [
                np.array([pk for pk, _, _ in tree], dtype=np.int64),
                frozen_rows[:, 1].astype(np.int64),
                group_rows[:, 1].astype(np.int64),
                *(t[:, 1].astype(np.int64) for t, _ in tables.values()),
            ]
        )
    )
    shape = (teams.size, wave_ids.size)

    def rows_of(ids: Array) -> NDArray[np.int64]:
        return np.searchsorted(teams, ids.astype(np.int64))

    def cols_of(ids: Array) -> NDArray[np.int64]:
        return wave_order[np.searchsorted(wave_ids, ids.astype(np.int64), sorter=wave_order)]

    # Today's tree, then each wave's frozen tree over it: where a team sat when that wave was sealed.
    current_parent = np.full(teams.size, ROOT, dtype=np.int64)
    children = [(pk, parent) for pk, parent, _ in tree if parent is not None]
    if children:
        pairs = np.array(children, dtype=float)
        current_parent[rows_of(pairs[:, 0])] = rows_of(pairs[:, 1])
    parent = np.repeat(current_parent[:, None], shape[1], axis=1)
    if frozen_rows.size:
        r, c = rows_of(frozen_rows[:, 1]), cols_of(frozen_rows[:, 0])
        has_parent = np.isfinite(frozen_rows[:, 2])
        parent[r, c] = ROOT
        parent[r[has_parent], c[has_parent]] = rows_of(frozen_rows[has_parent, 2])

    invited = np.full(shape, np.nan)
    responded = np.full(shape, np.nan)
    surveyed = np.zeros(shape, dtype=bool)
    if group_rows.size:
        r, c = rows_of(group_rows[:, 1]), cols_of(group_rows[:, 0])
        surveyed[r, c] = True
        # participation is released whole or hidden whole
        shown = np.isfinite(group_rows[:, 2]) & np.isfinite(group_rows[:, 3])
        invited[r[shown], c[shown]] = group_rows[shown, 2]
        responded[r[shown], c[shown]] = group_rows[shown, 3]
    org_invited = np.full(shape[1], np.nan)
    org_responded = np.full(shape[1], np.nan)
    if org_groups.size:
        c = cols_of(org_groups[:, 0])
        org_invited[c], org_responded[c] = org_groups[:, 2], org_groups[:, 3]

    out: dict[str, dict[str, Array]] = {k: {} for k in ("mean", "n", "favorable", "enps", "listed")}
    org: dict[str, dict[str, Array]] = {k: {} for k in ("mean", "favorable", "enps")}
    counted = np.zeros(shape)
    for d, (table, org_table) in tables.items():
        arrays = {k: np.full(shape, np.nan) for k in ("mean", "favorable", "enps")}
        n = np.zeros(shape)
        listed = np.zeros(shape, dtype=bool)
        if table.size:
            r, c = rows_of(table[:, 1]), cols_of(table[:, 0])
            count = np.nan_to_num(table[:, 2])
            shown = np.isfinite(table[:, 3])
            for k, j in (("mean", 3), ("favorable", 4), ("enps", 5)):
                arrays[k][r[shown], c[shown]] = table[shown, j]
            n[r[shown], c[shown]] = count[shown]
            listed[r, c] = True
            counted[r, c] = np.maximum(counted[r, c], count)  # one row per team-wave here
        for k, v in arrays.items():
            out[k][d] = v
        out["n"][d], out["listed"][d] = n, listed
        for k, j in (("mean", 3), ("favorable", 4), ("enps", 5)):
            series = np.full(shape[1], np.nan)
            if org_table.size:
                series[cols_of(org_table[:, 0])] = org_table[:, j]
            org[k][d] = series

    return Panel(
        waves=tuple(int(pk) for pk, _ in waves),
        opens_on=tuple(day for _, day in waves),
        teams=teams,
        dimensions=tuple(releases),
        mean=out["mean"],
        n=out["n"],
        favorable=out["favorable"],
        enps=out["enps"],
        listed=out["listed"],
        org_mean=org["mean"],
        org_favorable=org["favorable"],
        org_enps=org["enps"],
        invited=invited,
        responded=responded,
        org_invited=org_invited,
        org_responded=org_responded,
        counted=counted,
        surveyed=surveyed,
        parent=parent,
    )
