"""python manage.py export_report --format csv|xlsx --out PATH [--waves ID ...] [--teams PATH ...]"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analytics.exports import report_export
from analytics.models import ExportAudit
from analytics.selectors import ExportFilterError, export_scope


def _wave_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
        raise argparse.ArgumentTypeError(f"not a wave id: {raw!r}")
    return int(raw)


class Command(BaseCommand):
    help = (
        "Export the released report: one row per team × wave × dimension of every closed wave "
        "(or --waves), for every team (or the --teams subtrees), with the team's current trend and "
        "risk. Suppressed values are empty, with the reason. The export is audit-logged (channel "
        "'cli', the operating-system account as who). The file appears only when it is complete."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--format", required=True, choices=ExportAudit.Format.values)
        parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="the file to write")
        parser.add_argument("--waves", nargs="+", type=_wave_id, default=[], metavar="ID", help="only these waves")
        parser.add_argument(
            "--teams", nargs="+", default=[], metavar="PATH", help="only these teams and their sub-teams, by path"
        )

    def handle(self, *args: object, **options: object) -> None:
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"No directory {out.parent} to write {out.name} in.")
        try:
            scope = export_scope(user=None, wave_ids=options["waves"], team_paths=options["teams"])
        except ExportFilterError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from None
        stream = report_export(
            scope=scope, format=options["format"], channel=ExportAudit.Channel.CLI, username=_os_user()
        )
        # Written beside the target and renamed at the end: a failed export leaves no file.
        fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as file, tqdm(unit=" rows", disable=not self.stderr.isatty(), leave=False) as bar:
                for chunk in stream:
                    file.write(chunk)
                    bar.update(stream.rows - bar.n)
            os.replace(partial, out)
        except BaseException:
            stream.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        self.stdout.write(f"Wrote {stream.rows} rows to {out}.")


def _os_user() -> str:
    try:
        return f"{getpass.getuser()} (command line)"
    except (OSError, KeyError):
        return "(command line)"
