"""Celery tasks of the read side."""

from __future__ import annotations

from celery import shared_task

from .digests import WAVE_DIGESTS_TASK, wave_digests_send
from .services import wave_analyse, waves_analyse


# Enqueued by name ("analytics.wave_closed") by surveys.waves.wave_close after a wave is
# closed and sealed, so the write side never imports analytics. close_wave also runs it in
# its own process before returning, so results are readable when the command ends.
@shared_task(name="analytics.wave_closed")
def wave_closed_task(wave_id: int) -> bool:
    return wave_analyse(wave_id=wave_id)


# Nightly (beat): catches up a wave whose task was lost, and refreshes trends and risk.
@shared_task(name="analytics.analyse")
def analyse_task() -> int:
    return waves_analyse()


# Enqueued by the analysis of a wave (after the commit): the digest e-mails, sent at most once.
@shared_task(name=WAVE_DIGESTS_TASK)
def wave_digests_task(wave_id: int) -> int:
    return wave_digests_send(wave_id=wave_id)
