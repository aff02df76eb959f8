"""Single use under concurrency, and submissions racing wave_close (PostgreSQL, real threads).

SQLite has no row locks (its transactions are serialised whole), so these run on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from surveys.models import Answer, Comment, Invitation, Response, Submission, Wave, WaveParticipation
from surveys.waves import wave_close
from tests.factories import InvitationFactory, WaveFactory
from tests.sealed import submissions_opened
from tests.surveys.test_intake import make_invitation, make_survey

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in as many threads released at the same instant; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def thread(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # kept for the assertion, never swallowed silently
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def submission(index: int) -> dict[str, Any]:
    """A submission that identifies the thread it came from, to tell whose answers were stored."""
    return {"answers": {"t_workload": 1 + index % 5, "t_enps": index % 11}, "comment": f"from thread {index}"}


def test_fifty_simultaneous_submissions_of_one_token_store_exactly_one_submission():
    # given
    invitation = make_invitation()

    # when
    def submit(index: int) -> int:
        body = {"token": invitation.token, **submission(index)}
        return APIClient().post("/api/v1/responses/", body, format="json").status_code

    statuses = run_together(50, submit)

    # then
    assert Counter(statuses) == {201: 1, 409: 49}
    winner = statuses.index(201)
    (opened,) = submissions_opened()
    assert dict(opened.answers) == submission(winner)["answers"]
    assert opened.comment == f"from thread {winner}"
    invitation.refresh_from_db()
    assert invitation.responded is True


@pytest.mark.parametrize("round_", range(3))
def test_submissions_racing_wave_close_are_either_sealed_in_or_refused(round_):
    # given: 20 invited people submit at the very moment the wave is closed
    wave = WaveFactory(survey=make_survey())
    invitations = [InvitationFactory(wave=wave) for _ in range(20)]

    # when
    def act(index: int) -> Any:
        if index == len(invitations):
            try:
                wave_close(wave=Wave.objects.get(pk=wave.pk))
            except Exception as exc:  # e.g. no analysis task registered: the close itself committed
                return exc
            return "closed"
        body = {"token": invitations[index].token, **submission(index)}
        return APIClient().post("/api/v1/responses/", body, format="json").status_code

    results = run_together(len(invitations) + 1, act)

    # then: every submission either got in (and was sealed with the rest) or was told "closed"
    statuses = Counter(results[:-1])
    assert set(statuses) <= {201, 410}
    wave.refresh_from_db()
    assert (wave.status, wave.sealed) == (Wave.Status.CLOSED, True)
    # fewer than k in before the close: the seal keeps only their count (DESIGN.md, Anonymity 1)
    kept = statuses[201] if statuses[201] >= wave.min_respondents else 0
    assert wave.responses_discarded == statuses[201] - kept
    assert Response.objects.filter(wave=wave).count() == kept
    assert Answer.objects.filter(response__wave=wave).count() == 2 * kept
    assert Comment.objects.filter(wave=wave).count() == kept
    assert Submission.objects.filter(wave=wave).count() == 0  # none came in after the seal
    # the seal kept the count and cleared every mark
    assert sum(WaveParticipation.objects.filter(wave=wave).values_list("responded", flat=True)) == statuses[201]
    assert not Invitation.objects.filter(wave=wave, responded=True).exists()
    # A response committed after the seal would keep its own transaction id: all of them
    # carry the sealing transaction's.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(DISTINCT xmin::text) FROM {Response._meta.db_table} WHERE wave_id = %s",
            [wave.pk],
        )
        distinct_writers = cursor.fetchone()[0]
    assert distinct_writers == (1 if kept else 0)
