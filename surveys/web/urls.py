from __future__ import annotations

from django.urls import path

from . import survey_views, views

urlpatterns = [
    path("org/", views.org, name="org"),
    # The answer form; "thanks/" before "<token>/", which would match it too.
    path("s/", survey_views.survey_form, name="survey-form"),
    path("s/thanks/", survey_views.survey_thanks, name="survey-thanks"),
    path("s/<str:token>/", survey_views.survey_link, name="survey-link"),
]
