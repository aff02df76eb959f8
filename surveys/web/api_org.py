"""``POST /api/v1/org/import/``: the organisation import for HR integrations.

The same service as ``manage.py import_org``; the CSV comes as the raw body (``text/csv``) or
as the multipart field ``file``.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import permissions, serializers, status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..org_import import COLUMNS, OrgImportError, RowError, org_import
from ..selectors import user_is_hr
from .api import DetailSerializer

# A 100,000-person file is about 10 MB; far beyond that is a mistake, not an org chart.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class CsvBodyParser(BaseParser):
    """The request body, as bytes: decoding (and its errors) belongs to the import."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read(MAX_UPLOAD_BYTES + 1) if stream is not None else b""


class IsHR(permissions.BasePermission):
    message = "Only HR may import the organisation."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_is_hr(request.user)


class OrgImportResultSerializer(serializers.Serializer):
    employees_created = serializers.IntegerField()
    employees_updated = serializers.IntegerField()
    employees_unchanged = serializers.IntegerField()
    teams_created = serializers.IntegerField()
    users_created = serializers.IntegerField()
    users_updated = serializers.IntegerField()


class OrgImportErrorsSerializer(serializers.Serializer):
    errors = inline_serializer(
        "OrgImportRowError",
        fields={
            "line": serializers.IntegerField(allow_null=True),
            "column": serializers.CharField(allow_null=True),
            "message": serializers.CharField(),
        },
        many=True,
    )


def _errors_response(errors: list[RowError]) -> Response:
    return Response({"errors": [error.as_dict() for error in errors]}, status=status.HTTP_400_BAD_REQUEST)


def _file_error_response(message: str, code: int) -> Response:
    """An error about the upload as a whole: no line, no column."""
    return Response({"errors": [{"line": None, "column": None, "message": message}]}, status=code)


class OrgImportApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsHR]
    parser_classes = [CsvBodyParser, MultiPartParser]

    @extend_schema(
        operation_id="org_import",
        summary="Import the organisation from a CSV",
        description=(
            f"CSV columns: `{','.join(COLUMNS)}` (UTF-8, with or without BOM). Upsert by e-mail; people "
            "missing from the file are left untouched. A file with any error is rejected whole, nothing "
            "is written, and every error is listed with its line and column. HR only."
        ),
        parameters=[OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="validate only, write nothing")],
        request={
            "text/csv": OpenApiTypes.BINARY,
            "multipart/form-data": inline_serializer("OrgImportUpload", fields={"file": serializers.FileField()}),
        },
        responses={
            200: OrgImportResultSerializer,
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="OrgImportRejected",
                    serializers=[OrgImportErrorsSerializer, DetailSerializer],
                    resource_type_field_name=None,
                ),
                description="the file was rejected and nothing was written: `errors` lists every problem "
                "(`detail` instead when the multipart body itself cannot be parsed)",
            ),
            403: OpenApiResponse(DetailSerializer, description="not HR, or no valid credentials"),
            413: OpenApiResponse(OrgImportErrorsSerializer, description="the file is too large"),
            415: OpenApiResponse(DetailSerializer, description="the body is not `text/csv` or `multipart/form-data`"),
        },
        examples=[
            OpenApiExample(
                "rejected",
                response_only=True,
                status_codes=["400"],
                value={
                    "errors": [{"line": 3, "column": "timezone", "message": "'Mars/Olympus' is not an IANA time zone"}]
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self._csv(request)
        if not data:
            message = "no CSV received: send it as the body (Content-Type: text/csv) or as the multipart field 'file'"
            return _file_error_response(message, status.HTTP_400_BAD_REQUEST)
        if len(data) > MAX_UPLOAD_BYTES:
            message = f"the file exceeds the upload limit of {MAX_UPLOAD_BYTES:,} bytes"
            return _file_error_response(message, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes", "on"}
        try:
            result = org_import(data=data, dry_run=dry_run)
        except OrgImportError as exc:
            return _errors_response(exc.errors)
        return Response(result.as_dict())

    def _csv(self, request: Request) -> bytes:
        if isinstance(request.data, bytes):
            return request.data
        upload = request.FILES.get("file")
        return upload.read(MAX_UPLOAD_BYTES + 1) if upload is not None else b""
