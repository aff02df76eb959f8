"""python manage.py simulate_org --employees N --waves W --seed S [--truth PATH] [--start DATE]

Builds a simulated organisation with a back-filled history in the database, through the
product's own services (analytics/simulated_org.py), and writes what was planted as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from analytics.simulated_org import (
    SimulatedOrgResult,
    SimulationMismatch,
    SimulationRefused,
    simulated_org_create,
    survey_sim_questions,
)
from analytics.simulation import SimulatedOrg, ground_truth, simulate
from surveys.crypto import SealKeyError, seal_private_keys, seal_public_key
from surveys.models import Survey
from surveys.question_bank import DEFAULT_SURVEY_SLUG

TRUTH_FILE = "simulation-truth.json"


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


class Command(BaseCommand):
    help = (
        "Build a simulated organisation (analytics/simulation.py) with a back-filled history of closed, "
        "sealed waves, through the product's own services: the org import (departures and manager "
        "changes recorded between waves, as HR would), wave_launch, answer intake and wave_close. "
        "Same --seed and --start, same organisation. The organisation lives under its own root team "
        "(--root, default Org) and e-mail domain, and its waves invite that subtree only, so anything "
        "else in the database is left alone. It is written once, never appended to: if the root team "
        "exists already the command refuses and writes nothing (--skip-existing makes that a no-op "
        "instead); to build it again, use a fresh database or another --root. Each wave is committed "
        "whole, so a run that fails midway leaves complete waves behind and must be redone on a fresh "
        "database. Sealing needs PULSE_SEAL_KEY (derived from SECRET_KEY on the embedded default)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--employees", type=_positive, required=True, metavar="N", help="people at the first wave")
        parser.add_argument("--waves", type=_positive, required=True, metavar="W", help="waves, every two weeks")
        parser.add_argument("--seed", type=int, required=True, metavar="S", help="the random seed")
        parser.add_argument(
            "--start",
            type=_date,
            metavar="DATE",
            help="the first wave's opening day, YYYY-MM-DD (default: the waves end near today, the last "
            "opening two weeks ago)",
        )
        parser.add_argument(
            "--truth",
            type=Path,
            metavar="PATH",
            help=f"where to write the ground truth JSON (default: {TRUTH_FILE} in PULSE_DATA_DIR)",
        )
        parser.add_argument("--root", default="Org", metavar="NAME", help="the root team's name (default Org)")
        parser.add_argument(
            "--skip-existing",
            action="store_true",
            help="if the root team exists already, say so and do nothing (exit 0) instead of refusing",
        )

    def handle(self, *args: object, **options: object) -> None:
        began = time.monotonic()
        self._seal_key_or_error()
        survey = Survey.objects.filter(slug=DEFAULT_SURVEY_SLUG).first()
        if survey is None:
            raise CommandError(f"The default survey {DEFAULT_SURVEY_SLUG!r} is missing; run migrate first.")
        today = timezone.now().date()
        try:
            sim = simulate(
                employees=options["employees"],
                waves=options["waves"],
                seed=options["seed"],
                start=options["start"],
                today=today,
                questions=survey_sim_questions(survey=survey),
                root=options["root"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if sim.wave_dates[-1] > today:
            raise CommandError(
                f"With --start {sim.params.start} the last of the {sim.params.waves} waves would open in the future "
                f"({sim.wave_dates[-1]}); simulate_org back-fills history."
            )
        try:
            result = self._create(sim=sim, survey=survey)
        except SimulationRefused as exc:
            if options["skip_existing"]:
                self.stdout.write(f"Nothing simulated: {exc}.")
                return
            raise CommandError(f"Nothing simulated: {exc}.") from None
        except SimulationMismatch as exc:
            raise CommandError(f"The simulation stopped: {exc}.") from None
        truth_path = Path(options["truth"]) if options["truth"] else Path(settings.DATA_DIR) / TRUTH_FILE
        self._truth_write(truth_path, ground_truth(sim))
        self.stdout.write(
            f"Simulated {sim.params.root}: {result.employees} employees in {result.teams} teams, "
            f"{len(result.waves)} sealed waves ({sim.wave_dates[0]:%Y-%m-%d} to {sim.wave_dates[-1]:%Y-%m-%d}), "
            f"{result.responses} responses, {result.departures} departures; ground truth in {truth_path} "
            f"({time.monotonic() - began:.1f} s)"
        )

    def _seal_key_or_error(self) -> None:
        """Every wave is closed, and closing seals: without the seal key nothing could be finished."""
        try:
            seal_public_key()
            seal_private_keys()
        except SealKeyError as exc:
            raise CommandError(
                f"simulate_org closes and seals every wave it back-fills, so this process needs the seal key: {exc}. "
                "On the embedded default (DEBUG on) it is derived from SECRET_KEY; otherwise set PULSE_SEAL_KEY "
                "(python manage.py seal_key prints a new one)."
            ) from None

    def _create(self, *, sim: SimulatedOrg, survey: Survey) -> SimulatedOrgResult:
        with tqdm(
            total=int(sim.responded.sum()), unit="response", disable=not self.stdout.isatty(), leave=False
        ) as bar:
            return simulated_org_create(sim=sim, survey=survey, on_answers=bar.update, on_stage=bar.set_description_str)

    def _truth_write(self, path: Path, truth: dict) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"The organisation is in the database, but {path} can't be written: {exc}") from None
