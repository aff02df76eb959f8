"""Throttle guessing of survey tokens: failed look-ups per client address, fixed window.

Only FAILED look-ups (unknown or malformed tokens) are counted, and only after the look-up
has failed: a valid token never consults the counter. So a whole office behind one NAT
address answers freely while someone guessing from that same address gets 429s.

The client address is ``REMOTE_ADDR``. Behind a reverse proxy that is the proxy's address,
which then throttles everyone's *failures* together (valid links keep working); trusting
``X-Forwarded-For`` would need a list of trusted proxies, which Pulse doesn't have yet.
IPv6 clients are counted per /64, since one host usually holds a whole /64.

The counter lives in the Django cache (Redis when REDIS_URL is set, so all web processes
share it; per-process LocMem otherwise). ``cache.add`` + ``cache.incr`` are atomic in Redis.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str:
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def token_failure_record(*, request: HttpRequest) -> int | None:
    """Count one failed token look-up from the request's client address.

    Returns the seconds until the window ends (for ``Retry-After``) when this failure is
    beyond the allowed number, else None.
    """
    window = settings.PULSE_TOKEN_FAILURE_WINDOW
    now = time.time()
    # The window index is part of the key, so a window ends by itself (no TTL bookkeeping)
    # and the seconds left are known without storing when it started.
    window_index = int(now // window)
    key = f"token-failures:{window_index}:{client_address(request)}"
    try:
        cache.add(key, 0, timeout=window + 1)
        failures = cache.incr(key)
    except ValueError:
        # The key expired between add and incr (the window's last instant): count afresh.
        cache.set(key, 1, timeout=window + 1)
        failures = 1
    except Exception:
        # A cache outage must not turn "unknown link" into a server error; guessing a
        # 256-bit token stays hopeless without the throttle for a while.
        logger.warning("token failure counter unavailable; not throttling", exc_info=True)
        return None
    if failures <= settings.PULSE_TOKEN_FAILURES_PER_WINDOW:
        return None
    return max(1, math.ceil((window_index + 1) * window - now))
