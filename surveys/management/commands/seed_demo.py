"""``manage.py seed_demo``: the demo organisation for ``make demo`` (safe to re-run)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from surveys.demo import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    demo_mail_folder,
    demo_org_seed,
    demo_survey_link,
    demo_wave_ensure,
)


class Command(BaseCommand):
    help = "Import the demo organisation (Acme) and set the demo logins' passwords. Safe to run again."

    def handle(self, *args, **options) -> None:
        result = demo_org_seed()
        self.stdout.write(f"Demo org: {result.summary()}")
        wave, launched = demo_wave_ensure()
        invited = wave.invitations.count()
        self.stdout.write(f"Demo wave #{wave.pk}: {'launched now' if launched else 'already open'}, {invited} invited.")
        if folder := demo_mail_folder():
            self.stdout.write(f"Invitation e-mails are written to {folder}/")
        if link := demo_survey_link(wave):
            self.stdout.write(f"Answer the survey as one of them: {link}")
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(f"Demo logins at {settings.PULSE_BASE_URL}/login/ (password for all: {DEMO_PASSWORD}):")
        for email, what in DEMO_LOGINS:
            self.stdout.write(f"  {email:<24} {what}")
