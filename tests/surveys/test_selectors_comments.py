"""surveys.selectors.waves_subtree_comments: a team's comments are those attributed inside its
subtree as each wave's seal froze it, not as the tree is now, and nobody else's."""

from __future__ import annotations

import pytest

from surveys import selectors as surveys
from surveys.models import Comment, WaveTeam
from tests.factories import SealedWaveFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_a_teams_comments_are_those_of_its_subtree_as_each_wave_froze_it():
    # given: ML sat under Eng when the first wave was sealed and under Sales for the second;
    # "Engines" shares Eng's path as a prefix of its name, not as an ancestor
    acme = TeamFactory(name="Acme")
    eng, engines, sales = (TeamFactory(name=name, parent=acme) for name in ("Eng", "Engines", "Sales"))
    ml = TeamFactory(name="ML", parent=sales)
    first, second = SealedWaveFactory(), SealedWaveFactory()
    for wave, ml_parent in ((first, eng), (second, sales)):
        for team, parent in ((acme, None), (eng, acme), (engines, acme), (sales, acme), (ml, ml_parent)):
            path = f"{parent.path}/{team.name}" if parent else team.name
            WaveTeam.objects.create(wave=wave, team=team, parent=parent, path=path, group=team)
        for team in (acme, eng, engines, sales, ml):
            Comment.objects.create(wave=wave, team=team, text=f"{team.name} {wave.pk}")
        Comment.objects.create(wave=wave, team=None, text=f"whole wave {wave.pk}")
    other = SealedWaveFactory()
    Comment.objects.create(wave=other, team=eng, text="another wave")

    # when
    comments = surveys.waves_subtree_comments(wave_ids=[first.pk, second.pk], team_id=eng.pk)

    # then
    assert {wave: sorted(texts) for wave, texts in comments.items()} == {
        first.pk: [f"Eng {first.pk}", f"ML {first.pk}"],
        second.pk: [f"Eng {second.pk}"],
    }


def test_a_team_outside_the_frozen_trees_has_no_comments():
    wave = SealedWaveFactory()
    team = TeamFactory(name="Acme")
    Comment.objects.create(wave=wave, team=None, text="whole wave")

    assert surveys.waves_subtree_comments(wave_ids=[wave.pk], team_id=team.pk) == {wave.pk: []}
