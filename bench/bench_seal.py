"""Seal benchmark: ``wave_close`` of a wave of 1,000 and of 10,000 responses, against today's seal.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_seal.py [--responses 1000 10000] [--rounds 3]

PostgreSQL only (Redis is not needed: the analysis request ``wave_close`` enqueues runs eagerly,
and today it only logs a line). It never touches your data: it creates (and drops) its own
database ``pulse_bench_seal`` on the server DATABASE_URL points to. In one run it:

1. migrates the fresh database, installs the question bank (the default survey ``pulse``, 15
   questions, comment box on) and imports an org of two trees, one per wave size, each of
   ``responses / --response-rate`` people in teams of ``--team-size`` under ten divisions;
2. draws, once per size (seeded), who answers, their 15 answers (every value on its scale) and
   a comment for ``--comment-share`` of them, of realistic lengths (a few words to a few
   paragraphs); the same ballots go to both algorithms;
3. for every round, size and algorithm, on emptied wave tables: launches a wave for that size's
   tree (``wave_launch``), marks every invitation sent and the respondents' as answered, and
   stores their answers as the algorithm expects them at close:
   - **new** (``surveys.waves.wave_close`` -> ``surveys.seal.wave_seal``): one ``Submission``
     per respondent holding a real sealed box (``surveys.crypto.ballot_encrypt``), as intake
     leaves them;
   - **today's seal** (``legacy_wave_close`` below, a copy of ``wave_close`` and ``_wave_seal``
     at commit 9533fe0): plaintext ``Response``/``Answer``/``Comment`` rows, as that intake
     left them;
   then ``VACUUM ANALYZE`` (as autovacuum would have, days after the answers came in), and
   closes the wave in a fresh process (``--close``, below) so that each close's memory is its
   own: once timed, with the process's RSS high-water mark during the close (the kernel's
   VmHWM, reset just before it; ``RssPeak`` below) against its RSS just before, and once more
   on an identical wave under ``tracemalloc`` (which slows Python down, so it is never the
   timed run);
4. checks each close: as many responses, 15 answers each and comments as were given, no
   submission left, the wave sealed;

and prints per size and algorithm the median time and memory, the growth from the smallest to
the largest size, and new / today at each size. Times include the VACUUM each close runs after
its commit (printed apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    PYTHON,
    ROOT,
    machine_note,
    progress,
    seal_key_env,
    service_env,
    sigterm_as_interrupt,
    throwaway_database,
)

DIVISIONS = 10
WAVE_TABLES = (
    "surveys_wave",
    "surveys_wave_teams",
    "surveys_invitation",
    "surveys_submission",
    "surveys_response",
    "surveys_answer",
    "surveys_comment",
    "surveys_waveteam",
    "surveys_waveparticipation",
)
# Words for comments, with a few non-ASCII ones (the comment box takes any language).
_PROSE = (
    "the team meetings are too long and we rarely decide anything workload has been heavy since "
    "the reorganisation my manager listens but nothing changes I would like clearer priorities "
    "for the next quarter tooling is slow deployments take hours onboarding was great thanks "
    "to colleagues communication between departments could be better Überstunden werden nicht "
    "anerkannt la charge de travail est élevée café remote work helps me focus more recognition "
    "please fewer tickets more time for quality"
)
WORDS = _PROSE.split()


# --- today's seal, as it was: a copy, for the baseline -------------------------------------------
# Copied from surveys/waves.py at commit 9533fe0 ("today's seal"): wave_close's seal (the
# invitation updates, _wave_seal and the VACUUM after the commit), on the plaintext Response /
# Answer / Comment rows that intake wrote back then. Only the names changed (legacy_*).


def legacy_wave_close(*, wave: Any, now: Any = None) -> Any:
    """wave_close at 9533fe0: skip what was not sent, rewrite the answered invitations, seal."""
    from celery import current_app
    from django.db import transaction
    from django.utils import timezone

    from surveys.models import Invitation, Wave

    unsent = (Invitation.SendStatus.PENDING, Invitation.SendStatus.SENDING)
    now = now or timezone.now()
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.status == Wave.Status.CLOSED:
            return wave
        wave.status, wave.closed_at = Wave.Status.CLOSED, now
        invitations = Invitation.objects.filter(wave=wave)
        invitations.filter(status__in=unsent).update(status=Invitation.SendStatus.SKIPPED, lease_until=None)
        invitations.filter(reminder_status__in=unsent).update(reminder_status=Invitation.SendStatus.SKIPPED)
        # Rewrite the answered invitations too: their row versions were written by the
        # submissions, so their xmin would otherwise keep the order in which people answered.
        invitations.filter(responded=True).update(responded=True)
        legacy_seal(wave=wave)
        wave.sealed = True
        wave.save(update_fields=["status", "closed_at", "sealed"])
        # robust: a failed VACUUM is logged and must not keep the analysis from being enqueued.
        transaction.on_commit(legacy_answer_tables_vacuum, robust=True)
        wave_id = wave.pk
        transaction.on_commit(lambda: current_app.signature("analytics.wave_closed", args=(wave_id,)).delay())
    return wave


def legacy_seal(*, wave: Any) -> None:
    """_wave_seal at 9533fe0: delete the wave's responses, answers and comments and re-insert them shuffled, new ids."""
    import secrets

    from surveys.models import Answer, Comment, Response

    bulk_batch = 2000
    shuffle = secrets.SystemRandom().shuffle
    responses = list(Response.objects.filter(wave=wave).values_list("pk", "team_id"))
    answers_by_response: dict[uuid.UUID, list[tuple[int, int]]] = {pk: [] for pk, _ in responses}
    for response_id, question_id, value in Answer.objects.filter(response__wave=wave).values_list(
        "response_id", "question_id", "value"
    ):
        answers_by_response[response_id].append((question_id, value))
    comments = list(Comment.objects.filter(wave=wave).values_list("team_id", "text"))

    Answer.objects.filter(response__wave=wave).delete()
    Response.objects.filter(wave=wave).delete()
    Comment.objects.filter(wave=wave).delete()

    shuffle(responses)
    shuffle(comments)
    new_responses, new_answers = [], []
    for old_id, team_id in responses:
        response = Response(id=uuid.uuid4(), wave_id=wave.pk, team_id=team_id)
        new_responses.append(response)
        answers = answers_by_response[old_id]
        shuffle(answers)
        new_answers.extend(Answer(id=uuid.uuid4(), response_id=response.id, question_id=q, value=v) for q, v in answers)
    Response.objects.bulk_create(new_responses, batch_size=bulk_batch)
    Answer.objects.bulk_create(new_answers, batch_size=bulk_batch)
    Comment.objects.bulk_create(
        (Comment(id=uuid.uuid4(), wave_id=wave.pk, team_id=team_id, text=text) for team_id, text in comments),
        batch_size=bulk_batch,
    )


def legacy_answer_tables_vacuum() -> None:
    """_answer_tables_vacuum at 9533fe0: the pre-seal row versions out of the heap, after the commit."""
    from django.db import connection

    from surveys.models import Answer, Comment, Invitation, Response

    if connection.vendor != "postgresql":
        return
    if connection.in_atomic_block:
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Response, Answer, Comment, Invitation)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {tables}")


# --- the org and the ballots ---------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    responses: int
    invited: int

    @property
    def root(self) -> str:
        return f"Wave of {self.responses}"


def org_build(sizes: list[Size], *, team_size: int) -> None:
    """One tree per size: ``root/Division d/Team d.t``, ``team_size`` people a team."""
    from surveys.org_import import org_csv_build, org_import

    rows = []
    for size in sizes:
        for n in range(size.invited):
            team = n // team_size
            rows.append(
                {
                    "email": f"person{n:06d}@{size.responses}.bench.example",
                    "name": f"Person {n}",
                    "team": f"{size.root}/Division {team % DIVISIONS}/Team {team % DIVISIONS}.{team}",
                    "timezone": "Europe/Berlin",
                    "role": "employee",
                }
            )
    org_import(data=org_csv_build(rows), progress=sys.stderr.isatty())


def comment_text(rng: random.Random) -> str:
    """A comment of a realistic length: mostly a sentence or two, sometimes a few paragraphs."""
    kind = rng.random()
    if kind < 0.45:
        words = rng.randint(3, 15)  # "More coffee, fewer meetings."
    elif kind < 0.85:
        words = rng.randint(15, 60)
    else:
        words = rng.randint(60, 300)
    text = " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."
    return text[:2000]


@dataclass(frozen=True)
class Ballots:
    """Who answers (employee emails, in the order drawn) and what: the same for both algorithms."""

    respondents: list[str]
    ballots: list[Any]  # surveys.crypto.Ballot
    boxes: list[tuple[str, bytes]]  # (key id, sealed box), one per ballot

    @property
    def comments(self) -> int:
        return sum(1 for ballot in self.ballots if ballot.comment)


def ballots_draw(size: Size, *, comment_share: float, seed: int) -> Ballots:
    from surveys.crypto import Ballot, ballot_encrypt
    from surveys.models import Survey, SurveyQuestion

    rng = random.Random(f"{seed}-{size.responses}")
    survey = Survey.objects.get(slug="pulse")
    questions = [
        (item.question_id, item.question.min_value, item.question.max_value)
        for item in SurveyQuestion.objects.filter(survey=survey).select_related("question").order_by("position")
    ]
    people = [f"person{n:06d}@{size.responses}.bench.example" for n in range(size.invited)]
    respondents = rng.sample(people, size.responses)
    ballots = [
        Ballot(
            answers=tuple((pk, rng.randint(low, high)) for pk, low, high in questions),
            comment=comment_text(rng) if rng.random() < comment_share else "",
        )
        for _ in respondents
    ]
    boxes = [ballot_encrypt(ballot) for ballot in progress(ballots, desc=f"boxes for {size.responses:,}", unit="box")]
    return Ballots(respondents, ballots, boxes)


# --- one wave, as it stands when it closes -------------------------------------------------------


def wave_tables_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(WAVE_TABLES)} CASCADE")


def _copy(table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def wave_build(size: Size, ballots: Ballots, *, algorithm: str) -> int:
    """A wave of ``size`` at the end of its week: every invitation sent, the respondents' answered,
    their answers stored the way ``algorithm``'s intake stored them. Returns the wave's id."""
    from django.db import connection, transaction
    from django.utils import timezone

    from surveys.models import Invitation, Survey, Team
    from surveys.waves import wave_launch

    wave_tables_empty()
    wave = wave_launch(survey=Survey.objects.get(slug="pulse"), teams=[Team.objects.get(path=size.root)], days_open=5)
    with transaction.atomic():
        invitations = Invitation.objects.filter(wave=wave)
        invitations.update(status=Invitation.SendStatus.SENT, sent_at=timezone.now())
        team_of = dict(invitations.values_list("employee__email", "team_id"))
        invitations.filter(employee__email__in=ballots.respondents).update(responded=True)
        teams = [team_of[email] for email in ballots.respondents]
        if algorithm == "new":
            _copy(
                "surveys_submission",
                ("id", "wave_id", "team_id", "key", "box"),
                (
                    (uuid.uuid4(), wave.pk, team, key, box)
                    for team, (key, box) in zip(teams, ballots.boxes, strict=True)
                ),
            )
        else:
            response_ids = [uuid.uuid4() for _ in teams]
            _copy(
                "surveys_response",
                ("id", "wave_id", "team_id"),
                ((r, wave.pk, t) for r, t in zip(response_ids, teams, strict=True)),
            )
            _copy(
                "surveys_answer",
                ("id", "response_id", "question_id", "value"),
                (
                    (uuid.uuid4(), response, question, value)
                    for response, ballot in zip(response_ids, ballots.ballots, strict=True)
                    for question, value in ballot.answers
                ),
            )
            _copy(
                "surveys_comment",
                ("id", "wave_id", "team_id", "text"),
                (
                    (uuid.uuid4(), wave.pk, team, ballot.comment)
                    for team, ballot in zip(teams, ballots.ballots, strict=True)
                    if ballot.comment
                ),
            )
    with connection.cursor() as cursor:  # as autovacuum would have, days after the answers came in
        cursor.execute(f"VACUUM ANALYZE {', '.join(WAVE_TABLES)}")
    return wave.pk


def wave_check(wave_id: int, size: Size, ballots: Ballots, *, algorithm: str) -> None:
    from surveys.models import Answer, Comment, Invitation, Response, Submission, Wave

    answers = sum(len(ballot.answers) for ballot in ballots.ballots)
    found = {
        "responses": Response.objects.filter(wave_id=wave_id).count(),
        "answers": Answer.objects.filter(response__wave_id=wave_id).count(),
        "comments": Comment.objects.filter(wave_id=wave_id).count(),
        "submissions": Submission.objects.filter(wave_id=wave_id).count(),
        "sealed": Wave.objects.get(pk=wave_id).sealed,
        # the new seal clears every mark; today's leaves them (rewritten)
        "marked answered": Invitation.objects.filter(wave_id=wave_id, responded=True).count(),
    }
    expected = {
        "responses": size.responses,
        "answers": answers,
        "comments": ballots.comments,
        "submissions": 0,
        "sealed": True,
        "marked answered": 0 if algorithm == "new" else size.responses,
    }
    if found != expected:
        raise RuntimeError(f"{algorithm} seal of {size.responses:,}: found {found}, expected {expected}")


# --- one close, in a process of its own ----------------------------------------------------------


def _timed(module: Any, name: str, spent: dict[str, float]) -> None:
    """Wrap ``module.name`` so that its time adds up in ``spent[name]`` (the functions are looked
    up in the module's globals at each call, so wrapping them there is enough)."""
    inner = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)


def close_in_this_process(*, wave_id: int, algorithm: str, trace: bool, profile: str | None) -> dict[str, Any]:
    """Close one wave and measure it: called in a fresh process (``--close``)."""
    import django

    django.setup()
    from celery import current_app
    from django.db import connection

    from surveys import seal, waves
    from surveys.crypto import seal_private_keys
    from surveys.models import Wave

    # What a worker process has done long before it closes a wave: connected, loaded its tasks.
    connection.ensure_connection()
    current_app.loader.import_default_modules()
    seal_private_keys()
    wave = Wave.objects.get(pk=wave_id)
    spent: dict[str, float] = {}
    if algorithm == "new":
        _timed(waves, "_sealed_tables_vacuum", spent)
        for name in ("_ballots_opened", "_tree_frozen", "groups_attribute", "_plaintext_write", "_participation_keep"):
            _timed(seal, name, spent)
        _timed(seal, "_invitations_forget_who_answered", spent)
        _timed(waves, "wave_seal", spent)
        close: Callable[..., Any] = waves.wave_close
    else:
        module = sys.modules[__name__]
        _timed(module, "legacy_answer_tables_vacuum", spent)
        _timed(module, "legacy_seal", spent)
        close = module.legacy_wave_close

    rss_before = _rss()
    peak = RssPeak()
    if trace:
        tracemalloc.start()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    close(wave=wave)
    seconds = time.perf_counter() - start
    rss_peak = peak.stop()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "spent": spent,
        "rss_before": rss_before,
        "rss_peak": rss_peak,
        "rss_how": peak.how,
        "traced_peak": traced_peak,
    }


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class RssPeak:
    """The process's RSS high-water mark from now on: the kernel's own (VmHWM), reset here.

    Linux resets VmHWM to the current RSS when "5" is written to /proc/self/clear_refs, so the
    mark read afterwards is the peak since that moment, exactly, with no sampling. (getrusage's
    ru_maxrss won't do: it also keeps the parent's RSS at the fork that started this process.)
    Where that file can't be written, a thread samples the RSS with psutil every 5 ms instead.
    """

    def __init__(self) -> None:
        self._sampler: threading.Thread | None = None
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.how = "VmHWM"
        except OSError:
            self.how = "psutil, every 5 ms"
            self._peak, self._halt = _rss(), threading.Event()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._halt.wait(0.005):
            self._peak = max(self._peak, _rss())

    def stop(self) -> int:
        if self._sampler is None:
            status = Path("/proc/self/status").read_text()
            return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
        self._halt.set()
        self._sampler.join()
        return max(self._peak, _rss())


@dataclass(frozen=True)
class Close:
    seconds: float
    vacuum: float
    seal: float  # the seal itself (wave_seal / legacy_seal), without the invitation updates around it
    spent: dict[str, float]
    rss_before: int
    rss_peak: int  # the process's RSS high-water mark during the close (RssPeak)
    traced_peak: int  # tracemalloc's peak during the close (the traced run of an identical wave)

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before


def close_in_a_process(wave_id: int, *, algorithm: str, trace: bool, profile: str | None = None) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()  # nothing of ours holds the wave while it closes
    command = [PYTHON, __file__, "--close", str(wave_id), "--algorithm", algorithm]
    if trace:
        command.append("--trace")
    if profile:
        command += ["--profile", profile]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"the close failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("BENCH_RESULT "))


# --- the run -------------------------------------------------------------------------------------

ALGORITHMS = {"legacy": "today's seal", "new": "new seal"}
NOT_STEPS = ("wave_seal", "legacy_seal", "_sealed_tables_vacuum", "legacy_answer_tables_vacuum")


def mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from surveys.question_bank import question_bank_install

    print(f"machine: {machine_note()}")
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    question_bank_install()
    sizes = [Size(n, math.ceil(n / args.response_rate)) for n in sorted(set(args.responses))]
    org_build(sizes, team_size=args.team_size)
    drawn = {size: ballots_draw(size, comment_share=args.comment_share, seed=args.seed) for size in sizes}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"data: PostgreSQL {version}, database {connection.settings_dict['NAME']} (throwaway); "
        f"default survey pulse; {time.perf_counter() - start:.1f} s"
    )
    for size in sizes:
        ballots = drawn[size]
        lengths = sorted(len(ballot.comment) for ballot in ballots.ballots if ballot.comment)
        print(
            f"  wave of {size.responses:,}: {size.invited:,} invited ({args.response_rate:.0%} answer) in "
            f"{math.ceil(size.invited / args.team_size):,} teams of {args.team_size} under {DIVISIONS} divisions; "
            f"{len(ballots.ballots[0].answers)} answers each; {ballots.comments:,} comments "
            f"({ballots.comments / size.responses:.0%}), {lengths[0]}-{lengths[-1]} characters, "
            f"median {statistics.median(lengths):.0f}; boxes of {len(ballots.boxes[0][1]):,} bytes"
        )

    results: dict[tuple[Size, str], list[Close]] = {(size, name): [] for size in sizes for name in ALGORITHMS}
    order = list(ALGORITHMS)
    bar = progress(total=args.rounds * len(sizes) * len(order) * 2, desc="closes", unit="close")
    for round_ in range(args.rounds):
        for size in sizes:
            # Alternate which algorithm goes first, so a drift in the machine's load favours neither.
            for algorithm in order if round_ % 2 == 0 else order[::-1]:
                timed = _one_close(size, drawn[size], algorithm=algorithm, trace=False)
                bar.update()
                traced = _one_close(size, drawn[size], algorithm=algorithm, trace=True)
                bar.update()
                spent = timed["spent"]
                vacuum = spent.get("_sealed_tables_vacuum", spent.get("legacy_answer_tables_vacuum", 0.0))
                result = Close(
                    seconds=timed["seconds"],
                    vacuum=vacuum,
                    seal=spent.get("wave_seal", spent.get("legacy_seal", 0.0)),
                    spent=spent,
                    rss_before=timed["rss_before"],
                    rss_peak=timed["rss_peak"],
                    traced_peak=traced["traced_peak"],
                )
                results[size, algorithm].append(result)
                bar.clear()
                steps = {name: seconds for name, seconds in spent.items() if name not in NOT_STEPS}
                if steps:  # the new seal's own steps; what is left is its DELETE and one count
                    steps["rest"] = result.seal - sum(steps.values())
                steps["outside the seal"] = result.seconds - result.seal - result.vacuum
                phases = ", ".join(f"{name.strip('_')} {seconds:.2f}" for name, seconds in steps.items())
                print(
                    f"round {round_ + 1}  {size.responses:>6,} {ALGORITHMS[algorithm]:<12} "
                    f"wave_close {result.seconds:6.2f} s (seal {result.seal:.2f}, VACUUM {result.vacuum:.2f}; "
                    f"{phases})  RSS {mb(result.rss_before)} -> peak {mb(result.rss_peak)} "
                    f"(+{mb(result.rss_growth)}, {timed['rss_how']})  tracemalloc peak {mb(result.traced_peak)}  "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    bar.close()

    def median(size: Size, algorithm: str, what: Callable[[Close], float]) -> float:
        return statistics.median(what(close) for close in results[size, algorithm])

    measures: list[tuple[str, Callable[[Close], float], Callable[[float], str]]] = [
        ("wave_close", lambda c: c.seconds, lambda v: f"{v:.2f} s"),
        ("  of which VACUUM", lambda c: c.vacuum, lambda v: f"{v:.2f} s"),
        ("RSS growth (high-water mark)", lambda c: c.rss_growth, mb),
        ("tracemalloc peak", lambda c: c.traced_peak, mb),
    ]
    print(f"--- medians of {args.rounds} rounds")
    for label, what, show in measures:
        for algorithm in ALGORITHMS:
            cells = [show(median(size, algorithm, what)) for size in sizes]
            growth = median(sizes[-1], algorithm, what) / max(median(sizes[0], algorithm, what), 1e-9)
            print(
                f"{label:<29} {ALGORITHMS[algorithm]:<12} "
                + "  ".join(f"{size.responses:>6,}: {cell:>10}" for size, cell in zip(sizes, cells, strict=True))
                + f"   {sizes[0].responses:,} -> {sizes[-1].responses:,}: x{growth:.1f}"
            )
        ratios = "  ".join(
            f"{size.responses:>6,}: {median(size, 'new', what) / max(median(size, 'legacy', what), 1e-9):.2f}"
            for size in sizes
        )
        print(f"{label:<29} {'new / today':<12} {ratios}")
    small, large = sizes[0].responses, sizes[-1].responses
    print(f"goals: growth {small:,} -> {large:,} about x{large / small:.0f} (linear); new / today at {large:,} <= 2")
    print(f"load average after: {machine_note().rsplit('load average ', 1)[1]}")


def _one_close(size: Size, ballots: Ballots, *, algorithm: str, trace: bool) -> dict[str, Any]:
    wave_id = wave_build(size, ballots, algorithm=algorithm)
    result = close_in_a_process(wave_id, algorithm=algorithm, trace=trace)
    wave_check(wave_id, size, ballots, algorithm=algorithm)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, nargs="+", default=[1000, 10_000], help="wave sizes (1000 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="closes per size and algorithm (3)")
    parser.add_argument("--response-rate", type=float, default=0.7, help="share of the invited who answer (0.7)")
    parser.add_argument("--comment-share", type=float, default=0.3, help="share of responses with a comment (0.3)")
    parser.add_argument("--team-size", type=int, default=10, help="people per team (10)")
    parser.add_argument("--seed", type=int, default=1)
    # Internal: one close in this process, measured; prints BENCH_RESULT {json}.
    parser.add_argument("--close", type=int, metavar="WAVE_ID", help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.close is not None:  # the environment is the parent's
        result = close_in_this_process(
            wave_id=args.close, algorithm=args.algorithm, trace=args.trace, profile=args.profile
        )
        print("BENCH_RESULT " + json.dumps(result))
        return
    if not 0 < args.response_rate <= 1 or not 0 <= args.comment_share <= 1:
        parser.error("--response-rate must be in (0, 1] and --comment-share in [0, 1]")
    database_url = os.environ.get("DATABASE_URL", "").strip()
    if urlsplit(database_url).scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(
            "bench_seal.py measures the seal on PostgreSQL: set DATABASE_URL, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_seal.py\n"
            "(the bench creates and drops its own database on that server)"
        )
    with sigterm_as_interrupt(), throwaway_database(database_url, "seal") as bench_url:
        # No REDIS_URL: Celery runs the analysis request eagerly (it only logs a line today).
        env = service_env(database_url=bench_url, redis_url="") | seal_key_env()[0]
        os.environ.clear()
        os.environ.update(env)
        try:
            run(args)
        except (RuntimeError, KeyboardInterrupt) as exc:
            print(f"stopped: {str(exc) or 'interrupted'}", file=sys.stderr)
            raise SystemExit(1) from None


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
