"""Formatting of released values; a hidden value prints as its reason, never as a number.

Numbers are written the reader's way ("2.91" in English, "2,91" in German) and percentages as
"46 %", like the churn-risk reasons and the digest e-mails. ``number_format`` cuts digits off
rather than rounding, so a value is rounded first (``decimal``)."""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal
from html import escape

from django import template
from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext

register = template.Library()


def decimal(value: float, places: int) -> str:
    """``value`` rounded to ``places`` decimals, in the active language: 2.909 → "2.91" / "2,91"."""
    return formats.number_format(Decimal(f"{value:.{places}f}"), places)


@register.filter
def share(value: float | None) -> str:
    """0.734 → "73 %"."""
    return "" if value is None else f"{formats.number_format(round(value * 100), 0)} %"


@register.filter
def score(value: float | None) -> str:
    """A mean on the question scale: 2.909 → "2.91" ("2,91" in German)."""
    return "" if value is None else decimal(value, 2)


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
    return f"{sign}{decimal(abs(value), 2)}"


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


@register.simple_tag
def dimension_rows(summary) -> SafeString:
    """The rows of a dimension's table on the team page (``DimensionSummary``), one per wave.

    Built here rather than in the template: a page has a table per dimension and a row per wave,
    and the template language spends far longer on each of those hundreds of cells than this.
    Escaped like ``{% hidden %}`` and the template would.
    """
    composite = summary.dimension == "composite"
    language, hidden_text = get_language(), escape(gettext("hidden"))
    rows = []
    for p in summary.points:
        if p.mean.suppressed:
            why = escape(p.mean.reason or "")
            cells = (
                f'<td colspan="{1 if composite else 2}"><span class="hidden-value">{hidden_text}'
                f'<span class="why">{why}</span></span></td>'
            )
        elif composite:
            cells = f'<td class="num">{share(p.favorable.value)}</td>'
        else:
            cells = f'<td class="num">{score(p.mean.value)}</td><td class="num">{share(p.favorable.value)}</td>'
        answers = "" if p.respondents is None else _localized(p.respondents, language)
        rows.append(
            f'<tr><th scope="row">{_localized(p.opens_on, language)}</th>{cells}<td class="num">{answers}</td></tr>'
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - reasons and dates escaped above, the rest are numbers


@functools.lru_cache(maxsize=4096)
def _localized(value: date | int, language: str) -> str:
    """A date or a count as the template prints it (the page prints each wave's date many times)."""
    return escape(str(formats.localize(value)))
