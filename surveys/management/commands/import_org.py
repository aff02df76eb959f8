"""``manage.py import_org FILE.csv``: the organisation import from the command line."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from surveys.org_import import COLUMNS, OrgImportError, org_import


class Command(BaseCommand):
    help = (
        f"Import the organisation from a UTF-8 CSV with the columns {','.join(COLUMNS)}. "
        "Upserts by e-mail; people missing from the file are left untouched, so partial files are fine. "
        "A file with any error is rejected whole (every error is listed as line, column, reason) and "
        "nothing is written. Managers and HR get a login user (username = e-mail)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="the CSV file, or - to read standard input")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        data = self._read(file)
        try:
            result = org_import(data=data, dry_run=dry_run, progress=self.stdout.isatty())
        except OrgImportError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{file}: {exc}") from None
        self.stdout.write(result.summary())

    def _read(self, file: str) -> bytes:
        if file == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
