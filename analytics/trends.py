"""Trends per team × dimension over released points (filled in by the trends work)."""

from __future__ import annotations


def trends_refresh() -> int:
    return 0
