"""The digest e-mails sent after a wave is analysed: one function per e-mail (CONVENTIONS.md 10).

Each renders ``email/<name>_subject.txt``, ``email/<name>_body.txt`` and
``email/<name>_body.html`` in the reader's language. Every number comes from the value objects
of analytics/selectors.py and is put into words here, by ``shown``: a suppressed value becomes
"hidden: <reason>", so an e-mail can't carry a value the dashboard hides.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext, pgettext

from surveys import selectors as surveys
from surveys.models import Question, Wave

from . import selectors
from .models import TeamRisk
from .selectors import COMPOSITE, Released


def digest_manager_email(*, user: AbstractBaseUser, wave: Wave) -> EmailMultiAlternatives | None:
    """The manager's digest of their teams in ``wave``; None when the wave surveyed none of them."""
    language = user_language(user)
    with translation.override(language):
        teams = selectors.wave_digest_teams(user=user, wave_id=wave.pk)
        if not teams:
            return None
        context = {**_wave_context(wave), "teams": [_team_context(team) for team in teams]}
        return _email("digest_manager", context, to=recipient_address(user), wave=wave, language=language)


def digest_hr_email(*, user: AbstractBaseUser, wave: Wave) -> EmailMultiAlternatives:
    """HR's digest of the organisation in ``wave``: participation, trend flags, the risk list."""
    language = user_language(user)
    with translation.override(language):
        org = selectors.wave_digest_org(user=user, wave_id=wave.pk)
        context = {
            **_wave_context(wave),
            "participation": _participation(org.invited, org.responded),
            "flagged": [
                {
                    "path": flag.path,
                    "link": team_link(flag.team),
                    "dimension": dimension_label(flag.dimension),
                    "direction": direction_label(flag.direction),
                    "p_value": p_value_text(flag.p_value),
                }
                for flag in org.flagged
            ],
            "risks": [_risk_context(flag) | {"path": flag.path, "link": team_link(flag.team)} for flag in org.risks],
        }
        return _email("digest_hr", context, to=recipient_address(user), wave=wave, language=language)


# --- putting released values into words ------------------------------------------------------


def shown(released: Released, kind: str) -> str:
    """A released value as the reader sees it, or why it is hidden. ``kind``: ``mean`` (2
    decimals), ``change`` (signed, 2 decimals), ``share`` (a percentage) or ``count``."""
    if released.suppressed:
        return gettext("hidden: %(reason)s") % {"reason": released.reason or gettext("not shown")}
    value = released.value
    # rounded first: Django's number_format cuts digits off (41.7 % would read 41 %)
    if kind == "share":
        return f"{number_format(round(value * 100), 0)} %"
    if kind == "count":
        return number_format(int(value), 0)
    text = number_format(round(value, 2), 2)
    if kind == "change" and value > 0:
        return f"+{text}"
    return text.replace("-", "−") if kind == "change" else text


def p_value_text(p_value: float | None) -> str:
    if p_value is None:
        return ""
    if p_value < 0.001:
        return "p < " + number_format(0.001, 3)
    return "p = " + number_format(round(p_value, 3), 3)


def dimension_label(dimension: str) -> str:
    if dimension == COMPOSITE:
        return gettext("Engagement index")
    try:
        return str(Question.Dimension(dimension).label)
    except ValueError:
        return dimension


def direction_label(direction: str) -> str:
    labels = {
        "declining": pgettext("trend", "declining"),
        "improving": pgettext("trend", "improving"),
        "stable": pgettext("trend", "stable"),
        "insufficient_data": pgettext("trend", "too few waves to tell"),
    }
    return labels.get(direction, direction)


def risk_label(level: str) -> str:
    try:
        return str(TeamRisk.Level(level).label)
    except ValueError:
        return level


def team_link(team_id: int) -> str:
    return f"{settings.PULSE_BASE_URL}/teams/{team_id}/"


def user_language(user: AbstractBaseUser) -> str:
    """The supported language closest to the reader's employee locale, else the default."""
    locale = surveys.user_locale(user) or settings.LANGUAGE_CODE
    try:
        return translation.get_supported_language_variant(translation.to_language(locale))
    except LookupError:
        return settings.LANGUAGE_CODE


def recipient_address(user: AbstractBaseUser) -> str:
    return user.email or user.get_username()  # imported logins: the username is the e-mail


# --- context ---------------------------------------------------------------------------------


def _wave_context(wave: Wave) -> dict[str, Any]:
    return {
        "survey_name": wave.survey.name,
        "opens_on": date_format(wave.opens_on, "DATE_FORMAT"),
        "min_respondents": wave.min_respondents,
        "base_url": settings.PULSE_BASE_URL,
    }


def _participation(invited: Released, responded: Released) -> dict[str, str]:
    if invited.suppressed or responded.suppressed:
        return {"hidden": shown(invited if invited.suppressed else responded, "count")}
    rate = Released(responded.value / invited.value) if invited.value else Released(None, gettext("nobody invited"))
    return {"invited": shown(invited, "count"), "responded": shown(responded, "count"), "rate": shown(rate, "share")}


def _team_context(team: selectors.TeamDigest) -> dict[str, Any]:
    result = team.result
    # no results of its own (its answers went upward, nobody answered): one line says why
    no_own = result.suppressed and all(d.mean.reason == result.reason for d in result.dimensions)
    return {
        "path": team.path,
        "link": team_link(team.team),
        "participation": _participation(result.invited, result.responded),
        "hidden": result.reason if no_own else "",
        "dimensions": []
        if no_own
        else [
            {
                "dimension": dimension_label(change.dimension),
                "now": shown(change.now, "mean"),
                "change": shown(change.change, "change") if change.before is not None else "",
                "direction": direction_label(change.trend.direction),
                "meaningful": change.trend.direction in selectors.MEANINGFUL,
                "p_value": p_value_text(change.trend.p_value),
            }
            for change in team.changes
        ],
        "risk": _risk_context(team.risk) if team.risk else None,
    }


def _risk_context(flag: selectors.RiskFlag) -> dict[str, Any]:
    return {"level": risk_label(flag.level), "reasons": list(flag.reasons)}


def _email(name: str, context: dict[str, Any], *, to: str, wave: Wave, language: str) -> EmailMultiAlternatives:
    subject = " ".join(render_to_string(f"email/{name}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email/{name}_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"X-Pulse-Wave": str(wave.pk), "Content-Language": language},
    )
    message.attach_alternative(render_to_string(f"email/{name}_body.html", context), "text/html")
    return message
