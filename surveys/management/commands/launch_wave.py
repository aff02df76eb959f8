"""python manage.py launch_wave --survey SLUG [--teams PATH ...] [--opens DATE] [--days N] [--send-now]

Invites every active employee of the given team subtrees (the whole organisation without
``--teams``) and prints a short summary, then the wave id alone on the last line, so scripts
can take it with ``tail -n 1``.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Min
from django.utils import timezone

from surveys.models import Survey, Team, Wave
from surveys.scheduling import zone_get
from surveys.waves import WaveLaunchError, wave_launch


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _time(raw: str) -> time:
    try:
        return datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {raw!r}") from None


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


class Command(BaseCommand):
    help = "Launch a wave of a survey now: one invitation per active employee of the given team subtrees."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--survey", required=True, metavar="SLUG", help="the survey's slug, e.g. pulse")
        parser.add_argument(
            "--teams",
            nargs="+",
            action="extend",
            default=[],
            metavar="PATH",
            help="team paths, each with its subtree (default: the whole organisation)",
        )
        parser.add_argument("--opens", type=_date, metavar="DATE", help="opening day, YYYY-MM-DD (may be past)")
        parser.add_argument("--days", type=_positive, default=5, metavar="N", help="days open (default 5)")
        parser.add_argument(
            "--send-time", type=_time, default=time(10, 0), metavar="HH:MM", help="local send time (default 10:00)"
        )
        parser.add_argument("--remind-after", type=_positive, metavar="N", help="remind non-respondents after N days")
        parser.add_argument("--send-now", action="store_true", help="send at once, not at each local send time")

    def handle(self, *args: object, **options: object) -> None:
        survey = Survey.objects.filter(slug=options["survey"]).first()
        if survey is None:
            raise CommandError(f"Unknown survey {options['survey']!r}.")
        teams = self._teams(options["teams"])
        try:
            wave = wave_launch(
                survey=survey,
                teams=teams,
                opens_on=options["opens"],
                days_open=options["days"],
                send_time=options["send_time"],
                remind_after_days=options["remind_after"],
                send_now=options["send_now"],
            )
        except WaveLaunchError as exc:
            raise CommandError(str(exc)) from exc
        self._summary(wave=wave, teams=teams, send_now=bool(options["send_now"]))

    def _teams(self, paths: list[str]) -> list[Team]:
        wanted = [path.strip().strip("/") for path in paths]
        found = {team.path: team for team in Team.objects.filter(path__in=wanted)}
        unknown = [path for path in wanted if path not in found]
        if unknown:
            raise CommandError(f"Unknown team path(s): {', '.join(repr(p) for p in unknown)}.")
        return [found[path] for path in dict.fromkeys(wanted)]

    def _summary(self, *, wave: Wave, teams: list[Team], send_now: bool) -> None:
        count = wave.invitations.count()
        audience = ", ".join(team.path for team in teams) if teams else "the whole organisation"
        self.stdout.write(f"Launched wave {wave.pk} of survey '{wave.survey.slug}' opening {wave.opens_on:%Y-%m-%d}.")
        self.stdout.write(f"Invitations: {count}")
        self.stdout.write(f"Audience: {audience}")
        self.stdout.write(f"Sends: {self._sends(wave=wave, count=count, send_now=send_now)}")
        self.stdout.write(f"Closes: {self._closes(wave)}")
        self.stdout.write(str(wave.pk))  # alone on the last line: scripts take it with `tail -n 1`

    def _sends(self, *, wave: Wave, count: int, send_now: bool) -> str:
        """What dispatch will really do: now, or at the local send time (now where it has passed)."""
        if send_now:
            return f"now, to all {count} people"
        local = f"{wave.send_time:%H:%M} local time on {wave.opens_on:%Y-%m-%d}"
        due_now = wave.invitations.filter(send_at__lte=timezone.now()).count()
        if due_now == count:
            return f"now, to all {count} people ({local} has passed everywhere)"
        later_sends = wave.invitations.filter(send_at__gt=timezone.now())
        window = later_sends.aggregate(first=Min("send_at"), last=Max("send_at"))
        later = f"{local}, {window['first']:%Y-%m-%d %H:%M} to {window['last']:%Y-%m-%d %H:%M} UTC"
        return f"{later}; now to the {due_now} whose {wave.send_time:%H:%M} has passed" if due_now else later

    def _closes(self, wave: Wave) -> str:
        """The closing instant in UTC, and the day end in the audience's zone that sets it."""
        closes = f"{wave.closes_at:%Y-%m-%d %H:%M} UTC"
        zones = sorted(set(wave.invitations.values_list("employee__timezone", flat=True)))
        for zone in zones:
            local = wave.closes_at.astimezone(zone_get(zone))
            if local.time() == time(0):
                return f"{closes} (the end of {local - timedelta(days=1):%A %Y-%m-%d} in {zone})"
        return closes
