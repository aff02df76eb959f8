"""The answer form for employees: ``/s/<token>/`` → ``/s/`` → ``/s/thanks/``.

The e-mailed link carries the token in its path. Its first view moves the token into a
short-lived HttpOnly cookie (path ``/s/``) and redirects to the clean ``/s/``, so the token
leaves the address bar, the history and any Referer. Nothing here consumes a token on GET:
mail scanners open links before people do. The form posts to ``/s/`` and calls the same
service as the API.

Answering in two tabs: the first submission forgets the token (it can never work again) and
leaves instead a short-lived "answered" marker in its place, so the second tab's submission,
which now arrives without the token, is told "you have already answered" rather than "open
your link". The marker lives only in that browser: an HMAC, under SECRET_KEY, of the form key
of the link that was answered (so only that form is recognised, never a form whose cookie
simply expired) and the language to answer in. The server keeps nothing of it, so it leaves
no trace of who answered anywhere Pulse stores data.

CSRF: every survey page is ``Referrer-Policy: no-referrer``, under which browsers send
``Origin: null`` with a form's POST and, over HTTPS, no Referer, both of which Django's CSRF
middleware must refuse. So the form carries its own CSRF token instead: ``form_key``, an HMAC
(under SECRET_KEY) of the survey token. Only a page that could read the form (which takes
the HttpOnly survey cookie) knows it, and no other site can compute it; besides, the cookie
is SameSite=Lax, so a cross-site POST doesn't carry the survey token at all.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from ..emails import closing_time_display, organisation_name
from ..intake import (
    AnswersInvalid,
    QuestionSpec,
    TokenProblem,
    TokenUnknown,
    TokenUsed,
    invitation_for_token,
    invitation_language,
    question_text_translated,
    response_record,
    survey_questions,
)
from ..models import Invitation, Question
from ..ratelimit import token_failure_record

COOKIE_NAME = "pulse_survey"
ANSWERED_COOKIE_NAME = "pulse_answered"
_ANSWERED_SALT = "pulse.surveys.answered"
_DIGITS = re.compile(r"-?[0-9]{1,3}")
COOKIE_PATH = "/s/"
ANSWER_PREFIX = "answer-"
FORM_KEY_FIELD = "form_key"

LIKERT_LABELS = {
    1: _("Strongly disagree"),
    2: _("Disagree"),
    3: _("Neither agree nor disagree"),
    4: _("Agree"),
    5: _("Strongly agree"),
}
NPS_ENDS = (
    pgettext_lazy("0 on a 0-10 scale", "Not at all likely"),
    pgettext_lazy("10 on a 0-10 scale", "Extremely likely"),
)


def survey_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Headers for every survey page: no Referer leaves it, no cache keeps it."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        add_never_cache_headers(response)
        return response

    return wrapped


@require_safe
@survey_page
def survey_link(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: park the token in a cookie and go to the clean URL.

    Only a link that can still be answered gets the cookie: an unknown one is answered (and
    counted) as such, a used or closed one is told so right here, and whatever cookie the
    browser already holds (another survey's link, say) is left alone.
    """
    try:
        invitation_for_token(token=token)
    except TokenProblem as problem:
        return _refused_page(request, problem, forget=False)
    response = redirect("survey-form")
    _survey_cookie_set(response, COOKIE_NAME, token)
    return response


def _survey_cookie_set(response: HttpResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=settings.SURVEY_COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        secure=settings.PULSE_HTTPS,
        httponly=True,
        samesite="Lax",
    )


def form_key(token: str) -> str:
    """The survey form's CSRF token, bound to the survey link (see the module docstring)."""
    return salted_hmac("pulse.surveys.survey_form", token).hexdigest()


@csrf_exempt  # checked by form_key instead; see the module docstring
@require_http_methods(["GET", "HEAD", "POST"])
@survey_page
def survey_form(request: HttpRequest) -> HttpResponse:
    token = request.COOKIES.get(COOKIE_NAME, "")
    if not token:
        return _tokenless_page(request)
    try:
        invitation = invitation_for_token(token=token)
    except TokenProblem as problem:
        return _refused_page(request, problem)
    if request.method == "POST":
        # The token names the employee: whatever this says, it says in their language.
        with translation.override(invitation_language(invitation)):
            try:
                request.POST  # noqa: B018 - parse it now: Django refuses a body too large or with too many fields
            except (RequestDataTooBig, TooManyFieldsSent):
                return _employee_problem_page(request, invitation, "too_large", status=400)
            if not constant_time_compare(request.POST.get(FORM_KEY_FIELD, ""), form_key(token)):
                return _employee_problem_page(request, invitation, "stale_form", status=403)
        return _survey_submit(request, token, invitation)
    return _form_page(request, invitation, token=token)


def _tokenless_page(request: HttpRequest) -> HttpResponse:
    """``/s/`` without a token: already answered from this browser (another tab), or no link yet."""
    language = _answered_language(request)
    if language is None:
        return _problem_page(request, "missing", status=404)
    with translation.override(language):
        response = _problem_page(request, "used", status=409)
    response.headers["Content-Language"] = language
    return response


def _answered_mark(*, language: str, key: str) -> str:
    return salted_hmac(_ANSWERED_SALT, f"{language}:{key}", algorithm="sha256").hexdigest()


def _answered_marker(*, language: str, token: str) -> str:
    """What the browser keeps after answering: the language and a mark of the answered form."""
    return f"{language}:{_answered_mark(language=language, key=form_key(token))}"


def _answered_language(request: HttpRequest) -> str | None:
    """The language of the answer this browser sent, if the request comes from that very form.

    A GET (a reload of the answered form's tab) has no form to compare: the marker alone says
    this browser answered and holds no newer link. A POST must carry the answered link's form
    key, so a form whose cookie merely expired is still told to open its link again.
    """
    language, _, mark = request.COOKIES.get(ANSWERED_COOKIE_NAME, "").partition(":")
    if language not in dict(settings.LANGUAGES) or not mark:
        return None
    if request.method == "POST":
        try:
            key = request.POST.get(FORM_KEY_FIELD, "")
        except (RequestDataTooBig, TooManyFieldsSent):
            return None
        return language if constant_time_compare(mark, _answered_mark(language=language, key=key)) else None
    # A GET has no form key to check the mark against, so the marker is taken at its word: the
    # worst a forged one does is show its maker this page.
    return language


@require_safe
@survey_page
def survey_thanks(request: HttpRequest) -> HttpResponse:
    # The language comes along in the redirect: the token (and with it the employee) is gone.
    language = request.GET.get("lang", "")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language()
    with translation.override(language):
        response = render(request, "surveys/thanks.html")
    response.headers["Content-Language"] = language
    return response


def _survey_submit(request: HttpRequest, token: str, invitation: Invitation) -> HttpResponse:
    # The service looks the token up again: it must decide on its own, and the HTML form is
    # not the hot path (the API is).
    answers, comment = _submitted(request.POST)
    if "comment" in _undecodable_fields(request) or (
        request.content_type == "multipart/form-data" and "\ufffd" in comment
    ):
        # Django reads bytes that aren't UTF-8 as U+FFFD and moves on; storing that would keep
        # something other than what was typed. Give it back, marked, with the answers kept.
        errors = {
            "comment": _(
                "Your comment contained characters that could not be read (they are shown as \ufffd). "
                "Please check your comment and send the form again."
            )
        }
        return _form_page(request, invitation, token=token, chosen=answers, comment=comment, errors=errors, status=400)
    try:
        response_record(token=token, answers=answers, comment=comment)
    except TokenProblem as problem:  # answered or closed in the meantime
        return _refused_page(request, problem)
    except AnswersInvalid as invalid:
        errors = dict(invalid.errors)
        if "\x00" in comment:
            # Pasted text can carry a NUL, which can't be stored. Give the comment back without
            # it, with the rest of the answers as they were chosen, and say what happened.
            comment = comment.replace("\x00", "")
            errors["comment"] = _(
                "Your comment contained an invisible character (U+0000) that can't be saved. "
                "It has been removed: please check your comment and send the form again."
            )
        return _form_page(request, invitation, token=token, chosen=answers, comment=comment, errors=errors, status=400)
    language = invitation_language(invitation)
    response = redirect(f"{reverse('survey-thanks')}?{urlencode({'lang': language})}")
    _forget_token(response)
    # Another tab of this form, sent after this one, is then told it was answered (module docstring).
    _survey_cookie_set(response, ANSWERED_COOKIE_NAME, _answered_marker(language=language, token=token))
    return response


def _undecodable_fields(request: HttpRequest) -> set[str]:
    """Fields of a form body whose bytes are not UTF-8 (a lone surrogate, a stray 0xFF).

    For a urlencoded body (what the form sends) the raw bytes tell; a multipart body, which only
    a hand-made request sends, is judged by the U+FFFD Django put in their place.
    """
    if request.content_type != "application/x-www-form-urlencoded":
        return set()
    last: dict[str, bool] = {}  # a field sent twice counts by its last value, as the form reads it
    # latin-1 maps every byte to one character, so the fields come out as their raw bytes.
    for key, value in parse_qsl(request.body.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        name = key.encode("latin-1").decode("utf-8", errors="replace")
        try:
            key.encode("latin-1").decode("utf-8")
            value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            last[name] = False
        else:
            last[name] = True
    return {name for name, readable in last.items() if not readable}


def _submitted(post: QueryDict) -> tuple[dict[str, Any], str]:
    """Answers from the form: skipped questions are absent; a non-number stays as typed, for the service to refuse."""
    answers: dict[str, Any] = {}
    for key, raw in post.items():
        if not key.startswith(ANSWER_PREFIX) or raw == "":
            continue
        # The form's radio buttons send plain ASCII digits; int() would also take " 3", "+3" or "٣".
        answers[key.removeprefix(ANSWER_PREFIX)] = int(raw) if _DIGITS.fullmatch(raw) else raw
    return answers, post.get("comment", "")


def _form_page(
    request: HttpRequest,
    invitation: Invitation,
    *,
    token: str,
    chosen: dict[str, Any] | None = None,
    comment: str = "",
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    wave = invitation.wave
    language = invitation_language(invitation)
    errors = errors or {}
    answer_errors = errors.get("answers") if isinstance(errors.get("answers"), dict) else {}
    with translation.override(language), timezone.override(_zone(invitation.employee.timezone)):
        specs = list(survey_questions(survey_id=wave.survey_id).values())
        questions = [
            _question_context(q, number=n, chosen=(chosen or {}).get(q.code), error=answer_errors.get(q.code))
            for n, q in enumerate(specs, start=1)
        ]
        context = {
            "organisation": organisation_name(invitation.team),
            "survey_name": wave.survey.name,
            "question_count": len(questions),
            "questions": questions,
            "comment_enabled": wave.survey.comment_enabled,
            "comment": comment,
            "comment_error": errors.get("comment"),
            "errors": _error_summary(errors, questions),
            "closes": closing_time_display(wave.closes_at, invitation.employee.timezone),
            "min_respondents": wave.min_respondents,
            "min_comment_respondents": wave.min_comment_respondents,
            "form_key": form_key(token),
        }
        response = render(request, "surveys/form.html", context, status=status)
    response.headers["Content-Language"] = language
    return response


def _question_context(question: QuestionSpec, *, number: int, chosen: Any, error: Any) -> dict[str, Any]:
    nps = question.scale == Question.Scale.NPS11
    points = []
    for value in range(question.min, question.max + 1):
        describedby = ""
        if nps and value == question.min:
            describedby = f"{question.code}-low"
        elif nps and value == question.max:
            describedby = f"{question.code}-high"
        points.append(
            {
                "value": value,
                "id": f"{question.code}-{value}",
                "label": str(value) if nps else LIKERT_LABELS.get(value, str(value)),
                "checked": chosen == value,
                "describedby": describedby,
            }
        )
    return {
        "number": number,
        "code": question.code,
        "text": question_text_translated(question),
        "scale": question.scale,
        "points": points,
        "ends": NPS_ENDS if nps else None,
        "error": error,
    }


def _error_summary(errors: dict[str, Any], questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One linked line per problem, for the summary at the top of the form."""
    first = questions[0]["points"][0]["id"] if questions else ""
    summary = []
    general = errors.get("answers")
    if general is not None and not isinstance(general, dict):
        summary.append({"target": first, "question": "", "message": general})
    elif isinstance(general, dict) and set(general) - {question["code"] for question in questions}:
        # Only an altered form can answer a question this survey doesn't have.
        message = _("The form sent answers to questions this survey doesn't have. Please check and send it again.")
        summary.append({"target": first, "question": "", "message": message})
    for question in questions:
        if question["error"]:
            target = question["points"][0]["id"]
            summary.append({"target": target, "question": question["text"], "message": question["error"]})
    if errors.get("comment"):
        summary.append({"target": "comment", "question": "", "message": errors["comment"]})
    return summary


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _refused_page(request: HttpRequest, problem: TokenProblem, *, forget: bool = True) -> HttpResponse:
    if problem.language is not None:
        # The token is known: the page is in its employee's language, whatever the browser says.
        with translation.override(problem.language):
            response = _refused_page_in_language(request, problem)
        response.headers["Content-Language"] = problem.language
    else:
        response = _refused_page_in_language(request, problem)
    if forget:
        _forget_token(response)  # it will never work again
    return response


def _refused_page_in_language(request: HttpRequest, problem: TokenProblem) -> HttpResponse:
    if isinstance(problem, TokenUnknown):
        # Only a failed look-up consults (and feeds) the throttle; valid links never do.
        retry_after = token_failure_record(request=request)
        if retry_after is not None:
            response = _problem_page(request, "rate_limited", status=429, retry_after=retry_after)
            response.headers["Retry-After"] = str(retry_after)
        else:
            response = _problem_page(request, "unknown", status=404)
    elif isinstance(problem, TokenUsed):
        response = _problem_page(request, "used", status=409)
    else:
        response = _problem_page(request, "expired", status=410)
    return response


def _employee_problem_page(request: HttpRequest, invitation: Invitation, state: str, *, status: int) -> HttpResponse:
    """A problem page for a known invitation: in its employee's language, whatever the browser asks."""
    language = invitation_language(invitation)
    with translation.override(language):
        response = _problem_page(request, state, status=status)
    response.headers["Content-Language"] = language
    return response


def _problem_page(request: HttpRequest, state: str, *, status: int, retry_after: int = 0) -> HttpResponse:
    context = {"state": state, "retry_minutes": max(1, -(-retry_after // 60))}
    return render(request, "surveys/link_problem.html", context, status=status)


def _forget_token(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")
