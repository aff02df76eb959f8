"""The seal (surveys/seal.py): attribution of small teams, the frozen tree, participation counts,
the invitations' per-person traces, and the seal key (DESIGN.md, Anonymity 1)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from surveys import crypto
from surveys.crypto import SealKeyError
from surveys.intake import TokenExpired, response_record
from surveys.models import Comment, Invitation, Response, Submission, SurveyQuestion, Wave, WaveParticipation, WaveTeam
from surveys.seal import groups_attribute
from surveys.services import team_move, team_rename
from surveys.tokens import token_for
from surveys.waves import wave_close, wave_launch
from tests.factories import EmployeeFactory, QuestionFactory, SurveyFactory, TeamFactory

Status = Invitation.SendStatus

# --- attribution, on a tree given by hand (k = 5) ----------------------------------------------

#   1 Acme ── 2 Eng ── 3 ML
#          │        └─ 4 Data
#          └─ 5 Sales
TREE = {1: None, 2: 1, 3: 2, 4: 2, 5: 1}


def test_a_team_of_at_least_k_keeps_its_responses():
    assert groups_attribute(parents=TREE, tops=set(), responses={3: 5, 2: 1, 1: 4}, k=5)[3] == 3


def test_a_small_team_passes_its_responses_to_its_parent():
    # ML (2) goes to Eng, which with its own 4 holds 6
    groups = groups_attribute(parents=TREE, tops=set(), responses={3: 2, 2: 4}, k=5)
    assert (groups[3], groups[2]) == (2, 2)


def test_small_siblings_together_make_their_parent_a_group():
    # ML 3 and Data 2 both go to Eng, which has no members of its own: 5 there
    groups = groups_attribute(parents=TREE, tops=set(), responses={3: 3, 4: 2}, k=5)
    assert (groups[3], groups[4], groups[2]) == (2, 2, 2)


def test_what_reaches_the_top_short_of_k_belongs_to_the_wave_once_the_wave_holds_k():
    # Sales 3 goes to Acme, which with its 2 holds 5 at the root: a group of its own.
    groups = groups_attribute(parents=TREE, tops=set(), responses={5: 3, 1: 2, 2: 6}, k=5)
    assert (groups[5], groups[1], groups[2]) == (1, 1, 2)

    # Sales 3 and Acme's 1 make 4 < 5 at the root: the wave as a whole, which would then hold
    # a group of four. So the smallest group of k or more (Eng, 6) joins it: 10.
    groups = groups_attribute(parents=TREE, tops=set(), responses={5: 3, 1: 1, 2: 6}, k=5)
    assert (groups[5], groups[1], groups[2], groups[3]) == (None, None, None, None)


def test_the_wave_as_a_whole_takes_the_group_nearest_the_top_and_no_more():
    #   1 Acme ── 2 Eng (8) ── 3 ML (5)         6 Lonely (1), a root of its own
    tree = {**TREE, 6: None}
    groups = groups_attribute(parents=tree, tops=set(), responses={2: 8, 3: 5, 6: 1}, k=5)

    # Eng (nearest the top) tops the wave up to 9; ML keeps its 5 and with them its results.
    # Taking ML instead (the smaller) would have cost ML's results and Eng's too (Eng's
    # subtree would no longer hold all its answers).
    assert (groups[6], groups[2], groups[3]) == (None, None, 3)


def test_among_groups_as_near_the_top_the_smallest_tops_the_wave_up():
    #   1 Acme ── 2 Eng (8), 5 Sales (6)        6 Lonely (1)
    tree = {**TREE, 6: None}
    groups = groups_attribute(parents=tree, tops=set(), responses={2: 8, 5: 6, 6: 1}, k=5)

    assert (groups[6], groups[5], groups[2]) == (None, None, 2)


def test_a_wave_with_fewer_than_k_responses_in_all_has_only_the_wave():
    groups = groups_attribute(parents=TREE, tops=set(), responses={3: 2, 5: 2}, k=5)
    assert set(groups.values()) == {None}


def test_the_top_of_the_audience_passes_nothing_above_it():
    # a wave for Eng only: ML's 2 and Data's 2 reach Eng, 4 < 5, and go to the wave, not to Acme
    groups = groups_attribute(parents=TREE, tops={2}, responses={3: 2, 4: 2}, k=5)
    assert (groups[3], groups[4], groups[2]) == (None, None, None)


def test_a_team_without_responses_maps_to_the_group_that_holds_its_members_answers():
    # Data had nobody answer; its members would have gone to Eng, like ML's
    groups = groups_attribute(parents=TREE, tops=set(), responses={3: 2, 2: 3}, k=5)
    assert (groups[4], groups[3]) == (2, 2)


# --- the seal, on the database -------------------------------------------------------------------

CODES = ("seal_a", "seal_b")


@pytest.fixture
def org(db):
    """Acme (2 people) / Eng (6) / Eng/ML (2), and Acme/Sales (3): thirteen people."""
    acme = TeamFactory(name="Acme")
    eng = TeamFactory(name="Eng", parent=acme)
    ml = TeamFactory(name="ML", parent=eng)
    sales = TeamFactory(name="Sales", parent=acme)
    for team, count in ((acme, 2), (eng, 6), (ml, 2), (sales, 3)):
        EmployeeFactory.create_batch(count, team=team)
    return {"acme": acme, "eng": eng, "ml": ml, "sales": sales}


def _survey():
    survey = SurveyFactory()
    for position, code in enumerate(CODES):
        SurveyQuestion.objects.create(survey=survey, question=QuestionFactory(code=code), position=position)
    return survey


def _launch_and_answer(*, who=lambda invitation: True, remind: bool = False) -> Wave:
    wave = wave_launch(survey=_survey(), remind_after_days=2 if remind else None)
    for n, invitation in enumerate(wave.invitations.select_related("team").order_by("employee_id")):
        if who(invitation):
            comment = f"{invitation.team.name} says {n}"
            response_record(token=token_for(invitation.id), answers={"seal_a": 1 + n % 5}, comment=comment)
    return wave


def test_small_teams_are_sealed_into_their_parent(org):
    # given everyone answered: ML (2) -> Eng (6 + 2 = 8); Sales (3) -> Acme (2 + 3 = 5)
    wave = _launch_and_answer()

    # when
    wave_close(wave=wave)

    # then every group that holds responses holds at least k, and comments follow their response
    responses = Counter(Response.objects.filter(wave=wave).values_list("team__path", flat=True))
    assert responses == {"Acme/Eng": 8, "Acme": 5}
    comments = Counter(Comment.objects.filter(wave=wave).values_list("team__path", "text"))
    assert {path for path, _ in comments} == {"Acme/Eng", "Acme"}
    assert sorted(text.split(" says")[0] for path, text in comments if path == "Acme/Eng") == ["Eng"] * 6 + ["ML"] * 2
    assert sorted(text.split(" says")[0] for path, text in comments if path == "Acme") == ["Acme"] * 2 + ["Sales"] * 3
    # and participation is kept per group, not per team
    participation = set(WaveParticipation.objects.filter(wave=wave).values_list("team__path", "invited", "responded"))
    assert participation == {("Acme/Eng", 8, 8), ("Acme", 5, 5)}


def test_a_one_person_team_of_its_own_never_makes_a_group_of_one(org):
    # given a wave for Eng and for a one-person root team (HR could build that on purpose)
    lonely = TeamFactory(name="Lonely")
    EmployeeFactory(team=lonely)
    wave = wave_launch(survey=_survey(), teams=[org["eng"], lonely])
    for n, invitation in enumerate(wave.invitations.order_by("employee_id")):
        response_record(token=token_for(invitation.id), answers={"seal_a": 1 + n % 5})

    # when
    wave_close(wave=wave)

    # then Lonely's answer reached the top short of k, so the wave as a whole took in the
    # smallest group it needed (Eng, 8): no stored group holds fewer than k
    responses = Counter(Response.objects.filter(wave=wave).values_list("team__path", flat=True))
    assert responses == {None: 9}
    assert set(WaveParticipation.objects.filter(wave=wave).values_list("team__path", "invited", "responded")) == {
        (None, 9, 9)
    }


def test_a_wave_answered_by_fewer_than_k_keeps_only_the_count(org):
    # given four of thirteen answered (k = 5)
    answers = iter([True] * 4 + [False] * 9)
    wave = _launch_and_answer(who=lambda invitation: next(answers))

    # when
    closed = wave_close(wave=wave)

    # then no answer is written in plaintext, the boxes are gone, and only the count is kept
    assert (Response.objects.count(), Comment.objects.count(), Submission.objects.count()) == (0, 0, 0)
    assert closed.responses_discarded == 4
    assert sum(WaveParticipation.objects.filter(wave=wave).values_list("responded", flat=True)) == 4
    assert (closed.status, closed.sealed) == (Wave.Status.CLOSED, True)
    assert not Invitation.objects.filter(wave=wave, responded=True).exists()


def test_participation_counts_everyone_invited_to_a_group(org):
    # given only five of Eng's and ML's eight answered, and nobody in Sales or Acme
    answers = iter([True] * 5 + [False] * 3)
    wave = _launch_and_answer(who=lambda invitation: invitation.team.name in {"Eng", "ML"} and next(answers))

    wave_close(wave=wave)

    participation = set(WaveParticipation.objects.filter(wave=wave).values_list("team__path", "invited", "responded"))
    assert participation == {("Acme/Eng", 8, 5), (None, 5, 0)}


def test_the_seal_freezes_the_tree_it_used(org):
    # given ML is moved under Sales while the wave is open: at the seal ML (2) + Sales (3) = 5,
    # Eng 6, and Acme's own 2 reach the top short of k, which the smallest group (Sales) tops up
    wave = _launch_and_answer()
    team_move(team=org["ml"], parent=org["sales"])

    # when
    wave_close(wave=wave)

    # then attribution used the tree at the seal, and that tree is kept for the wave
    responses = Counter(Response.objects.filter(wave=wave).values_list("team__name", flat=True))
    assert responses == {"Eng": 6, None: 7}
    frozen = dict(WaveTeam.objects.filter(wave=wave).values_list("team__name", "path"))
    assert frozen == {"Acme": "Acme", "Eng": "Acme/Eng", "ML": "Acme/Sales/ML", "Sales": "Acme/Sales"}
    # a later rename changes the live tree, not the wave's
    team_rename(team=org["sales"], name="Revenue")
    assert WaveTeam.objects.get(wave=wave, team=org["ml"]).path == "Acme/Sales/ML"


def test_after_the_seal_no_invitation_says_who_answered(org):
    # given half of the people answered, and the others were reminded first
    wave = _launch_and_answer(who=lambda invitation: invitation.employee_id % 2 == 0, remind=True)
    Invitation.objects.filter(wave=wave, responded=False).update(
        status=Status.SENT, reminder_status=Status.SENT, reminded_at=timezone.now(), attempts=2
    )
    Invitation.objects.filter(wave=wave, responded=True).update(
        status=Status.SENT, reminder_status=Status.SKIPPED, attempts=1
    )

    # when
    wave_close(wave=wave)

    # then every invitation reads the same, answered or not
    traces = set(
        Invitation.objects.filter(wave=wave).values_list(
            "status", "responded", "remind_at", "reminder_status", "reminded_at", "attempts", "claim", "lease_until"
        )
    )
    assert traces == {(Status.SENT, False, None, "", None, 0, None, None)}
    assert Submission.objects.count() == 0


def test_after_the_seal_every_link_of_the_wave_is_closed_whether_used_or_not(org, client):
    wave = _launch_and_answer(who=lambda invitation: invitation.employee_id % 2 == 0)
    used, unused = (
        wave.invitations.filter(responded=True).first(),
        wave.invitations.filter(responded=False).first(),
    )
    assert client.get(f"/api/v1/invitations/{token_for(used.id)}/").status_code == 409  # while open

    wave_close(wave=wave)

    for invitation in (used, unused):
        reply = client.get(f"/api/v1/invitations/{token_for(invitation.id)}/")
        assert (reply.status_code, reply.json()["code"]) == (410, "expired")


def test_an_altered_submission_stops_the_seal_and_changes_nothing(org):
    # given someone with database access altered one sealed box
    wave = _launch_and_answer()
    submission = Submission.objects.filter(wave=wave).first()
    box = bytearray(submission.box)
    box[-1] ^= 1
    Submission.objects.filter(pk=submission.pk).update(box=bytes(box))

    # when / then
    with pytest.raises(SealKeyError, match="does not open with the seal key"):
        wave_close(wave=wave)
    wave.refresh_from_db()
    assert (wave.status, wave.sealed) == (Wave.Status.OPEN, False)
    assert (Submission.objects.count(), Response.objects.count(), WaveTeam.objects.count()) == (13, 0, 0)
    assert Invitation.objects.filter(wave=wave, responded=True).count() == 13


def test_a_rotated_seal_key_opens_what_was_sealed_to_the_old_one_through_the_fallbacks(org, settings):
    # given submissions sealed to the old key, then a new key in force
    old = settings.PULSE_SEAL_KEY
    wave = _launch_and_answer()
    new = "a-new-seal-key-that-is-certainly-long-enough"
    settings.PULSE_SEAL_KEY = new
    settings.PULSE_SEAL_PUBLIC_KEY = crypto.public_key_text(crypto.private_key_derive(new).public_key)

    # when the old key is gone, the seal refuses, naming the key it needs
    settings.PULSE_SEAL_KEY_FALLBACKS = []
    old_id = crypto.key_id(crypto.private_key_derive(old).public_key)
    with pytest.raises(SealKeyError, match=f"no seal key with id {old_id} is configured"):
        wave_close(wave=wave)
    assert Submission.objects.count() == 13

    # and with it among the fallbacks, the seal goes through
    settings.PULSE_SEAL_KEY_FALLBACKS = [old]
    wave_close(wave=wave)
    assert Response.objects.filter(wave=wave).count() == 13


def test_a_submission_box_has_the_same_size_whatever_it_holds(org):
    # given one person who skipped everything but one question, another with a long comment
    wave = wave_launch(survey=_survey())
    first, second = wave.invitations.all()[:2]
    response_record(token=token_for(first.id), answers={"seal_a": 3})
    response_record(token=token_for(second.id), answers={"seal_a": 1, "seal_b": 5}, comment="ü" * 2000)

    # then the stored boxes say nothing by their length
    sizes = {len(bytes(box)) for box in Submission.objects.values_list("box", flat=True)}
    assert sizes == {crypto.BOX_SIZE}


def test_a_wave_closed_while_its_last_answers_come_in_takes_them_all(org):
    # the wave is sealed with what was recorded; a later submission is refused as closed
    wave = _launch_and_answer(who=lambda invitation: invitation.team.name != "Acme")
    late = wave.invitations.filter(team=org["acme"]).first()
    wave_close(wave=wave, now=timezone.now() - timedelta(seconds=1))

    with pytest.raises(TokenExpired):
        response_record(token=token_for(late.id), answers={"seal_a": 2})
    assert Response.objects.filter(wave=wave).count() == 11
