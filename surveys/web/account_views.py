"""Logging in and out, password reset by e-mail, "set your password", and the lockout page.

Django's auth views, with Pulse's forms: the reset e-mail is sent by surveys/accounts.py (the
project's e-mail conventions, links on PULSE_BASE_URL rather than on the request's Host header),
and the reset page says the same thing whether or not the address has a login.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from .. import accounts


class LoginForm(auth_forms.AuthenticationForm):
    def clean_username(self) -> str:
        # Usernames are the lower-case e-mail (surveys/roles.py), and people type it as they like;
        # an administrator made with createsuperuser may have any username, kept as it is.
        username = self.cleaned_data["username"].strip()
        if username != username.lower() and not get_user_model().objects.filter(username=username).exists():
            return username.lower()
        return username


class PasswordResetForm(auth_forms.PasswordResetForm):
    def save(self, **_options: Any) -> None:  # type: ignore[override]
        accounts.password_reset_send(email=self.cleaned_data["email"])


class LoginView(auth_views.LoginView):
    form_class = LoginForm


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    success_url = reverse_lazy("password_reset_done")


class _SetPasswordView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form: forms.Form) -> HttpResponse:
        response = super().form_valid(form)
        # Whoever can read the mailbox could reset anyway; don't keep them waiting out a lockout.
        accounts.login_lockout_clear(request=self.request, username=form.user.get_username())
        return response


class PasswordResetConfirmView(_SetPasswordView):
    success_url = reverse_lazy("password_reset_complete")


class PasswordSetupConfirmView(_SetPasswordView):
    token_generator = accounts.password_setup_token_generator
    template_name = "registration/password_setup_confirm.html"
    success_url = reverse_lazy("password_setup_complete")


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): a page that says what happened."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": seconds // 60, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
