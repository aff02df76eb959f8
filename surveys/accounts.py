"""Logins of managers and HR: password reset, "set your password" e-mails, login lockouts.

Employees never log in; managers and HR get a Django user from the org import (surveys/roles.py)
with no usable password. Nobody is e-mailed silently on import: HR sends the "set your password"
e-mail when it suits them (``manage.py send_password_setup``, or the action on the people in the
admin), both through ``password_setup_send``.

Both e-mails carry a Django password-reset-style link (``<uidb64>/<token>/``): the token is an
HMAC over the user's password hash and last login, so it stops working once a password is set
(or the person logs in) and after ``PASSWORD_RESET_TIMEOUT``; nothing is stored. The links never
reach a log: they are built here, put into the e-mail, and the request lines that carry them are
redacted (surveys/logging.py).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.mail import get_connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext

from . import emails
from .ratelimit import client_address

logger = logging.getLogger(__name__)


class PasswordSetupTokenGenerator(PasswordResetTokenGenerator):
    """Tokens for the "set your password" page; a reset token does not open it, nor the reverse."""

    key_salt = "surveys.accounts.PasswordSetupTokenGenerator"


password_setup_token_generator = PasswordSetupTokenGenerator()


@dataclass(frozen=True)
class PasswordSetupReport:
    """What ``password_setup_send`` did: the addresses e-mailed, and the others with the reason."""

    sent: list[str]
    skipped: list[tuple[str, str]]

    def summary(self) -> str:
        return f"sent {len(self.sent)}, skipped {len(self.skipped)}"


def _link(name: str, *, user: AbstractBaseUser, token_generator: PasswordResetTokenGenerator) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = token_generator.make_token(user)
    return settings.PULSE_BASE_URL + reverse(name, kwargs={"uidb64": uidb64, "token": token})


def password_setup_link(*, user: AbstractBaseUser) -> str:
    return _link("password_setup_confirm", user=user, token_generator=password_setup_token_generator)


def password_reset_link(*, user: AbstractBaseUser) -> str:
    return _link("password_reset_confirm", user=user, token_generator=default_token_generator)


def users_without_password() -> QuerySet[AbstractBaseUser]:
    """Active logins that have never been given a password: the import's managers and HR."""
    return (
        get_user_model()
        .objects.filter(is_active=True, password__startswith=UNUSABLE_PASSWORD_PREFIX)
        .exclude(email="")
        .order_by("username")
    )


def _setup_skip_reason(user: AbstractBaseUser) -> str | None:
    if not user.is_active:
        return gettext("the login is deactivated (they left, or are no longer a manager or HR)")
    if user.has_usable_password():
        return gettext("they already have a password (“Forgot your password?” on the login page sends a new link)")
    if not user.email:
        return gettext("the login has no e-mail address")
    return None


def password_setup_send(*, users: Iterable[AbstractBaseUser]) -> PasswordSetupReport:
    """E-mail each user who has no password yet a link to set one, over one SMTP connection.

    A user who already has a password, or whose login is deactivated, gets nothing (and is
    reported with the reason). Sending again sends a new link; earlier ones keep working until
    a password is set or they expire.
    """
    sent: list[str] = []
    skipped: list[tuple[str, str]] = []
    messages = []
    for user in users:
        reason = _setup_skip_reason(user)
        if reason is not None:
            skipped.append((user.get_username(), reason))
            continue
        messages.append(emails.password_setup_email(user=user, link=password_setup_link(user=user)))
        sent.append(user.email)
    if messages:
        with get_connection() as connection:
            connection.send_messages(messages)
        logger.info("Sent %d password setup e-mails", len(messages))
    return PasswordSetupReport(sent=sent, skipped=skipped)


def _reset_recipients(email: str) -> list[AbstractBaseUser]:
    # Unlike Django's own reset form, a login that has no password yet counts too: in Pulse that
    # only means "not set yet", and an expired "set your password" link must have a way out.
    user_model = get_user_model()
    email_field = user_model.get_email_field_name()
    candidates = user_model.objects.filter(**{f"{email_field}__iexact": email, "is_active": True})
    return [user for user in candidates if getattr(user, email_field).casefold() == email.casefold()]


def password_reset_send(*, email: str) -> int:
    """E-mail a reset link to the active login(s) of ``email``; how many were sent.

    The caller must not tell the visitor the count: the reset page says the same thing whether
    or not the address has a login.
    """
    messages = [
        emails.password_reset_email(user=user, link=password_reset_link(user=user)) for user in _reset_recipients(email)
    ]
    if messages:
        with get_connection() as connection:
            connection.send_messages(messages)
    # Neither the address (anyone can type one) nor the link.
    logger.info("Password reset asked: %d e-mail(s) sent", len(messages))
    return len(messages)


def login_client_address(request: HttpRequest) -> str | None:
    """The client address that login failures count against: the survey-link throttle's, as an IP.

    An IPv6 client counts per /64 (one host usually holds a whole /64), written as the network's
    first address so that it fits an IP address column.
    """
    address = client_address(request).split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def login_lockout_clear(*, request: HttpRequest, username: str) -> int:
    """Forget the failed logins of ``username`` from this client (after they set a new password)."""
    return AxesProxyHandler.reset_attempts(ip_address=login_client_address(request), username=username)
