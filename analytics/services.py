"""The analysis, end to end: rollups, the gate's release, then trends and risk over all waves."""

from __future__ import annotations

import logging

from django.utils import timezone

from surveys import selectors as surveys

from .anonymity import wave_release
from .digests import wave_digests_enqueue, waves_digests_due
from .models import WaveAnalysis
from .rollups import wave_rollup

logger = logging.getLogger(__name__)


def wave_analyse(*, wave_id: int) -> bool:
    """Analyse one sealed wave: roll it up, release it (once), then refresh trends and risk, and
    ask for its digest e-mails (sent once, after the commit).

    Safe to run twice and in any order with other waves: each step checks what is done.
    Returns False (doing nothing) for a wave that is not sealed yet.
    """
    if surveys.sealed_wave_tables(wave_id=wave_id) is None:
        logger.info("wave %s is not sealed: nothing to analyse", wave_id)
        return False
    rolled_up = wave_rollup(wave_id=wave_id)
    released = wave_release(wave_id=wave_id)
    if not (rolled_up or released) and WaveAnalysis.objects.filter(wave_id=wave_id, analysed_at__isnull=False).exists():
        wave_digests_enqueue(wave_id=wave_id)  # a no-op if the first run's task sent them
        return True  # already analysed (the close's task and close_wave both ask)
    analysis_refresh()
    WaveAnalysis.objects.filter(wave_id=wave_id).update(analysed_at=timezone.now())
    wave_digests_enqueue(wave_id=wave_id)
    return True


def waves_analyse(*, wave_id: int | None = None) -> int:
    """``manage.py analyse``: every sealed wave not yet rolled up or released (or one), then trends and risk."""
    waves = [wave_id] if wave_id is not None else list(surveys.waves_sealed().values_list("pk", flat=True))
    for pk in waves:
        wave_rollup(wave_id=pk)
        wave_release(wave_id=pk)
    analysis_refresh()
    WaveAnalysis.objects.filter(wave_id__in=waves).update(analysed_at=timezone.now())
    for pk in waves_digests_due():  # a digest task lost with its broker
        wave_digests_enqueue(wave_id=pk)
    return len(waves)


def analysis_refresh() -> None:
    """Trends and risk over every released wave (they look across waves, so they are recomputed whole)."""
    from . import risk, trends  # imported here: both are heavy (numpy, scipy) and optional at import time

    trends.trends_refresh()
    risk.risks_refresh()
