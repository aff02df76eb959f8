from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("hr/exports/", views.hr_exports, name="hr-exports"),
    path("hr/exports/log/", views.hr_export_log, name="hr-export-log"),
]
