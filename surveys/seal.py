"""The seal: when a wave closes, its submissions become anonymous responses, once and for all.

Runs inside ``wave_close``'s transaction, with the wave row locked, so intake can add nothing
meanwhile (DESIGN.md, Anonymity 1). In that one transaction it

1. opens every submission of the wave with the seal key (``surveys/crypto.py``);
2. freezes the team tree as it is now (``WaveTeam``) and attributes each response to a group:
   the respondent's own team, or, for a team holding fewer than k responses, its parent, from
   the leaves up, so every group that holds responses holds at least k; what reaches the top
   of the audience still short of k belongs to the wave as a whole (no team), which is itself
   topped up to k with the smallest other group if need be;
3. writes the responses, answers and comments in plaintext for the first and only time, in a
   random order with fresh uuid4 ids — unless fewer than k answered the whole wave, when only
   the count is kept (``Wave.responses_discarded``);
4. keeps participation as counts per group (``WaveParticipation``);
5. deletes the submissions, and clears every per-person trace of answering from the wave's
   invitations (the ``responded`` mark, reminder status and times, attempts, claims) in one
   UPDATE of all of them, so no live row says who answered, and the seal's transaction id,
   shared by every plaintext row, is shared with every invitation of the wave alike.

There is no key material in the database to delete: the boxes are sealed to a public key that
only the processes' settings hold.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Case, CharField, Count, F, TextField, Value, When

from . import crypto
from .models import (
    TEAM_PATH_SEPARATOR,
    Answer,
    Comment,
    Invitation,
    Question,
    Response,
    Submission,
    Team,
    Wave,
    WaveParticipation,
    WaveTeam,
)

logger = logging.getLogger(__name__)

BULK_BATCH = 2000
SUBMISSIONS_CHUNK = 500  # boxes are ~8.5 KB: read a few MB at a time, never the whole wave


@dataclass(frozen=True)
class SealResult:
    responses: int
    comments: int
    groups: int
    discarded: int = 0  # answers not kept: fewer than k answered the whole wave


def wave_seal(*, wave: Wave) -> SealResult:
    """Seal ``wave`` (see the module docstring). The caller holds the transaction and the wave's lock.

    Raises ``crypto.SealKeyError`` before writing anything when this process has no seal key or
    a submission does not open; the caller's transaction then leaves the wave as it was.
    """
    boxes = crypto.seal_private_keys()
    ballots = _ballots_opened(wave=wave, boxes=boxes)
    invited = Counter(dict(Invitation.objects.filter(wave=wave).values_list("team").annotate(n=Count("id"))))
    tree = _tree_of(team_ids=set(invited))
    group_of = groups_attribute(
        parents={team: parent for team, (parent, _) in tree.items()},
        tops=_audience_tops(wave=wave, tree=tree),
        responses=Counter(team_id for team_id, _ in ballots),
        k=wave.min_respondents,
    )
    _tree_freeze(wave=wave, tree=tree, invited=invited, group_of=group_of)
    if len(ballots) < wave.min_respondents:
        # Fewer than k answered the whole wave: nothing of it could ever be shown, and so few
        # plaintext answers could be told apart by anyone who knows who answered. Only the
        # count is kept.
        result = SealResult(responses=0, comments=0, groups=0, discarded=len(ballots))
    else:
        result = _plaintext_write(wave=wave, ballots=ballots, group_of=group_of)
    _participation_keep(wave=wave, invited=invited, ballots=ballots, group_of=group_of)
    Submission.objects.filter(wave=wave).delete()
    _invitations_forget_who_answered(wave=wave)
    return result


def groups_attribute(
    *, parents: Mapping[int, int | None], tops: set[int], responses: Mapping[int, int], k: int
) -> dict[int, int | None]:
    """The group each team's responses belong to (None: the wave as a whole).

    ``parents`` is the tree (every team, and its parent or None), ``tops`` the teams at the top
    of the wave's audience, ``responses`` how many responses start at each team. From the
    deepest teams up, a team holding fewer than ``k`` (its own plus what its small sub-teams
    passed up) passes them all to its parent; at a top, or a root, they go to the wave.
    A team with no responses merges the same way, so every team maps to the group that would
    hold its members' answers (the participation counts use that).
    """
    depth: dict[int, int] = {}

    def depth_of(team: int) -> int:
        if team not in depth:
            parent = parents[team]
            depth[team] = 0 if parent is None else depth_of(parent) + 1
        return depth[team]

    held = Counter({team: responses.get(team, 0) for team in parents})
    passed_to: dict[int, int | None] = {}
    for team in sorted(parents, key=depth_of, reverse=True):
        if held[team] >= k:
            continue  # holds a group of its own
        parent = parents[team]
        if team in tops or parent is None:
            passed_to[team] = None
        else:
            passed_to[team] = parent
            held[parent] += held[team]

    def group(team: int | None) -> int | None:
        while team is not None and team in passed_to:
            team = passed_to[team]
        return team

    return _wave_group_filled({team: group(team) for team in parents}, responses=responses, k=k, depth_of=depth_of)


def _wave_group_filled(
    group_of: dict[int, int | None], *, responses: Mapping[int, int], k: int, depth_of: Callable[[int], int]
) -> dict[int, int | None]:
    """The wave as a whole (None) must hold at least k too, when it holds anything.

    What reached the top of the audience short of k goes to the wave as a whole; if that is
    still fewer than k (two small root teams, say, or a one-person team moved to the root
    before the seal), it would be a tiny group that anyone knowing who answered could read
    person by person. So a group that holds k or more joins it, until it holds k or no other
    group is left: fewer team results for that wave, never a group under k. The group nearest
    the top goes first, the smallest among those: moving a group takes the results of it and
    of every team above it (their subtrees no longer hold all their answers), so a deep group
    would cost the most teams.
    """
    while True:
        held = Counter()
        for team, count in responses.items():
            held[group_of[team]] += count
        if not 0 < held[None] < k:
            return group_of
        groups = sorted((depth_of(team), count, team) for team, count in held.items() if team is not None and count)
        if not groups:
            return group_of  # the whole wave holds fewer than k: the seal writes none of it
        smallest = groups[0][2]
        group_of = {team: None if group == smallest else group for team, group in group_of.items()}


def _ballots_opened(*, wave: Wave, boxes: Mapping[str, object]) -> list[tuple[int, crypto.Ballot]]:
    """Every submission of the wave, opened; read a chunk at a time (keyset on the id), so memory
    holds only the small opened ballots, not every box. Plain queries rather than a server-side
    cursor, which a transaction-pooling PgBouncer would not keep, and which a refusal midway
    (SealKeyError) would leave open in a rolled-back transaction."""
    ballots: list[tuple[int, crypto.Ballot]] = []
    submissions = Submission.objects.filter(wave=wave).order_by("pk")
    after = None
    while True:
        chunk = submissions.filter(pk__gt=after) if after is not None else submissions
        rows = list(chunk.values_list("pk", "team_id", "key", "box")[:SUBMISSIONS_CHUNK])
        ballots += [(team_id, crypto.ballot_decrypt(key=key, box=box, boxes=boxes)) for _, team_id, key, box in rows]
        if len(rows) < SUBMISSIONS_CHUNK:
            return ballots
        after = rows[-1][0]


def _tree_of(*, team_ids: Iterable[int]) -> dict[int, tuple[int | None, str]]:
    """The invited teams and all their ancestors as they are now: {team: (parent, path)}."""
    paths = set(Team.objects.filter(pk__in=list(team_ids)).values_list("path", flat=True))
    prefixes = set()
    for path in paths:
        parts = path.split(TEAM_PATH_SEPARATOR)
        prefixes.update(TEAM_PATH_SEPARATOR.join(parts[: n + 1]) for n in range(len(parts)))
    return {
        pk: (parent, path)
        for pk, parent, path in Team.objects.filter(path__in=prefixes).values_list("pk", "parent_id", "path")
    }


def _tree_freeze(
    *,
    wave: Wave,
    tree: Mapping[int, tuple[int | None, str]],
    invited: Mapping[int, int],
    group_of: Mapping[int, int | None],
) -> None:
    """Store the tree for the wave, with each team's own invitees and the group its answers went to."""
    WaveTeam.objects.bulk_create(
        (
            WaveTeam(
                wave=wave, team_id=pk, parent_id=parent, path=path, invited=invited.get(pk, 0), group_id=group_of[pk]
            )
            for pk, (parent, path) in tree.items()
        ),
        batch_size=BULK_BATCH,
    )


def _audience_tops(*, wave: Wave, tree: Mapping[int, tuple[int | None, str]]) -> set[int]:
    """The highest teams of the wave's audience (the tree's roots for a whole-organisation wave)."""
    audience = set(wave.teams.values_list("pk", flat=True))
    tops = set()
    for team in audience & set(tree):
        parent = tree[team][0]
        while parent is not None and parent not in audience:
            parent = tree[parent][0] if parent in tree else None
        if parent is None:
            tops.add(team)
    return tops


def _plaintext_write(
    *, wave: Wave, ballots: list[tuple[int, crypto.Ballot]], group_of: Mapping[int, int | None]
) -> SealResult:
    shuffle = secrets.SystemRandom().shuffle
    shuffle(ballots)
    existing = set(
        Question.objects.filter(pk__in={q for _, b in ballots for q, _ in b.answers}).values_list("pk", flat=True)
    )
    responses, answers, comments = [], [], []
    for team_id, ballot in ballots:
        group = group_of[team_id]
        response = Response(id=uuid.uuid4(), wave_id=wave.pk, team_id=group)
        responses.append(response)
        # A question deleted while the wave was open takes its answers with it.
        answers.extend(
            Answer(id=uuid.uuid4(), response_id=response.id, question_id=question, value=value)
            for question, value in ballot.answers
            if question in existing
        )
        if ballot.comment:
            comments.append(Comment(id=uuid.uuid4(), wave_id=wave.pk, team_id=group, text=ballot.comment))
    shuffle(comments)  # a comment's place must not follow its response's
    Response.objects.bulk_create(responses, batch_size=BULK_BATCH)
    Answer.objects.bulk_create(answers, batch_size=BULK_BATCH)
    Comment.objects.bulk_create(comments, batch_size=BULK_BATCH)
    return SealResult(responses=len(responses), comments=len(comments), groups=len({r.team_id for r in responses}))


def _participation_keep(
    *,
    wave: Wave,
    invited: Mapping[int, int],
    ballots: list[tuple[int, crypto.Ballot]],
    group_of: Mapping[int, int | None],
) -> None:
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for team, n in invited.items():
        counts[group_of[team]][0] += n
    for team, _ in ballots:
        counts[group_of[team]][1] += 1
    WaveParticipation.objects.bulk_create(
        WaveParticipation(wave=wave, team_id=group, invited=n_invited, responded=n_responded)
        for group, (n_invited, n_responded) in counts.items()
    )


def _invitations_forget_who_answered(*, wave: Wave) -> None:
    """One UPDATE of every invitation of the wave: answered or not, they read the same after it.

    Unsent ones are skipped; the delivery outcome and its error stay (they say whether the
    e-mail arrived, not whether anyone answered), except an error a reminder left. The claim
    goes too, so a batch still sending for this wave can record nothing after the seal.
    """
    Status = Invitation.SendStatus
    Invitation.objects.filter(wave=wave).update(
        status=Case(
            When(status__in=[Status.PENDING, Status.SENDING], then=Value(Status.SKIPPED)),
            default=F("status"),
            output_field=CharField(),
        ),
        error=Case(When(status=Status.FAILED, then=F("error")), default=Value(""), output_field=TextField()),
        responded=False,
        remind_at=None,
        reminder_status="",
        reminded_at=None,
        attempts=0,
        claim=None,
        lease_until=None,
    )
