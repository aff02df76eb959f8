from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys and organisation")

    def ready(self) -> None:
        # Register surveys' Celery tasks in every process, not only in workers (whose
        # autodiscovery imports them): the services enqueue them by name (surveys/task_names.py)
        # and never import them, and with eager Celery (the embedded default) a name unknown
        # to this process would be sent to no one.
        from . import tasks  # noqa: F401
