"""GET /api/v1/exports/report.csv and report.xlsx: HR only, streamed, validated, audit-logged."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from openpyxl import load_workbook
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from analytics import exports
from analytics.api import ReportCsvApi
from analytics.models import ExportAudit
from surveys.models import Employee
from tests.analytics.export_org import org_create, wave_closed
from tests.factories import EmployeeFactory, UserFactory, WaveFactory, api_for

pytestmark = pytest.mark.django_db

CSV = "/api/v1/exports/report.csv"
XLSX = "/api/v1/exports/report.xlsx"


@pytest.fixture
def sealed():
    org = org_create()
    return {"org": org, "wave": wave_closed(org)}


def _hr() -> tuple[APIClient, str]:
    client = api_for(role=Employee.Role.HR)
    return client, Employee.objects.filter(role=Employee.Role.HR).latest("pk").user.username


def test_hr_gets_the_csv_streamed_and_the_export_is_audited(sealed):
    client, username = _hr()

    response = client.get(CSV)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="pulse-report-')
    # the audit row is written before the first row, completed after the last
    audit = ExportAudit.objects.get()
    assert (audit.rows, audit.finished) == (0, False)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(exports.COLUMNS)
    assert len(rows) == 9
    audit.refresh_from_db()
    assert (audit.user.username, audit.username, audit.channel, audit.format) == (username, username, "api", "csv")
    assert audit.filters == {"waves": [], "teams": [], "team_paths": []}
    assert (audit.rows, audit.finished) == (8, True)
    assert audit.finished_at is not None


def test_hr_gets_the_xlsx_with_filters_and_the_audit_row_names_them(sealed):
    client, _ = _hr()
    wave, eng = sealed["wave"], sealed["org"]["eng"]

    response = client.get(XLSX, {"waves": [wave.pk], "teams": [eng.pk]})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Report"]
    paths = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert paths == ["Acme/Eng", "Acme/Eng", "Acme/Eng/ML", "Acme/Eng/ML"]
    audit = ExportAudit.objects.get()
    assert (audit.channel, audit.format, audit.rows, audit.finished) == ("api", "xlsx", 4, True)
    assert audit.filters == {"waves": [wave.pk], "teams": [eng.pk], "team_paths": ["Acme/Eng"]}


def test_a_download_that_stops_early_is_recorded_unfinished(sealed, monkeypatch):
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 3)
    hr = EmployeeFactory(role=Employee.Role.HR, user=UserFactory()).user
    request = APIRequestFactory().get(CSV)
    force_authenticate(request, user=hr)
    # the view alone, as the WSGI server gets it (the test client wraps the stream in its own)
    response = ReportCsvApi.as_view()(request)

    first = next(iter(response.streaming_content))
    # What the server does when the client goes away. The signal that follows would close the
    # database connection, and with it the test's transaction (Django's test client avoids it too).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)

    assert first.decode().count("\r\n") == 4  # the header and three rows
    audit = ExportAudit.objects.get()
    assert (audit.user, audit.rows, audit.finished) == (hr, 3, False)
    assert audit.finished_at is not None


@pytest.mark.parametrize("url", [CSV, XLSX])
def test_a_manager_gets_404_and_nothing_is_audited(sealed, url):
    client = api_for(role=Employee.Role.MANAGER, manages=[sealed["org"]["acme"]])

    response = client.get(url)

    assert response.status_code == 404
    assert ExportAudit.objects.count() == 0


@pytest.mark.parametrize("url", [CSV, XLSX])
def test_without_credentials_403_and_nothing_is_audited(sealed, url):
    response = APIClient().get(url)

    assert response.status_code == 403
    assert ExportAudit.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"waves": "abc"}, "waves"),
        ({"waves": "0"}, "waves"),
        ({"waves": "987654"}, "waves"),
        ({"teams": "x"}, "teams"),
        ({"teams": "987654"}, "teams"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field_and_nothing_is_audited(sealed, query, field):
    client, _ = _hr()

    response = client.get(CSV, query)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert ExportAudit.objects.count() == 0


def test_an_open_wave_is_a_400_with_the_reason(sealed):
    open_wave = WaveFactory()  # open
    client, _ = _hr()

    response = client.get(CSV, {"waves": [open_wave.pk]})

    assert response.status_code == 400
    assert response.json() == {"waves": [f"No closed wave with released results has the id {open_wave.pk}."]}


def test_an_accept_header_asking_for_csv_still_gets_json_errors(sealed):
    client, _ = _hr()

    response = client.get(CSV, {"waves": "abc"}, HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "waves" in response.json()


def test_the_schema_documents_both_exports():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()

    csv_op = schema["paths"]["/api/v1/exports/report.csv"]["get"]
    xlsx_op = schema["paths"]["/api/v1/exports/report.xlsx"]["get"]
    assert (csv_op["operationId"], xlsx_op["operationId"]) == ("export_report_csv", "export_report_xlsx")
    assert list(csv_op["responses"]["200"]["content"]) == ["text/csv"]
    assert list(xlsx_op["responses"]["200"]["content"]) == [exports.CONTENT_TYPES["xlsx"]]
    assert {p["name"] for p in csv_op["parameters"]} == {"waves", "teams"}
    assert set(csv_op["responses"]) == {"200", "400", "403", "404"}
