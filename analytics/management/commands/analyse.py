"""python manage.py analyse [--wave ID] — recompute the analysis (idempotent)."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from analytics.services import waves_analyse
from surveys import selectors as surveys


class Command(BaseCommand):
    help = (
        "Roll up and release every sealed wave not yet done (or one), then recompute trends and risk. "
        "A wave's released values never change once published."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--wave", type=int, metavar="ID", help="only this wave (trends and risk still cover all)")

    def handle(self, *args: object, **options: object) -> None:
        wave_id = options["wave"]
        if wave_id is not None:
            wave = surveys.wave_get(wave_id=wave_id)
            if wave is None:
                raise CommandError(f"Unknown wave {wave_id}.")
            if not wave.sealed:
                raise CommandError(f"Wave {wave_id} is not closed yet: close it with close_wave {wave_id}.")
        count = waves_analyse(wave_id=wave_id)
        self.stdout.write(f"Analysed {count} wave{'s' if count != 1 else ''}.")
