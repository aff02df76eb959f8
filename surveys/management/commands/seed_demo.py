"""``manage.py seed_demo``: the demo organisation for ``make demo`` (safe to re-run)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from surveys.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_org_seed


class Command(BaseCommand):
    help = "Import the demo organisation (Acme) and set the demo logins' passwords. Safe to run again."

    def handle(self, *args, **options) -> None:
        result = demo_org_seed()
        self.stdout.write(f"Demo org: {result.summary()}")
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(f"Demo logins at {settings.PULSE_BASE_URL}/login/ (password for all: {DEMO_PASSWORD}):")
        for email, what in DEMO_LOGINS:
            self.stdout.write(f"  {email:<24} {what}")
