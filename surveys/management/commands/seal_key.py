"""python manage.py seal_key [--public] — make a seal key, or print the public half of the one in use.

The seal key (PULSE_SEAL_KEY) opens the submissions of open waves at their seal. The web tier
needs only its public half (PULSE_SEAL_PUBLIC_KEY), which encrypts; see the README's threat model.
"""

from __future__ import annotations

import argparse
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from surveys import crypto


def _key_id(secret: str) -> str:
    return crypto.key_id(crypto.private_key_derive(secret).public_key)


class Command(BaseCommand):
    help = "Print a new PULSE_SEAL_KEY and its PULSE_SEAL_PUBLIC_KEY, or (--public) the public half of the current key."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--public", action="store_true", help="print PULSE_SEAL_PUBLIC_KEY for the PULSE_SEAL_KEY of this process"
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["public"]:
            if not settings.PULSE_SEAL_KEY:
                raise CommandError("PULSE_SEAL_KEY is not set in this environment.")
            self.stdout.write(f"PULSE_SEAL_PUBLIC_KEY={settings.PULSE_SEAL_PUBLIC_KEY}")
            # The ids a refused seal names ("no seal key with id ..."), to tell which key it needs.
            self.stdout.write(f"# key id {_key_id(settings.PULSE_SEAL_KEY)}: PULSE_SEAL_KEY")
            for n, fallback in enumerate(settings.PULSE_SEAL_KEY_FALLBACKS, start=1):
                self.stdout.write(f"# key id {_key_id(fallback)}: PULSE_SEAL_KEY_FALLBACKS, number {n}")
            return
        secret = secrets.token_urlsafe(48)
        public = crypto.public_key_text(crypto.private_key_derive(secret).public_key)
        self.stdout.write(f"PULSE_SEAL_KEY={secret}")
        self.stdout.write(f"PULSE_SEAL_PUBLIC_KEY={public}")
