"""python manage.py export_report: the file, the audit row, and refusals that write nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from analytics import exports
from analytics.models import ExportAudit
from tests.analytics.export_org import org_create, wave_closed

pytestmark = pytest.mark.django_db


@pytest.fixture
def sealed():
    org = org_create()
    return {"org": org, "wave": wave_closed(org)}


def test_the_csv_is_written_and_the_export_audited_as_cli(sealed, tmp_path):
    out = tmp_path / "report.csv"
    stdout = io.StringIO()

    call_command("export_report", "--format", "csv", "--out", str(out), stdout=stdout, stderr=io.StringIO())

    rows = list(csv.reader(out.open(newline="")))
    assert rows[0] == list(exports.COLUMNS) and len(rows) == 9
    assert stdout.getvalue() == f"Wrote 8 rows to {out}.\n"
    audit = ExportAudit.objects.get()
    assert (audit.user, audit.channel, audit.format, audit.rows, audit.finished) == (None, "cli", "csv", 8, True)
    assert audit.username.endswith("(command line)")
    assert audit.filters == {"waves": [], "teams": [], "team_paths": []}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]  # no partial file left


def test_the_xlsx_with_filters(sealed, tmp_path):
    out = tmp_path / "report.xlsx"
    wave = sealed["wave"]

    call_command(
        "export_report",
        *("--format", "xlsx", "--out", str(out), "--waves", str(wave.pk), "--teams", "Acme/Sales", "Acme/Eng/ML"),
        stdout=io.StringIO(),
    )

    sheet = load_workbook(out)["Report"]
    assert [(r[0], r[2]) for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("Acme/Eng/ML", "workload"),
        ("Acme/Eng/ML", "enps"),
        ("Acme/Sales", "workload"),
        ("Acme/Sales", "enps"),
    ]
    audit = ExportAudit.objects.get()
    assert audit.filters == {
        "waves": [wave.pk],
        "teams": [sealed["org"]["sales"].pk, sealed["org"]["ml"].pk],
        "team_paths": ["Acme/Sales", "Acme/Eng/ML"],
    }
    assert (audit.format, audit.rows, audit.finished) == ("xlsx", 4, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--waves", "987654"], "--waves: No closed wave with released results has the id 987654."),
        (["--teams", "Acme/Nowhere"], "--teams: No such team: Acme/Nowhere."),
    ],
)
def test_an_unknown_wave_or_team_is_an_error_and_writes_nothing(sealed, tmp_path, args, message):
    out = tmp_path / "report.csv"

    with pytest.raises(CommandError) as refused:
        call_command("export_report", "--format", "csv", "--out", str(out), *args, stdout=io.StringIO())

    assert str(refused.value) == message
    assert list(tmp_path.iterdir()) == []
    assert ExportAudit.objects.count() == 0


def test_a_missing_directory_is_an_error(sealed, tmp_path):
    with pytest.raises(CommandError, match="No directory"):
        call_command("export_report", "--format", "csv", "--out", str(tmp_path / "no" / "r.csv"), stdout=io.StringIO())

    assert ExportAudit.objects.count() == 0


def test_an_export_that_fails_midway_leaves_no_file_and_an_unfinished_audit(sealed, tmp_path, monkeypatch):
    out = tmp_path / "report.csv"
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 2)
    real = exports.csv_chunks

    def failing_after_two_chunks(rows):
        chunks = real(rows)
        yield next(chunks)
        yield next(chunks)
        raise OSError("disk full")

    monkeypatch.setattr(exports, "csv_chunks", failing_after_two_chunks)

    with pytest.raises(OSError, match="disk full"):
        call_command("export_report", "--format", "csv", "--out", str(out), stdout=io.StringIO())

    assert list(tmp_path.iterdir()) == []
    audit = ExportAudit.objects.get()
    assert (audit.finished, audit.rows) == (False, 4)
