"""HR's pages /hr/exports/ (the form and the download) and /hr/exports/log/, and the read-only admin."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.models import ExportAudit
from surveys.models import Employee
from tests.analytics.export_org import org_create, wave_closed
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client_for(role: str, *, manages=()) -> tuple[Client, Employee]:
    employee = EmployeeFactory(role=role, user=UserFactory())
    employee.manages.set(manages)
    client = Client()
    client.force_login(employee.user)
    return client, employee


@pytest.fixture
def sealed():
    org = org_create()
    return {"org": org, "wave": wave_closed(org)}


def test_the_form_offers_the_closed_waves_and_every_team_with_labels(sealed):
    client, _ = _client_for(Employee.Role.HR)

    page = client.get(reverse("hr-exports")).content.decode()

    assert '<label for="id_teams">Teams:</label>' in page
    assert "<legend>Format:</legend>" in page and "<legend>Waves:</legend>" in page
    assert f'value="{sealed["wave"].pk}"' in page
    assert ">Acme/Eng/ML</option>" in page
    assert 'aria-describedby="id_teams_helptext"' in page


def test_hr_downloads_from_the_form_and_the_export_is_audited_as_web(sealed):
    client, hr = _client_for(Employee.Role.HR)
    wave, sales = sealed["wave"], sealed["org"]["sales"]

    response = client.post(reverse("hr-exports"), {"format": "csv", "waves": [wave.pk], "teams": [sales.pk]})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r[0], r[2], r[6]) for r in rows[1:]] == [
        ("Acme/Sales", "workload", "true"),
        ("Acme/Sales", "enps", "true"),
    ]
    audit = ExportAudit.objects.get()
    assert (audit.user, audit.username, audit.channel, audit.format) == (hr.user, hr.user.username, "web", "csv")
    assert audit.filters == {"waves": [wave.pk], "teams": [sales.pk], "team_paths": ["Acme/Sales"]}
    assert (audit.rows, audit.finished) == (2, True)


def test_a_bad_choice_gives_the_form_back_with_the_error_and_nothing_is_audited(sealed):
    client, _ = _client_for(Employee.Role.HR)

    response = client.post(reverse("hr-exports"), {"format": "pdf", "waves": ["987654"]})

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"format", "waves"}
    assert 'role="alert"' in response.content.decode()
    assert ExportAudit.objects.count() == 0


@pytest.mark.parametrize("name", ["hr-exports", "hr-export-log"])
def test_a_manager_gets_404_on_the_pages_and_nothing_is_audited(sealed, name):
    client, _ = _client_for(Employee.Role.MANAGER, manages=[sealed["org"]["acme"]])

    assert client.get(reverse(name)).status_code == 404
    assert client.post(reverse("hr-exports"), {"format": "csv"}).status_code == 404
    assert ExportAudit.objects.count() == 0


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in(sealed):
    response = Client().post(reverse("hr-exports"), {"format": "csv"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert ExportAudit.objects.count() == 0


def _audits(count: int) -> list[ExportAudit]:
    start = timezone.now()
    return ExportAudit.objects.bulk_create(
        ExportAudit(
            username=f"hr{i}@example.com",
            started_at=start - timezone.timedelta(minutes=i),
            format="csv",
            channel="api",
            filters={"waves": [], "teams": [], "team_paths": []},
            rows=i,
            finished=True,
        )
        for i in range(count)
    )


def test_the_log_lists_exports_newest_first_in_pages(sealed):
    client, _ = _client_for(Employee.Role.HR)
    _audits(55)

    first = client.get(reverse("hr-export-log"))
    second = client.get(reverse("hr-export-log"), {"page": 2})

    assert [a.username for a in first.context["page"].object_list][:2] == ["hr0@example.com", "hr1@example.com"]
    assert len(first.context["page"].object_list) == 50
    assert [a.username for a in second.context["page"].object_list] == [f"hr{i}@example.com" for i in range(50, 55)]
    body = first.content.decode()
    assert '<th scope="col">Who</th>' in body and '<th scope="row">' in body
    assert 'rel="next"' in body


def test_the_log_shows_an_export_made_from_the_form(sealed):
    client, hr = _client_for(Employee.Role.HR)
    b"".join(
        client.post(reverse("hr-exports"), {"format": "xlsx", "teams": [sealed["org"]["eng"].pk]}).streaming_content
    )

    body = client.get(reverse("hr-export-log")).content.decode()

    assert hr.user.username in body
    assert "<td>HR pages</td>" in body and "<td>XLSX</td>" in body and '<td class="path">Acme/Eng</td>' in body
    assert '<td class="num">4</td>' in body


def test_the_admin_shows_the_log_read_only():
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    (audit,) = _audits(1)

    assert client.get(reverse("admin:analytics_exportaudit_changelist")).status_code == 200
    assert client.get(reverse("admin:analytics_exportaudit_change", args=[audit.pk])).status_code == 200
    assert client.get(reverse("admin:analytics_exportaudit_add")).status_code == 403
    delete = client.post(reverse("admin:analytics_exportaudit_delete", args=[audit.pk]), {"post": "yes"})
    assert delete.status_code == 403
    change = client.post(reverse("admin:analytics_exportaudit_change", args=[audit.pk]), {"rows": "999"})
    assert change.status_code == 403
    audit.refresh_from_db()
    assert (ExportAudit.objects.count(), audit.rows) == (1, 0)


def test_hr_reads_the_log_in_the_admin_and_a_staff_member_who_is_not_hr_does_not():
    hr_user = UserFactory(is_staff=True)  # as the org import makes HR: staff, in the HR group
    EmployeeFactory(email=hr_user.username, role=Employee.Role.HR, user=hr_user)
    other = UserFactory(is_staff=True)
    EmployeeFactory(email=other.username, role=Employee.Role.MANAGER, user=other)
    (audit,) = _audits(1)
    hr, staff = Client(), Client()
    hr.force_login(hr_user)
    staff.force_login(other)

    assert hr.get(reverse("admin:analytics_exportaudit_changelist")).status_code == 200
    assert hr.get(reverse("admin:analytics_exportaudit_change", args=[audit.pk])).status_code == 200
    assert reverse("admin:analytics_exportaudit_changelist") in hr.get(reverse("admin:index")).content.decode()
    assert hr.post(reverse("admin:analytics_exportaudit_delete", args=[audit.pk]), {"post": "yes"}).status_code == 403
    assert staff.get(reverse("admin:analytics_exportaudit_changelist")).status_code == 403
    assert ExportAudit.objects.count() == 1
