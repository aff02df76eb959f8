from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("teams/", api.TeamListApi.as_view(), name="api-teams"),
    path("waves/", api.WaveListApi.as_view(), name="api-waves"),
]
