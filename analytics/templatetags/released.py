"""Formatting of released values; a hidden value prints as its reason, never as a number."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext

register = template.Library()


@register.filter
def share(value: float | None) -> str:
    """0.734 → "73%"."""
    return "" if value is None else f"{round(value * 100):d}%"


@register.filter
def score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@register.filter
def signed(value: float | None, kind: str = "score") -> str:
    """A change: +0.30 on a scale, or +4 pts for a share."""
    if value is None:
        return ""
    if kind == "share":
        points = round(value * 100)
        return gettext("%(sign)s%(n)d pts") % {
            "sign": "+" if points > 0 else ("−" if points < 0 else "±"),
            "n": abs(points),
        }
    sign = "+" if value > 0.005 else ("−" if value < -0.005 else "±")
    return f"{sign}{abs(value):.2f}"


@register.simple_tag
def hidden(reason: str | None) -> str:
    """The mark of a suppressed value, its reason readable by everyone (not only on hover)."""
    return format_html(
        '<span class="hidden-value">{}<span class="why">{}</span></span>', gettext("hidden"), reason or ""
    )


@register.filter
def heat(value: float | None) -> str:
    """The CSS class of a heatmap cell for a favourable share: a 6-step colour-blind-safe scale."""
    if value is None:
        return "heat-none"
    return f"heat-{min(5, int(value * 6))}"
