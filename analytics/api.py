"""The reporting API (DESIGN.md, Public API): results, trends, risks and exports, all through the gate."""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from surveys.selectors import user_is_hr

from . import exports, selectors
from .models import ExportAudit

# The route takes any segment, so that credentials are checked before the id (a caller without
# them gets 403 for any path); an id that isn't one is then a 404 like an unknown team.
TEAM_ID = OpenApiParameter(
    "team_id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH, description="The team's id."
)


def team_id_parse(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Http404("No such team.")
    return int(raw)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


NO_CREDENTIALS = OpenApiResponse(ErrorSerializer, description="No valid credentials.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such team or wave, or one the caller may not see.")
BAD_WAVE = OpenApiResponse(
    inline_serializer("WaveQueryError", fields={"wave": serializers.ListField(child=serializers.CharField())}),
    description="`wave` missing or not an id.",
)


class DimensionResultSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    respondents = serializers.IntegerField(
        allow_null=True, help_text="Responses in the group and its subtree that answered this dimension."
    )
    mean = serializers.FloatField(allow_null=True, help_text="On the question scale, higher is healthier.")
    favorable = serializers.FloatField(allow_null=True, help_text="Share 0..1 of favourable item answers.")
    enps = serializers.FloatField(
        allow_null=True, required=False, help_text="eNPS dimension only: promoters minus detractors, in points."
    )
    suppressed = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)

    def to_representation(self, d: selectors.DimensionResult) -> dict:
        data = {
            "dimension": d.dimension,
            "respondents": d.respondents,
            "mean": d.mean.value,
            "favorable": d.favorable.value,
            "suppressed": d.suppressed,
            "reason": d.mean.reason,
        }
        if d.enps is not None:
            data["enps"] = d.enps.value
        return data


class TeamResultSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    wave = serializers.IntegerField()
    wave_status = serializers.CharField()
    invited = serializers.IntegerField(allow_null=True)
    responded = serializers.IntegerField(allow_null=True)
    participation_reason = serializers.CharField(allow_null=True)
    suppressed = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    dimensions = DimensionResultSerializer(many=True)

    def to_representation(self, r: selectors.TeamResult) -> dict:
        return {
            "team": r.team,
            "wave": r.wave,
            "wave_status": r.wave_status,
            "invited": r.invited.value,
            "responded": r.responded.value,
            "participation_reason": r.invited.reason,
            "suppressed": r.suppressed,
            "reason": r.reason,
            "dimensions": [DimensionResultSerializer().to_representation(d) for d in r.dimensions],
        }


class WaveQuerySerializer(serializers.Serializer):
    wave = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="The wave's id.")


@extend_schema(
    parameters=[TEAM_ID, WaveQuerySerializer],
    responses={
        200: TeamResultSerializer,
        400: BAD_WAVE,
        403: NO_CREDENTIALS,
        404: NOT_FOUND,
    },
)
class TeamResultsApi(APIView):
    """A team's released results in one wave (only participation while the wave is open)."""

    def get(self, request: Request, team_id: str) -> Response:
        team = team_id_parse(team_id)
        query = WaveQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.team_results(user=request.user, team_id=team, wave_id=query.validated_data["wave"])
        return Response(TeamResultSerializer().to_representation(result))


class TrendPointSerializer(serializers.Serializer):
    wave = serializers.IntegerField()
    opens_on = serializers.DateField()
    mean = serializers.FloatField(allow_null=True, help_text="The released value (the results' mean).")
    suppressed = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    shrunk_mean = serializers.FloatField(
        allow_null=True, help_text="For display: the value shrunk toward the parent team (empirical Bayes)."
    )


class TrendSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(["declining", "improving", "stable", "insufficient_data"])
    slope = serializers.FloatField(allow_null=True, help_text="Scale points per wave, org-wide movement removed.")
    p_value = serializers.FloatField(allow_null=True, help_text="Calibrated on simulated null organisations.")
    q_value = serializers.FloatField(allow_null=True, help_text="Benjamini–Hochberg across teams × dimensions.")
    min_detectable_change = serializers.FloatField(allow_null=True)


class DimensionTrendSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    points = TrendPointSerializer(many=True)
    trend = TrendSerializer()


class TeamTrendsSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    dimensions = DimensionTrendSerializer(many=True)


def _trend_data(team_id: int, trends: list[selectors.DimensionTrend]) -> dict:
    return {
        "team": team_id,
        "dimensions": [
            {
                "dimension": t.dimension,
                "points": [
                    {
                        "wave": p.wave,
                        "opens_on": p.opens_on.isoformat(),
                        "mean": p.mean.value,
                        "suppressed": p.mean.suppressed,
                        "reason": p.mean.reason,
                        "shrunk_mean": p.shrunk if not p.mean.suppressed else None,
                    }
                    for p in t.points
                ],
                "trend": {
                    "direction": t.trend.direction,
                    "slope": t.trend.slope,
                    "p_value": t.trend.p_value,
                    "q_value": t.trend.q_value,
                    "min_detectable_change": t.trend.min_detectable,
                },
            }
            for t in trends
        ],
    }


@extend_schema(parameters=[TEAM_ID], responses={200: TeamTrendsSerializer, 403: NO_CREDENTIALS, 404: NOT_FOUND})
class TeamTrendsApi(APIView):
    """A team's released points over the sealed waves and its calibrated trend per dimension."""

    def get(self, request: Request, team_id: str) -> Response:
        team = team_id_parse(team_id)
        return Response(_trend_data(team, selectors.team_trends(user=request.user, team_id=team)))


class RiskSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    path = serializers.CharField()
    level = serializers.ChoiceField(["high", "elevated", "low", "insufficient_data"])
    score = serializers.FloatField(
        allow_null=True, help_text="Expected voluntary departures per person over the next 90 days."
    )
    reasons = serializers.ListField(child=serializers.CharField())

    def to_representation(self, f: selectors.RiskFlag) -> dict:
        return {"team": f.team, "path": f.path, "level": f.level, "score": f.score, "reasons": list(f.reasons)}


@extend_schema(responses={200: RiskSerializer(many=True), 403: NO_CREDENTIALS})
class RiskListApi(generics.ListAPIView):
    """Churn risk of every team the caller may see, highest first."""

    serializer_class = RiskSerializer

    def get_queryset(self):
        return selectors.risks_ordered(user=self.request.user)


# --- exports -----------------------------------------------------------------------------------


class ExportQuerySerializer(serializers.Serializer):
    waves = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        required=False,
        default=list,
        help_text="Wave ids (repeat the parameter for several); default every closed wave with released results.",
    )
    teams = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        required=False,
        default=list,
        help_text="Team ids (repeat the parameter); each brings its sub-teams. Default every team.",
    )


EXPORT_DESCRIPTION = (
    "HR only. One row per team × wave × dimension of the closed waves, as released: columns "
    f"`{','.join(exports.COLUMNS)}`. Suppressed rows have empty `mean`, `favorable` and `enps` and "
    "say why in `reason`; `direction`, `slope`, `p_value` are the team's current trend of the dimension and "
    "`level` its churn-risk level. Streamed; every export is audit-logged."
)
EXPORT_ERRORS = {
    400: OpenApiResponse(description="A filter is not an id or names no closed wave / no team; the body names it."),
    403: NO_CREDENTIALS,
    404: OpenApiResponse(description="The caller is not HR."),
}


class _ReportExportApi(APIView):
    export_format = ""

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The file is the answer whatever Accept says; errors fall back to JSON instead of a 406.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request) -> StreamingHttpResponse:
        if not user_is_hr(request.user):
            raise Http404
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            scope = selectors.export_scope(
                user=request.user, wave_ids=query.validated_data["waves"], team_ids=query.validated_data["teams"]
            )
        except selectors.ExportFilterError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        stream = exports.report_export(
            scope=scope, format=self.export_format, channel=ExportAudit.Channel.API, user=request.user
        )
        return exports.export_response(stream)


@extend_schema_view(
    get=extend_schema(
        operation_id="export_report_csv",
        description=EXPORT_DESCRIPTION,
        parameters=[ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The report as CSV."),
            **EXPORT_ERRORS,
        },
    )
)
class ReportCsvApi(_ReportExportApi):
    """The released report as CSV."""

    export_format = ExportAudit.Format.CSV


@extend_schema_view(
    get=extend_schema(
        operation_id="export_report_xlsx",
        description=EXPORT_DESCRIPTION,
        parameters=[ExportQuerySerializer],
        responses={
            (200, exports.CONTENT_TYPES[ExportAudit.Format.XLSX]): OpenApiResponse(
                OpenApiTypes.BINARY, description="The report as an XLSX workbook (one sheet, Report)."
            ),
            **EXPORT_ERRORS,
        },
    )
)
class ReportXlsxApi(_ReportExportApi):
    """The released report as an XLSX workbook."""

    export_format = ExportAudit.Format.XLSX
