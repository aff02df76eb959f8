"""The names Celery knows the tasks by, in one place that imports nothing.

Services enqueue by name (``current_app.signature(name).delay()``, after commit) instead of
importing ``surveys.tasks``, which imports them: the import runs one way, tasks → services.
The names are part of the deployment, not of the code: beat's schedule and messages already
queued carry them, so they stay as registered even where a function or module is renamed.
"""

from __future__ import annotations

# Periodic (settings.CELERY_BEAT_SCHEDULE).
WAVES_MATERIALISE = "surveys.tasks.waves_materialise_task"
WAVES_CLOSE_DUE = "surveys.tasks.waves_close_due_task"
EMPLOYEES_DEPARTURES = "surveys.tasks.employees_departures_task"
INVITATIONS_DISPATCH = "surveys.tasks.invitations_dispatch_task"
REMINDERS_DISPATCH = "surveys.tasks.reminders_dispatch_task"

# Fanned out by dispatch, one per batch of due rows.
INVITATIONS_SEND_BATCH = "surveys.tasks.invitations_send_batch_task"
REMINDERS_SEND_BATCH = "surveys.tasks.reminders_send_batch_task"

# Defined by analytics (analytics/tasks.py), enqueued by surveys when a wave closes: by name,
# so the write side never imports the read side.
ANALYTICS_WAVE_CLOSED = "analytics.wave_closed"
