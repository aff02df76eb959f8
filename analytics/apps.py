from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        # Register analytics' Celery tasks in every process, not only in workers (whose
        # autodiscovery imports them): surveys enqueues them by name, and with eager Celery
        # (the embedded default) a name unknown to this process would be sent to no one.
        from . import tasks  # noqa: F401
