"""The dashboard bench's server: Pulse's settings and URLs, plus one trivial template view.

Served by one gunicorn with ``DJANGO_SETTINGS_MODULE=bench.dashboard_baseline``: this module is
at once the settings (everything of ``pulse.settings``: the same middleware, sessions, database
connection handling and logging), the URLconf (all of Pulse's URLs, and ``/bench/trivial/``) and
the view. The trivial view renders a tiny template that extends Pulse's own ``base.html``, so a
logged-in HR user gets the same page frame as on the dashboard (the header's navigation, the
session and user lookups behind it) around one paragraph: the least a real page of the product
costs. Both are measured on the same server in the same run, under the same configuration.
"""

from __future__ import annotations

import functools

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from pulse.settings import *  # noqa: F403 - the baseline runs on Pulse's own settings

ROOT_URLCONF = "bench.dashboard_baseline"

TRIVIAL_PATH = "/bench/trivial/"
_TEMPLATE = '{% extends "base.html" %}{% block content %}<p>ok</p>{% endblock %}'


@functools.cache
def _template():  # compiled once per process, like a file template under the cached loader
    return engines["django"].from_string(_TEMPLATE)


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_template().render({}, request))


def __getattr__(name: str) -> list:
    # The URLconf is read (``urlpatterns``) once apps are ready; Pulse's URLs import models, which
    # this module, loaded first as the settings, must not do at import time.
    if name == "urlpatterns":
        from pulse.urls import urlpatterns

        return [path(TRIVIAL_PATH.lstrip("/"), trivial), *urlpatterns]
    raise AttributeError(name)
