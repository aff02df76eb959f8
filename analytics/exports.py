"""Exports of the released report (DESIGN.md, Export): CSV and XLSX files, every one audit-logged.

The rows come from ``selectors.export_rows`` (released values only, one team × wave × dimension
each) and are written as they come: CSV through ``csv.writer`` into chunks of bytes, XLSX with
openpyxl's write-only workbook into a temporary file that is then read out in chunks. Memory
stays flat whatever the organisation's size. The HR pages, the API and ``manage.py
export_report`` all call ``report_export``, which writes the ``ExportAudit`` row before the
first row and completes it after the last.

Text cells are kept from being read as formulas by a spreadsheet (CSV injection, OWASP): in CSV
a text that starts with ``= + - @``, a tab or a carriage return gets a leading single quote; in
XLSX every text is written as an explicit string cell, never a formula.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.http import StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .models import ExportAudit
from .selectors import ExportRow, ExportScope, export_rows

COLUMNS = (
    "team_path",
    "wave_opens_on",
    "dimension",
    "respondents",
    "mean",
    "favorable",
    "suppressed",
    "team",
    "wave",
    "reason",
    "enps",
    "direction",
    "slope",
    "p_value",
    "level",
)
CONTENT_TYPES = {
    ExportAudit.Format.CSV: "text/csv; charset=utf-8",
    ExportAudit.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_ROWS_PER_CHUNK = 500
FILE_CHUNK = 64 * 1024


def row_cells(row: ExportRow) -> tuple:
    """The row's values in ``COLUMNS`` order; None where a value is suppressed or absent."""
    trend = row.trend
    return (
        row.team_path,
        row.wave_opens_on,
        row.dimension,
        row.respondents,
        row.mean.value,
        row.favorable.value,
        row.suppressed,
        row.team,
        row.wave,
        row.reason,
        row.enps.value if row.enps is not None else None,
        trend.direction,
        trend.slope,
        trend.p_value,
        row.risk_level,
    )


# --- CSV ---------------------------------------------------------------------------------------


def csv_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text, never evaluates (OWASP CSV injection)."""
    protected = "'" + value if value.startswith(FORMULA_STARTS) else value
    if len(_SEEN) >= _SEEN_LIMIT:
        _SEEN.clear()
    _SEEN[value] = protected
    return protected


# Texts (and days) as written, so that the few distinct ones of an export (dimensions, reasons,
# the current team's path) are worked out once; bounded, so that memory stays flat.
_SEEN: dict[object, str] = {}
_SEEN_LIMIT = 1024


def _day(value: date) -> str:
    text = value.isoformat()
    _SEEN[value] = text
    return text


def csv_cells(row: ExportRow) -> tuple:
    """``row_cells`` as CSV fields: texts protected, booleans ``true`` / ``false``, None empty."""
    seen = _SEEN.get
    mean, trend, reason, level = row.mean, row.trend, row.mean.reason, row.risk_level
    return (
        seen(row.team_path) or csv_text(row.team_path),
        seen(row.wave_opens_on) or _day(row.wave_opens_on),
        seen(row.dimension) or csv_text(row.dimension),
        row.respondents,
        mean.value,
        row.favorable.value,
        "true" if mean.value is None else "false",
        row.team,
        row.wave,
        (seen(reason) or csv_text(reason)) if reason else None,
        row.enps.value if row.enps is not None else None,
        seen(trend.direction) or csv_text(trend.direction),
        trend.slope,
        trend.p_value,
        (seen(level) or csv_text(level)) if level else None,
    )


def csv_chunks(rows: Iterable[ExportRow]) -> Iterator[bytes]:
    """The CSV file (header first) in chunks of a few hundred rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    pending = 0
    for row in rows:
        writer.writerow(csv_cells(row))
        pending += 1
        if pending == CSV_ROWS_PER_CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


# --- XLSX --------------------------------------------------------------------------------------


def xlsx_write(rows: Iterable[ExportRow], out: io.IOBase) -> None:
    """The workbook, one sheet "Report", written row by row (openpyxl's write-only mode)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Report")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row_cells(row)])
    workbook.save(out)


def _xlsx_cell(sheet: object, value: object) -> object:
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"  # openpyxl makes a text starting with "=" a formula; this one never is
    return cell


def xlsx_chunks(rows: Iterable[ExportRow]) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as file:
        xlsx_write(rows, file)
        file.seek(0)
        while chunk := file.read(FILE_CHUNK):
            yield chunk


# --- the audited export ------------------------------------------------------------------------


class _Counted:
    def __init__(self, rows: Iterable[ExportRow]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[ExportRow]:
        for row in self._rows:
            self.count += 1
            yield row


class ExportStream:
    """The file of one audited export, as an iterator of bytes (what a StreamingHttpResponse takes).

    ``close()`` before the end (a client that went away) leaves the audit row unfinished, with
    the rows written so far.
    """

    def __init__(self, *, audit: ExportAudit, rows: Iterable[ExportRow]) -> None:
        self.audit = audit
        self._rows = _Counted(rows)
        chunks = csv_chunks(self._rows) if audit.format == ExportAudit.Format.CSV else xlsx_chunks(self._rows)
        self._chunks = self._audited(chunks)

    @property
    def rows(self) -> int:
        return self._rows.count

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.audit.format]

    @property
    def filename(self) -> str:
        return f"pulse-report-{timezone.localdate(self.audit.started_at).isoformat()}.{self.audit.format}"

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()

    def _audited(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        finished = False
        try:
            yield from chunks
            finished = True
        finally:
            ExportAudit.objects.filter(pk=self.audit.pk).update(
                rows=self._rows.count, finished=finished, finished_at=timezone.now()
            )


def report_export(
    *,
    scope: ExportScope,
    format: str,
    channel: str,
    user: AbstractBaseUser | None = None,
    username: str = "",
) -> ExportStream:
    """Audit an export of ``scope`` (the row is written now), and return its file as a stream."""
    if format not in ExportAudit.Format.values:
        raise ValueError(f"unknown export format {format!r}")
    audit = ExportAudit.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        username=username or (user.get_username() if user is not None and user.is_authenticated else ""),
        format=format,
        channel=channel,
        filters=scope.filters,
    )
    return ExportStream(audit=audit, rows=export_rows(scope=scope))


def export_response(stream: ExportStream) -> StreamingHttpResponse:
    """The export as a download, streamed."""
    response = StreamingHttpResponse(stream, content_type=stream.content_type)
    response["Content-Disposition"] = f'attachment; filename="{stream.filename}"'
    response["Cache-Control"] = "no-store"
    return response
