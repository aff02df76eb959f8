"""The e-mails Pulse sends: one function per e-mail (CONVENTIONS.md 9).

Each renders ``email/<name>_subject.txt``, ``email/<name>_body.txt`` and
``email/<name>_body.html`` in the employee's language and time zone. The token is an argument
rather than something read from the invitation, because only its hash is stored; it goes into
the body's link and nowhere else (no header, no log line). The same holds for the account
e-mails' links (password reset, "set your password"), built by surveys/accounts.py.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format, time_format
from django.utils.html import escape
from django.utils.translation import ngettext, pgettext

from .models import Employee, Invitation, Team
from .tokens import survey_link

# A pulse item is a single tap on a scale; about 15 seconds each, read and answered.
SECONDS_PER_QUESTION = 15


def invitation_email(*, invitation: Invitation, token: str) -> EmailMultiAlternatives:
    return _survey_email("invitation", invitation=invitation, token=token)


def reminder_email(*, invitation: Invitation, token: str) -> EmailMultiAlternatives:
    return _survey_email("reminder", invitation=invitation, token=token)


def _survey_email(name: str, *, invitation: Invitation, token: str) -> EmailMultiAlternatives:
    employee, wave = invitation.employee, invitation.wave
    shared = _SharedContext(
        email=name,
        language=employee_language(employee.locale),
        organisation=organisation_name(invitation.team),
        survey_name=wave.survey.name,
        # ``.all()`` rather than ``.count()`` so that dispatch's prefetch serves a whole batch.
        question_count=len(wave.survey.items.all()),
        closes_at=wave.closes_at,
        zone=employee.timezone,
        min_respondents=wave.min_respondents,
    )
    link = survey_link(token)
    subject, text, html = _render(shared)
    message = EmailMultiAlternatives(
        subject=_personalise(subject, name=employee.name, link=link),
        body=_personalise(text, name=employee.name, link=link),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[employee.email],
        # Lets an operator trace a bounce to its wave; deliberately nothing about the person
        # and never the token.
        headers={"X-Pulse-Wave": str(invitation.wave_id)},
    )
    message.attach_alternative(_personalise(html, name=escape(employee.name), link=escape(link)), "text/html")
    return message


def password_reset_email(*, user: AbstractBaseUser, link: str) -> EmailMultiAlternatives:
    return _account_email("password_reset", user=user, link=link)


def password_setup_email(*, user: AbstractBaseUser, link: str) -> EmailMultiAlternatives:
    return _account_email("password_setup", user=user, link=link)


def _account_email(name: str, *, user: AbstractBaseUser, link: str) -> EmailMultiAlternatives:
    """An e-mail about a manager's or HR person's login, in their language when Pulse knows it."""
    employee = Employee.objects.select_related("team").filter(user=user).first()
    language = employee_language(employee.locale) if employee else translation.get_language()
    with translation.override(language):
        context = {
            "name": employee.name if employee else user.get_username(),
            "organisation": organisation_name(employee.team) if employee else "",
            "username": user.get_username(),
            "link": link,
            "login_url": settings.PULSE_BASE_URL + reverse("login"),
            "valid_for": link_validity_display(settings.PASSWORD_RESET_TIMEOUT),
        }
        message = EmailMultiAlternatives(
            subject=_render_subject(f"email/{name}_subject.txt", context),
            body=render_to_string(f"email/{name}_body.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
        )
        message.attach_alternative(render_to_string(f"email/{name}_body.html", context), "text/html")
    return message


def link_validity_display(seconds: int) -> str:
    """How long a link works, in whole days, or hours below two days ("3 days", "12 hours")."""
    if seconds >= 2 * 86400:
        days = seconds // 86400
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    hours = max(1, seconds // 3600)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


class _SharedContext(NamedTuple):
    """Everything an e-mail says that is the same for many recipients of a wave."""

    email: str
    language: str
    organisation: str
    survey_name: str
    question_count: int
    closes_at: datetime
    zone: str
    min_respondents: int


# Rendering the three templates is most of the cost of an e-mail, and a wave sends thousands
# that differ only in the name and the link. So each distinct shared context is rendered once
# per process with stand-ins (private-use characters, which no template or escaping alters),
# and each message only swaps in its own name and link.
_NAME = "\ue000name\ue000"
_LINK = "\ue000link\ue000"


@lru_cache(maxsize=256)
def _render(shared: _SharedContext) -> tuple[str, str, str]:
    with translation.override(shared.language):
        context = {
            "name": _NAME,
            "link": _LINK,
            "organisation": shared.organisation,
            "survey_name": shared.survey_name,
            "minutes": estimated_minutes(shared.question_count),
            "question_count": shared.question_count,
            "closes": closing_time_display(shared.closes_at, shared.zone),
            "min_respondents": shared.min_respondents,
        }
        return (
            _render_subject(f"email/{shared.email}_subject.txt", context),
            render_to_string(f"email/{shared.email}_body.txt", context),
            render_to_string(f"email/{shared.email}_body.html", context),
        )


def _personalise(rendered: str, *, name: str, link: str) -> str:
    return rendered.replace(_NAME, name).replace(_LINK, link)


def employee_language(locale: str) -> str:
    """The supported language closest to the employee's locale (``de_AT`` → ``de``), else the default."""
    try:
        return translation.get_supported_language_variant(translation.to_language(locale or settings.LANGUAGE_CODE))
    except LookupError:
        return settings.LANGUAGE_CODE


def organisation_name(team: Team) -> str:
    """The root of the employee's team tree is the organisation (``Acme/Engineering`` → ``Acme``)."""
    return team.path.split("/", 1)[0]


def estimated_minutes(question_count: int) -> int:
    return max(1, math.ceil(question_count * SECONDS_PER_QUESTION / 60))


def closing_time_display(closes_at: datetime, zone_name: str) -> str:
    """E.g. "Friday, March 14, 2025, 6 p.m. JST (Asia/Tokyo)" in the active language, or
    "Friday, March 13, 2026, end of day HST (Pacific/Honolulu)" at midnight.

    The abbreviation alone is ambiguous (CST) or missing (+04) for many zones, so the zone's
    name follows it. An unknown zone (never imported, but old data) shows UTC rather than failing.
    """
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = closes_at.astimezone(zone)
    if local.time() == time(0):
        # Waves close at the end of a day: shown as that day's end, not the next one's 00:00.
        local = local - timedelta(days=1)
        clock = pgettext("a closing time: the end of the day named before it", "end of day")
    else:
        clock = time_format(local, "TIME_FORMAT")
    day = date_format(local, "l")
    date = date_format(local, "DATE_FORMAT")
    abbreviation = local.tzname()
    if abbreviation == zone.key:  # UTC
        return f"{day}, {date}, {clock} {abbreviation}"
    return f"{day}, {date}, {clock} {abbreviation} ({zone.key})"


def _render_subject(template_name: str, context: dict[str, Any]) -> str:
    # A header must be one line; templates end with a newline and may wrap.
    return " ".join(render_to_string(template_name, context).split())
