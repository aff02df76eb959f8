from __future__ import annotations

from django.contrib import admin

from . import models

admin.site.register(models.Team)
admin.site.register(models.Employee)
admin.site.register(models.Question)
admin.site.register(models.Survey)
admin.site.register(models.Schedule)
admin.site.register(models.Wave)
