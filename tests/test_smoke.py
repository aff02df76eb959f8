from __future__ import annotations

from surveys.models import Team


def test_team_path_subtree(db):
    # given a small tree
    acme = Team.objects.create(name="Acme", path="Acme")
    eng = Team.objects.create(name="Engineering", parent=acme, path="Acme/Engineering")
    Team.objects.create(name="Acme Labs", path="Acme Labs")

    # when we ask for Acme's subtree
    subtree = set(Team.objects.filter(acme.subtree_q()).values_list("path", flat=True))

    # then a sibling whose name merely starts the same is not in it
    assert subtree == {"Acme", eng.path}
