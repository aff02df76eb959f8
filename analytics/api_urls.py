from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("teams/<str:team_id>/results/", api.TeamResultsApi.as_view(), name="api-team-results"),
    path("teams/<str:team_id>/trends/", api.TeamTrendsApi.as_view(), name="api-team-trends"),
    path("risks/", api.RiskListApi.as_view(), name="api-risks"),
    path("exports/report.csv", api.ReportCsvApi.as_view(), name="api-export-report-csv"),
    path("exports/report.xlsx", api.ReportXlsxApi.as_view(), name="api-export-report-xlsx"),
]
