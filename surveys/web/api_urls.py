from __future__ import annotations

from django.urls import path

from . import api, api_org, api_survey

urlpatterns = [
    path("teams/", api.TeamListApi.as_view(), name="api-teams"),
    path("waves/", api.WaveListApi.as_view(), name="api-waves"),
    path("org/import/", api_org.OrgImportApi.as_view(), name="api-org-import"),
    path("invitations/<str:token>/", api_survey.InvitationApi.as_view(), name="api-invitation"),
    path("responses/", api_survey.ResponseApi.as_view(), name="api-responses"),
]
