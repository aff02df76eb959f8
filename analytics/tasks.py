"""Celery tasks of the read side."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


# Enqueued by name ("analytics.wave_closed") by surveys.waves.wave_close after a wave is
# closed and sealed, so the write side never imports analytics. For now it only records the
# request; the analytics issue fills in the rollups, trends and risk for the wave.
@shared_task(name="analytics.wave_closed")
def wave_closed_task(wave_id: int) -> None:
    logger.info("analysis requested for wave %s", wave_id)
