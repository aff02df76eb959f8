"""``GET /api/v1/``: an index of the API, in the style of DRF's API root.

Each endpoint's name maps to its absolute URL; an endpoint that takes an id or a token is given
as a URI template (``{team_id}``, ``{token}``, ``{wave_id}``). It is open to anyone, like the
schema it points to, and says nothing about the data: what a caller may see is decided by each
endpoint. Left out of the OpenAPI document, as DRF's own API root is.
"""

from __future__ import annotations

from urllib.parse import unquote

from django.urls import reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# (name in the index, URL name, path parameters as URI-template variables, query template)
ENDPOINTS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("teams", "api-teams", (), ""),
    ("waves", "api-waves", (), ""),
    ("team_results", "api-team-results", ("team_id",), "?wave={wave_id}"),
    ("team_trends", "api-team-trends", ("team_id",), ""),
    ("risks", "api-risks", (), ""),
    ("export_csv", "api-export-report-csv", (), ""),
    ("export_xlsx", "api-export-report-xlsx", (), ""),
    ("org_import", "api-org-import", (), ""),
    ("invitation", "api-invitation", ("token",), ""),
    ("responses", "api-responses", (), ""),
    ("schema", "api-schema", (), ""),
    ("docs", "api-docs", (), ""),
]


def api_index(request: Request) -> dict[str, str]:
    index = {}
    for name, url_name, variables, query in ENDPOINTS:
        path = reverse(url_name, kwargs={v: f"{{{v}}}" for v in variables})
        # reverse() percent-encodes the braces of the template variables; the index shows them as written.
        index[name] = unquote(request.build_absolute_uri(path)) + query
    return index


class ApiRootView(APIView):
    """The API's endpoints and where they are."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None  # not an operation of the API, like DRF's APIRootView

    def get(self, request: Request) -> Response:
        return Response(api_index(request))
