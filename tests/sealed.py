"""What intake stored, opened as only the seal can: with the seal key of the test process."""

from __future__ import annotations

from dataclasses import dataclass

from surveys import crypto
from surveys.models import Question, Submission


@dataclass(frozen=True)
class Opened:
    wave_id: int
    team_id: int
    answers: list[tuple[str, int]]  # (question code, value), sorted
    comment: str


def submissions_opened(**filters) -> list[Opened]:
    boxes = crypto.seal_private_keys()
    codes = dict(Question.objects.values_list("pk", "code"))
    opened = []
    for submission in Submission.objects.filter(**filters):
        ballot = crypto.ballot_decrypt(key=submission.key, box=bytes(submission.box), boxes=boxes)
        answers = sorted((codes[question], value) for question, value in ballot.answers)
        opened.append(Opened(submission.wave_id, submission.team_id, answers, ballot.comment))
    return opened
