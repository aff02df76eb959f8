from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import api_root, health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("", include("surveys.web.account_urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", api_root.ApiRootView.as_view(), name="api-root"),
    path("api/v1/", include("surveys.web.api_urls")),
    path("api/v1/", include("analytics.api_urls")),
    path("", include("surveys.web.urls")),
    path("", include("analytics.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
