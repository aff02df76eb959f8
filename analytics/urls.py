from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("teams/<int:team_id>/", views.team, name="team-dashboard"),
    path("hr/", views.hr_overview, name="hr-overview"),
    path("hr/risks/", views.hr_risks, name="hr-risks"),
    path("hr/waves/", views.hr_waves, name="hr-waves"),
    path("hr/waves/<int:wave_id>/", views.hr_wave, name="hr-wave"),
    path("hr/exports/", views.hr_exports, name="hr-exports"),
    path("hr/exports/log/", views.hr_export_log, name="hr-export-log"),
]
