"""The API's own documentation: /api/docs/ served from our static files (works offline), the
OpenAPI document complete and valid, and /api/v1/ as an index of the endpoints."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from surveys.models import Employee
from tests.factories import api_for

pytestmark = pytest.mark.django_db

ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _docs_urls(client: Client) -> tuple[str, list[str]]:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    return html, ATTRIBUTE_URL.findall(html)


def test_the_docs_page_loads_nothing_from_another_host():
    html, urls = _docs_urls(Client())

    assert sorted(urls) == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ]
    # not in an attribute either, e.g. the inline script's settings (no online validator badge)
    assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE) is None
    assert '"validatorUrl": null' in html
    assert '"/api/schema/"' in html


def test_the_docs_pages_static_files_are_served(settings):
    # given whitenoise serving from the apps' static folders, as in development (DEBUG)
    settings.WHITENOISE_USE_FINDERS = True
    client = Client()  # its handler, and so whitenoise, is set up after the setting
    _, urls = _docs_urls(client)

    for url in urls:
        assert finders.find(url.removeprefix("/static/"))
        response = client.get(url)
        assert response.status_code == 200, url
        assert int(response["Content-Length"]) > 0


def test_collectstatic_gathers_the_docs_files_and_whitenoise_serves_them(settings, tmp_path):
    # given the files collected as a deployment does (Dockerfile), whitenoise without finders
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_USE_FINDERS = False
    call_command("collectstatic", "--noinput", "--ignore", "admin", "--ignore", "redoc", stdout=io.StringIO())
    client = Client()
    _, urls = _docs_urls(client)

    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert (tmp_path / url.removeprefix("/static/")).is_file()


# --- the OpenAPI document ---------------------------------------------------------------------


def test_the_schema_validates_without_a_warning(tmp_path):
    out = tmp_path / "schema.yml"

    # raises (SystemExit) on an invalid document or on any warning
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=io.StringIO())

    assert out.read_text().startswith("openapi: 3.0.3")


@pytest.fixture
def document() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _body(document: dict, operation: dict, status: str) -> dict:
    schema = _resolve(document, operation["responses"][status]["content"]["application/json"]["schema"])
    if "results" in schema.get("properties", {}):  # paginated list
        schema = _resolve(document, schema["properties"]["results"]["items"])
    elif schema.get("type") == "array":
        schema = _resolve(document, schema["items"])
    return schema


# DESIGN.md, Public API: every call, the fields it documents and the answers it can give.
DESIGN = [
    (
        "get",
        "/api/v1/invitations/{token}/",
        {"survey", "closes_at", "questions", "comment_enabled"},
        {"200", "404", "409", "410", "429"},
    ),
    ("post", "/api/v1/responses/", {"status"}, {"201", "400", "404", "409", "410", "415", "429"}),
    ("get", "/api/v1/teams/", {"id", "name", "path", "parent"}, {"200", "403"}),
    ("get", "/api/v1/waves/", {"id", "survey", "opens_on", "closes_at", "status"}, {"200", "403"}),
    (
        "get",
        "/api/v1/teams/{team_id}/results/",
        {"team", "wave", "invited", "responded", "suppressed", "reason", "dimensions"},
        {"200", "400", "403", "404"},
    ),
    ("get", "/api/v1/teams/{team_id}/trends/", {"team", "dimensions"}, {"200", "403", "404"}),
    ("get", "/api/v1/risks/", {"team", "path", "level", "score", "reasons"}, {"200", "403"}),
    ("post", "/api/v1/org/import/", {"employees_created", "teams_created"}, {"200", "400", "403", "413", "415"}),
]


@pytest.mark.parametrize("method, path, fields, statuses", DESIGN, ids=[f"{m} {p}" for m, p, _, _ in DESIGN])
def test_the_schema_documents_each_call_with_its_fields_and_answers(document, method, path, fields, statuses):
    operation = document["paths"][path][method]
    success = min(statuses)

    assert statuses <= set(operation["responses"])
    assert fields <= set(_body(document, operation, success)["properties"])
    for status in set(operation["responses"]) - {success}:  # every refusal is described, with its body
        assert operation["responses"][status]["description"]
        body = _body(document, operation, status)
        assert body.get("type") == "object" or all(_resolve(document, s)["type"] == "object" for s in body["oneOf"])


def test_the_schema_documents_the_nested_fields(document):
    paths = document["paths"]
    results = _body(document, paths["/api/v1/teams/{team_id}/results/"]["get"], "200")
    dimension = _resolve(document, results["properties"]["dimensions"]["items"])
    trends = _body(document, paths["/api/v1/teams/{team_id}/trends/"]["get"], "200")
    dimension_trend = _resolve(document, trends["properties"]["dimensions"]["items"])
    point = _resolve(document, dimension_trend["properties"]["points"]["items"])
    trend = _resolve(document, dimension_trend["properties"]["trend"])
    invitation = _body(document, paths["/api/v1/invitations/{token}/"]["get"], "200")
    question = _resolve(document, invitation["properties"]["questions"]["items"])
    risk = _body(document, paths["/api/v1/risks/"]["get"], "200")

    assert {"dimension", "respondents", "mean", "favorable", "suppressed"} <= set(dimension["properties"])
    assert {"wave", "opens_on", "mean", "suppressed"} <= set(point["properties"])
    assert {"direction", "slope", "p_value"} <= set(trend["properties"])
    assert _resolve(document, trend["properties"]["direction"])["enum"] == [
        "declining",
        "improving",
        "stable",
        "insufficient_data",
    ]
    assert {"code", "text", "dimension", "scale", "min", "max", "reverse_scored"} <= set(question["properties"])
    assert _resolve(document, risk["properties"]["level"])["enum"] == ["high", "elevated", "low", "insufficient_data"]


# --- /api/v1/ ---------------------------------------------------------------------------------

INDEX = {
    "teams": "http://testserver/api/v1/teams/",
    "waves": "http://testserver/api/v1/waves/",
    "team_results": "http://testserver/api/v1/teams/{team_id}/results/?wave={wave_id}",
    "team_trends": "http://testserver/api/v1/teams/{team_id}/trends/",
    "risks": "http://testserver/api/v1/risks/",
    "export_csv": "http://testserver/api/v1/exports/report.csv",
    "export_xlsx": "http://testserver/api/v1/exports/report.xlsx",
    "org_import": "http://testserver/api/v1/org/import/",
    "invitation": "http://testserver/api/v1/invitations/{token}/",
    "responses": "http://testserver/api/v1/responses/",
    "schema": "http://testserver/api/schema/",
    "docs": "http://testserver/api/docs/",
}


def test_the_api_root_lists_the_endpoints_for_anyone():
    response = Client().get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == INDEX


def test_the_api_root_lists_the_same_endpoints_for_a_signed_in_caller(document):
    response = api_for(role=Employee.Role.HR).get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == INDEX
    # every operation of the schema is in the index, and the index points only at real paths
    listed = {url.removeprefix("http://testserver").split("?")[0] for url in INDEX.values()}
    assert set(document["paths"]) <= listed
