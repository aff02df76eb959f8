from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views

# "sent/" and "done/" are one path segment, so "<uidb64>/<token>/" never takes them.
urlpatterns = [
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path(
        "password-reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-setup/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_setup_complete.html"),
        name="password_setup_complete",
    ),
    path(
        "password-setup/<uidb64>/<token>/",
        account_views.PasswordSetupConfirmView.as_view(),
        name="password_setup_confirm",
    ),
]
