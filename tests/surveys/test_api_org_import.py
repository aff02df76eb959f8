"""``POST /api/v1/org/import/``: HR only, raw CSV or multipart, the same rules as the command."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from surveys.models import Employee, Team
from surveys.org_import import org_csv_build, org_import
from tests.factories import UserFactory

User = get_user_model()
URL = "/api/v1/org/import/"

BASE = [
    {"email": "hr@acme.example", "name": "Hana", "team": "Acme/People", "timezone": "UTC", "role": "hr"},
    {
        "email": "boss@acme.example",
        "name": "Bo",
        "team": "Acme/Eng",
        "timezone": "UTC",
        "role": "manager",
        "manages": "Acme/Eng",
    },
]
NEW_PEOPLE = [
    {"email": "ann@acme.example", "name": "Ann", "team": "Acme/Eng/ML", "timezone": "Europe/Berlin", "locale": "de"},
    {"email": "cy@acme.example", "name": "Cy", "team": "Acme/Eng/ML", "timezone": "Asia/Tokyo"},
]


@pytest.fixture
def org(db) -> None:
    org_import(data=org_csv_build(BASE))


def client_for(email: str | None) -> APIClient:
    client = APIClient()
    if email is not None:
        client.force_authenticate(User.objects.get(username=email))
    return client


def state() -> tuple:
    return (
        sorted(Employee.objects.values_list("email", "name", "team__path", "role", "active")),
        sorted(Team.objects.values_list("path", flat=True)),
        sorted(User.objects.values_list("username", "is_active", "is_staff")),
    )


def test_url_name():
    assert reverse("api-org-import") == URL


def test_hr_imports_a_raw_csv_body(org):
    response = client_for("hr@acme.example").post(URL, org_csv_build(BASE + NEW_PEOPLE), content_type="text/csv")

    assert response.status_code == 200
    assert response.json() == {
        "employees_created": 2,
        "employees_updated": 0,
        "employees_unchanged": 2,
        "teams_created": 1,
        "users_created": 0,
        "users_updated": 0,
    }
    assert Employee.objects.get(email="ann@acme.example").team.path == "Acme/Eng/ML"


def test_hr_imports_a_multipart_upload_with_a_token(org):
    # given an integrator's token for the HR user
    token = Token.objects.create(user=User.objects.get(username="hr@acme.example"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    upload = SimpleUploadedFile("org.csv", org_csv_build(NEW_PEOPLE), content_type="text/csv")

    # when
    response = client.post(URL, {"file": upload}, format="multipart")

    # then
    assert response.status_code == 200
    assert response.json()["employees_created"] == 2
    assert Employee.objects.filter(email__in=["ann@acme.example", "cy@acme.example"]).count() == 2


def test_a_bad_file_is_400_with_every_error_and_nothing_written(org):
    # given
    before = state()
    rows = [NEW_PEOPLE[0], NEW_PEOPLE[1] | {"timezone": "Mars/Olympus", "role": "boss"}]

    # when
    response = client_for("hr@acme.example").post(URL, org_csv_build(rows), content_type="text/csv; charset=utf-8")

    # then
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"line": 3, "column": "timezone", "message": "'Mars/Olympus' is not an IANA time zone"},
            {"line": 3, "column": "role", "message": "'boss' is not one of employee, manager, hr"},
        ]
    }
    assert state() == before


def test_a_file_error_has_a_null_column(org):
    response = client_for("hr@acme.example").post(URL, b"\xff\xfe", content_type="text/csv")

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"line": 1, "column": None, "message": "is not valid UTF-8 (byte 0xff); save it as UTF-8"}]
    }


def test_no_csv_at_all_is_400(org):
    response = client_for("hr@acme.example").post(URL, {}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "line": None,
                "column": None,
                "message": "no CSV received: send it as the body (Content-Type: text/csv) "
                "or as the multipart field 'file'",
            }
        ]
    }


def test_dry_run_validates_and_writes_nothing(org):
    before = state()

    response = client_for("hr@acme.example").post(
        f"{URL}?dry_run=true", org_csv_build(NEW_PEOPLE), content_type="text/csv"
    )

    assert response.status_code == 200
    assert response.json()["employees_created"] == 2
    assert state() == before


def test_a_manager_is_refused_and_nothing_changes(org):
    before = state()

    response = client_for("boss@acme.example").post(URL, org_csv_build(NEW_PEOPLE), content_type="text/csv")

    assert response.status_code == 403
    assert state() == before


def test_a_user_without_an_hr_role_is_refused(org):
    UserFactory(username="someone@acme.example")
    before = state()

    response = client_for("someone@acme.example").post(URL, org_csv_build(NEW_PEOPLE), content_type="text/csv")

    assert response.status_code == 403
    assert state() == before


def test_a_departed_hr_person_is_refused(org):
    org_import(data=org_csv_build([BASE[0] | {"left_on": "2020-01-01", "left_reason": "voluntary"}]))
    before = state()
    client = APIClient()
    client.force_authenticate(User.objects.get(username="hr@acme.example"))  # an old session or token

    response = client.post(URL, org_csv_build(NEW_PEOPLE), content_type="text/csv")

    assert response.status_code == 403
    assert state() == before


def test_anonymous_is_refused(org):
    before = state()

    response = APIClient().post(URL, org_csv_build(NEW_PEOPLE), content_type="text/csv")

    assert response.status_code in (401, 403)
    assert state() == before


def test_other_media_types_are_415(org):
    response = client_for("hr@acme.example").post(URL, {"rows": []}, format="json")

    assert response.status_code == 415


def test_the_openapi_schema_documents_the_import(db):
    schema = APIClient().get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/org/import/"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    assert set(operation["responses"]) >= {"200", "400", "403"}
    result_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    result_schema = schema["components"]["schemas"][result_ref.rsplit("/", 1)[1]]
    assert set(result_schema["properties"]) >= {
        "employees_created",
        "employees_updated",
        "employees_unchanged",
        "teams_created",
        "users_created",
    }


def test_a_raw_body_beyond_djangos_form_limit_is_accepted(org, settings):
    # given a file larger than DATA_UPLOAD_MAX_MEMORY_SIZE (that limit is for forms, not uploads)
    rows = [
        {"email": f"p{n}@acme.example", "name": f"Person {n}", "team": "Acme/Eng", "timezone": "Europe/Berlin"}
        for n in range(2000)
    ]
    data = org_csv_build(rows)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(data) // 2

    # when
    response = client_for("hr@acme.example").post(f"{URL}?dry_run=1", data, content_type="text/csv")

    # then
    assert response.status_code == 200
    assert response.json()["employees_created"] == 2000


def test_a_file_beyond_the_upload_cap_is_413_and_nothing_changes(org, monkeypatch):
    from surveys.web import api_org

    monkeypatch.setattr(api_org, "MAX_UPLOAD_BYTES", 100)
    before = state()

    response = client_for("hr@acme.example").post(URL, org_csv_build(NEW_PEOPLE), content_type="text/csv")

    assert response.status_code == 413
    assert response.json() == {
        "errors": [{"line": None, "column": None, "message": "the file exceeds the upload limit of 100 bytes"}]
    }
    assert state() == before
