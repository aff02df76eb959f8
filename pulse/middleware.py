"""Project-wide middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from surveys.selectors import user_reading_locale


class UserLanguageMiddleware:
    """A logged-in manager or HR person reads the pages in their own language (the ``locale`` of
    their employee row, the one their digest e-mails use), not their browser's.

    After ``LocaleMiddleware`` and ``AuthenticationMiddleware``. Two exceptions keep what
    ``LocaleMiddleware`` chose: a language picked through Django's ``set_language`` (``/i18n/``,
    remembered in the language cookie), and the API, whose callers ask with ``Accept-Language``
    whatever their way of logging in. Employee pages (the survey links) set the invitation's
    language themselves, as before.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = self._user_language(request)
        if not language:
            return self.get_response(request)
        chosen = translation.get_language()
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.activate(chosen)  # as LocaleMiddleware left it: nothing leaks past the request
        response.headers["Content-Language"] = language
        return response

    @staticmethod
    def _user_language(request: HttpRequest) -> str:
        # Without a session cookie nobody is logged in: no query (the survey pages count theirs).
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return ""
        if request.path.startswith("/api/") or _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")):
            return ""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return ""
        return _supported(translation.to_language(user_reading_locale(user)))


def _supported(language: str) -> str:
    """The supported language closest to ``language`` ("de-AT" → "de"), else ""."""
    if not language:
        return ""
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return ""
