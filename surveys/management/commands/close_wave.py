"""python manage.py close_wave ID — close a wave, seal its answers and ask for its analysis."""

from __future__ import annotations

import argparse

from celery import current_app
from django.core.management.base import BaseCommand, CommandError

from surveys.crypto import SealKeyError
from surveys.models import Wave
from surveys.task_names import ANALYTICS_WAVE_CLOSED
from surveys.waves import wave_close


class Command(BaseCommand):
    help = "Close a wave: skip unsent invitations, seal its answers and analyse it (results, trends, risks)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("wave_id", type=int, metavar="ID", help="the wave's id (printed by launch_wave)")

    def handle(self, *args: object, **options: object) -> None:
        wave = Wave.objects.filter(pk=options["wave_id"]).first()
        if wave is None:
            raise CommandError(f"Unknown wave {options['wave_id']}.")
        was_closed = wave.status == Wave.Status.CLOSED
        try:
            wave = wave_close(wave=wave)
        except SealKeyError as exc:
            raise CommandError(f"Wave {wave.pk} was not closed: {exc}.") from exc
        # The analysis runs here too, not only on a worker, so that results, trends and risks are
        # readable when the command returns. By name: the write side never imports analytics.
        analysis = current_app.tasks.get(ANALYTICS_WAVE_CLOSED)
        if analysis is not None:
            analysis.apply(args=(wave.pk,), throw=True)
        responses = wave.responses.count()
        invited = wave.invitations.count()
        state = "was already closed" if was_closed else "closed"
        self.stdout.write(f"Wave {wave.pk} {state} at {wave.closed_at:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write(f"Responses: {responses} of {invited} invited")
        if wave.responses_discarded:
            self.stdout.write(
                f"Not kept: {wave.responses_discarded} answers (fewer than {wave.min_respondents} answered "
                "the whole wave, too few to keep anonymous)"
            )
        self.stdout.write(f"Sealed: {'yes' if wave.sealed else 'no'}")
