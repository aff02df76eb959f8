"""python manage.py demo [--serve ADDR:PORT] — the demo organisation of ``make demo`` (safe to re-run).

Builds what is missing of the demo (analytics/demo.py) and prints, last, where to go: the URL,
the logins and one open survey link. With ``--serve`` it then runs Django's development server
and prints that block once the server listens, so it is the last thing on the screen.
"""

from __future__ import annotations

import argparse
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import Command as RunserverCommand
from tqdm import tqdm

from analytics.demo import (
    DEMO_EMPLOYEES,
    DEMO_HR_EMAIL,
    DEMO_MANAGER_EMAIL,
    DEMO_PASSWORD,
    DEMO_ROOT,
    DEMO_WAVES,
    DemoError,
    DemoState,
    demo_ensure,
    demo_mail_folder,
)
from surveys.crypto import SealKeyError


class Command(BaseCommand):
    help = (
        f"Build the demo organisation {DEMO_ROOT} (a simulated organisation of about {DEMO_EMPLOYEES} people with "
        f"{DEMO_WAVES} closed, sealed and analysed waves), its HR and manager logins (password {DEMO_PASSWORD}) and "
        "one open wave whose invitations are sent at once; then print the URL, the logins and a survey link. "
        "Whatever is there already is left alone, so a second run changes nothing."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--serve",
            metavar="ADDR:PORT",
            help="then run the development server there (without auto-reload), and print the block once it listens",
        )

    def handle(self, *args: object, **options: object) -> None:
        began = time.monotonic()
        try:
            state = self._ensure()
        except (DemoError, SealKeyError) as exc:
            raise CommandError(f"The demo can't be set up: {exc}") from None
        self.stdout.write(self._status(state, seconds=time.monotonic() - began))
        block = demo_block(state)
        if options["serve"]:
            server = _DemoServer(block=block, stdout=self.stdout, stderr=self.stderr)
            call_command(server, options["serve"], use_reloader=False, skip_checks=True)
        else:
            self.stdout.write(block)

    def _ensure(self) -> DemoState:
        with tqdm(unit="response", disable=not self.stdout.isatty(), leave=False) as bar:
            return demo_ensure(on_answers=bar.update, on_stage=bar.set_description_str)

    def _status(self, state: DemoState, *, seconds: float) -> str:
        history = f"Built {DEMO_ROOT}" if state.built_now else f"{DEMO_ROOT} is there already"
        wave = "launched now" if state.open_wave_launched_now else "already open"
        mail = demo_mail_folder()
        where = f"invitation e-mails in {mail}/" if mail else "invitations handed to the mail workers"
        return f"{history}; open wave #{state.open_wave} {wave} ({where}); {seconds:.1f} s."


def demo_block(state: DemoState) -> str:
    """Where to go, whom to log in as, which link to open: what ``make demo`` prints last."""
    url = f"{settings.PULSE_BASE_URL}/"
    pad = " " * 35
    lines = [
        "",
        f"Pulse demo: {url}",
        f"  {DEMO_ROOT} (simulated): {state.employees} people in {state.teams} teams; {state.closed_waves} closed "
        f"waves, {state.first_opens_on} to {state.last_opens_on}; {state.departures} departures.",
        "",
        f"  Log in with the password {DEMO_PASSWORD}:",
        f"    HR       {DEMO_HR_EMAIL:<21} sees the whole organisation: every team's results, trends",
        f"{pad}and churn risk, the heatmap, exports, and the admin.",
        f"    Manager  {DEMO_MANAGER_EMAIL:<21} sees {state.managed} ({state.managed_teams} teams, "
        f"{state.declining_teams} declining,",
        f"{pad}{state.risky_teams} at high or elevated churn risk): its results, trends and",
        f"{pad}why a team is flagged.",
        "",
        f"  Commands run on this demo put links in e-mails (close_wave {state.open_wave} sends the digests):",
        f"    PULSE_BASE_URL={settings.PULSE_BASE_URL} .venv/bin/python manage.py close_wave {state.open_wave}",
        "",
    ]
    if state.link is None:
        lines.append(f"  Open wave #{state.open_wave}: everyone invited has answered already.")
    else:
        link = state.link
        lines += [
            f"  Survey link of {link.name} ({link.team}), in {link.language},",
            f"  from the open wave #{state.open_wave} ({state.invited} invited):",
            f"    {link.url}",
        ]
    return "\n".join(lines) + "\n"


class _DemoServer(RunserverCommand):
    """Django's development server, which prints the demo's block once it listens."""

    def __init__(self, *, block: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.block = block

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        self.stdout.write(self.block)
