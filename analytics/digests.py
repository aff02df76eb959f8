"""The digest e-mails of an analysed wave: each manager about their teams, HR about the organisation.

Sent once per wave, after its analysis (analytics/services.py enqueues the task after the
commit). A conditional UPDATE of ``WaveAnalysis.digests_sent_at`` decides who sends: the close's
task and ``close_wave`` both run the analysis, a redelivered task runs twice, and only one of
them wins. The claim comes first, so a crash mid-send loses a digest rather than repeating it; a
send that fails is handed back (the claim cleared) for the next analysis run to retry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone

from surveys import selectors as surveys

from .emails import digest_hr_email, digest_manager_email
from .models import WaveAnalysis

logger = logging.getLogger(__name__)

WAVE_DIGESTS_TASK = "analytics.wave_digests"
# A wave closed longer ago than this is history being filled in (simulate_org, a back-fill):
# its analysis claims the digests but sends none, as their news is old.
DIGEST_MAX_AGE = timedelta(days=7)


def wave_digests_enqueue(*, wave_id: int) -> None:
    """Ask for the wave's digests once the current transaction commits (by name, like every task)."""
    transaction.on_commit(lambda: current_app.signature(WAVE_DIGESTS_TASK, args=(wave_id,)).delay())


def waves_digests_due(*, now: datetime | None = None) -> list[int]:
    """Analysed waves, closed recently, whose digests nobody has claimed (a lost task)."""
    now = now or timezone.now()
    return list(
        WaveAnalysis.objects.filter(
            analysed_at__isnull=False, digests_sent_at__isnull=True, wave__closed_at__gte=now - DIGEST_MAX_AGE
        ).values_list("wave_id", flat=True)
    )


def wave_digests_send(*, wave_id: int, now: datetime | None = None) -> int:
    """Send the wave's digests unless someone has: returns how many e-mails this call sent."""
    now = now or timezone.now()
    wave = surveys.wave_get(wave_id=wave_id)
    if wave is None or not wave.sealed:
        return 0
    claimed = WaveAnalysis.objects.filter(
        wave_id=wave_id, analysed_at__isnull=False, digests_sent_at__isnull=True
    ).update(digests_sent_at=now)
    if not claimed:
        return 0
    if wave.closed_at is None or wave.closed_at < now - DIGEST_MAX_AGE:
        logger.info("wave %s closed before %s: no digests for it", wave_id, now - DIGEST_MAX_AGE)
        return 0
    try:
        messages = [m for user in surveys.users_managing() if (m := digest_manager_email(user=user, wave=wave))]
        messages += [digest_hr_email(user=user, wave=wave) for user in surveys.users_hr()]
        with get_connection() as connection:
            sent = connection.send_messages(messages) or 0
    except Exception:
        WaveAnalysis.objects.filter(wave_id=wave_id, digests_sent_at=now).update(digests_sent_at=None)
        raise
    logger.info("wave %s: %d digest e-mails sent", wave_id, sent)
    return sent
