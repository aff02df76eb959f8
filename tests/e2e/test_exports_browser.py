"""HR downloads the report from the exports page in a real browser, as CSV and as XLSX: both open
and hold the released rows; the page is checked with axe and every download is in the log."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from analytics import exports
from analytics.models import DimensionRelease, ExportAudit
from surveys.models import Employee
from tests.analytics.export_org import org_create, wave_closed
from tests.e2e.browser import login, pretty
from tests.factories import EmployeeFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _download(page, fmt: str) -> bytes:
    page.check(f"input[name=format][value={fmt}]")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    with open(download.value.path(), "rb") as file:
        return file.read()


def test_hr_downloads_the_report_as_csv_and_xlsx(live_server, desktop_page, axe_violations, screenshot):
    # given a sealed, analysed wave of Acme (Sales' answers went to Acme)
    org = org_create()
    wave_closed(org)
    user = UserFactory()
    EmployeeFactory(email=user.username, role=Employee.Role.HR, user=user)
    page = desktop_page
    login(page, live_server, user)

    # when HR opens the exports page
    page.goto(f"{live_server.url}/hr/exports/")
    screenshot(page, "exports")
    violations = axe_violations(page)
    assert not violations, pretty(violations)

    # then the CSV holds one row per team × dimension, each value as released
    rows = list(csv.DictReader(io.StringIO(_download(page, "csv").decode())))
    released = {
        (r.team.path, r.dimension): r
        for r in DimensionRelease.objects.filter(team__isnull=False).select_related("team")
    }
    assert len(rows) == 8  # Acme, Eng, ML, Sales × workload, eNPS
    for row in rows:
        release = released.get((row["team_path"], row["dimension"]))
        if release is None or release.mean is None:
            assert (row["mean"], row["favorable"], row["suppressed"]) == ("", "", "true"), row
        else:
            assert float(row["mean"]) == release.mean and float(row["favorable"]) == release.favorable
    assert {r["team_path"] for r in rows if r["suppressed"] == "true"} == {"Acme/Sales"}

    # and the XLSX holds the same rows
    sheet = load_workbook(io.BytesIO(_download(page, "xlsx")), read_only=True).active
    table = [[("" if c is None else str(c)) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert table[0] == list(exports.COLUMNS)
    assert [(r[0], r[2]) for r in table[1:]] == [(r["team_path"], r["dimension"]) for r in rows]

    # every download is in the log, by this user, through the web
    audits = list(ExportAudit.objects.order_by("started_at"))
    assert [(a.format, a.channel, a.username, a.rows, a.finished) for a in audits] == [
        ("csv", "web", user.username, 8, True),
        ("xlsx", "web", user.username, 8, True),
    ]
    page.goto(f"{live_server.url}/hr/exports/log/")
    screenshot(page, "export-log")
    violations = axe_violations(page)
    assert not violations, pretty(violations)
