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
from .selectors import ExportRow, ExportScope, Released, Trend, export_rows

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
    """The CSV file (header first) in chunks of a few hundred rows.

    The bytes are those of ``csv.writer`` writing ``csv_cells`` of every row, but a row is put
    together from pieces that ``csv.writer`` wrote once (``_CsvPieces``): its team and wave, its
    values, its trend and risk. An export repeats each of them on many rows, and formatting every
    cell of every row anew was most of an export's time. ``csv.writer`` quotes each field on its
    own, so the pieces joined by commas are the row it would have written.
    """
    pieces = _CsvPieces()
    lines = [pieces.line(COLUMNS)]
    pending, per_chunk = 0, CSV_ROWS_PER_CHUNK
    last, start, middle = (None, None, None, None), "", ""
    values, values_of, ends, end_of = pieces.values.get, pieces.values_of, pieces.ends.get, pieces.end_of
    extend = lines.extend
    for team, path, wave, day, dimension, respondents, mean, favorable, enps, trend, level in rows:
        if wave != last[2] or team != last[0] or path is not last[1] or day is not last[3]:
            last = (team, path, wave, day)
            start, middle = pieces.team_wave(team, path, wave, day)
        # Keyed by the value objects themselves (by id: a Released's own hash is slow Python); the
        # entry holds them, so no other object can take their ids while it is there.
        value = values((dimension, respondents, id(mean), id(favorable), id(enps))) or values_of(
            dimension, respondents, mean, favorable, enps
        )
        end = ends((id(trend), level)) or end_of(trend, level)
        extend((start, value[3], middle, value[4], end[1]))  # joined per chunk: cheaper than adding up
        pending += 1
        if pending == per_chunk:
            yield "".join(lines).encode()
            lines.clear()
            pending = 0
    yield "".join(lines).encode()


class _CsvPieces:
    """Parts of CSV rows as ``csv.writer`` writes them, each made once: a team and wave
    (``team_path, wave_opens_on,`` and ``,team,wave,``), the values of one dimension
    (``dimension,respondents,mean,favorable,suppressed`` and ``reason,enps,``) and a trend with
    its risk (``direction,slope,p_value,level``, the line's end, kept for the current team only).
    Bounded, so memory stays flat."""

    LIMIT = 2048

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self.values: dict[tuple, tuple] = {}
        self.ends: dict[tuple, tuple] = {}
        self._team: tuple = (None, None, "", "")
        self._waves: dict[tuple, tuple[str, str]] = {}

    def line(self, cells: Iterable) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(cells)
        return self._buffer.getvalue()

    def fields(self, *cells: object) -> str:
        """Two or more cells as they are written inside a row (a single empty one would be quoted)."""
        return self.line(cells)[:-2]

    def field(self, cell: object) -> str:
        """One cell as it is written inside a row: written with an empty one after it, which is cut off."""
        return self.line((cell, None))[:-3]

    def team_wave(self, team: int, path: str, wave: int, day: date) -> tuple[str, str]:
        """``team_path,wave_opens_on,`` and ``,team,wave,``: rows come team by team, so the team's
        pieces are kept until the next team, the wave's in a dict (a few dozen waves)."""
        if (team, path) != self._team[:2]:
            self._team = (team, path, self.field(_SEEN.get(path) or csv_text(path)), self.field(team))
            self.ends.clear()  # trends are the team's own: a few per team, kept no longer
        wave_pieces = self._waves.get((wave, day))
        if wave_pieces is None:
            if len(self._waves) >= self.LIMIT:
                self._waves.clear()
            wave_pieces = self._waves[(wave, day)] = (self.field(_SEEN.get(day) or _day(day)), self.field(wave))
        _, _, path_piece, team_piece = self._team
        return path_piece + "," + wave_pieces[0] + ",", "," + team_piece + "," + wave_pieces[1] + ","

    def values_of(
        self, dimension: str, respondents: int | None, mean: Released, favorable: Released, enps: Released | None
    ) -> tuple:
        seen, reason = _SEEN.get, mean.reason
        head = self.fields(
            seen(dimension) or csv_text(dimension),
            respondents,
            mean.value,
            favorable.value,
            "true" if mean.value is None else "false",
        )
        tail = self.fields(
            (seen(reason) or csv_text(reason)) if reason else None,
            enps.value if enps is not None else None,
        )
        if len(self.values) >= self.LIMIT:
            self.values.clear()
        made = self.values[(dimension, respondents, id(mean), id(favorable), id(enps))] = (
            mean,
            favorable,
            enps,
            head,
            tail + ",",
        )
        return made

    def end_of(self, trend: Trend, level: str | None) -> tuple:
        seen = _SEEN.get
        text = self.fields(
            seen(trend.direction) or csv_text(trend.direction),
            trend.slope,
            trend.p_value,
            (seen(level) or csv_text(level)) if level else None,
        )
        if len(self.ends) >= self.LIMIT:
            self.ends.clear()
        made = self.ends[(id(trend), level)] = (trend, text + "\r\n")
        return made


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
