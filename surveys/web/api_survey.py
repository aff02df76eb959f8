"""The two public survey endpoints (DESIGN.md, Public API): read an invitation, record a response.

Anyone holding a token may call them: no session, no CSRF (the token is the credential).
Both call the same services as the HTML form (surveys/intake.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.utils import translation
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..intake import (
    COMMENT_MAX_LENGTH,
    AnswersInvalid,
    TokenProblem,
    TokenUnknown,
    TokenUsed,
    invitation_for_token,
    invitation_language,
    question_text_translated,
    response_record,
    survey_questions,
)
from ..ratelimit import token_failure_record
from ..tokens import token_is_well_formed
from .api import DetailSerializer


class InvitationQuestionSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField(help_text="In the employee's language where a translation exists.")
    dimension = serializers.CharField()
    scale = serializers.CharField(help_text="`likert5` (1..5) or `nps11` (0..10).")
    min = serializers.IntegerField()
    max = serializers.IntegerField()
    reverse_scored = serializers.BooleanField()


class InvitationSerializer(serializers.Serializer):
    survey = serializers.CharField(help_text="The survey's slug.")
    closes_at = serializers.DateTimeField()
    language = serializers.CharField(help_text="The employee's language, in which `text` is given.")
    questions = InvitationQuestionSerializer(many=True)
    comment_enabled = serializers.BooleanField()


# The answers and the comment pass through as sent: the service checks them against the
# survey's questions and reports every bad field at once, in the same words for the form.
@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1})
class AnswersField(serializers.Field):
    def to_internal_value(self, data: Any) -> Any:
        return data


@extend_schema_field({"type": "string", "maxLength": COMMENT_MAX_LENGTH})
class CommentField(serializers.Field):
    def to_internal_value(self, data: Any) -> Any:
        return data


class TokenField(serializers.CharField):
    """A token is a string: 5 or true is a malformed request (400), not a failed link guess."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ResponseSubmitSerializer(serializers.Serializer):
    token = TokenField(trim_whitespace=False)
    answers = AnswersField(
        write_only=True,
        help_text="Question code → integer on the question's scale. Skip a question by leaving it out; "
        "at least one answer is required.",
    )
    comment = CommentField(
        write_only=True,
        required=False,
        help_text="Only when the survey has a comment box; blank means none. Never linked to the answers.",
    )


class RecordedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["recorded"])


class ProblemSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["unknown", "used", "expired", "rate_limited"])
    detail = serializers.CharField()


_TOKEN_PROBLEM_RESPONSES = {
    404: OpenApiResponse(ProblemSerializer, description="Unknown or malformed token."),
    409: OpenApiResponse(ProblemSerializer, description="Already answered."),
    410: OpenApiResponse(ProblemSerializer, description="The wave is closed or past its closing time."),
    429: OpenApiResponse(
        ProblemSerializer, description="Too many failed token look-ups from this address; see `Retry-After`."
    ),
}
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until failed look-ups are accepted again.",
)


# A submission is a token, at most a hundred small answers and a comment of at most 2,000
# characters: even with every character escaped (\uXXXX) that is well under this.
SUBMISSION_MAX_BYTES = 64 * 1024
INTEGER_MAX_DIGITS = 20


class SubmissionJSONParser(JSONParser):
    """JSON of a bounded size and depth: anything else is a 400 naming the problem, never a 500.

    DRF's own parser reads a body of any size and lets the decoder's RecursionError (a
    50,000-deep array) escape; this one reads at most SUBMISSION_MAX_BYTES and turns every
    decoding failure into a ParseError.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read(SUBMISSION_MAX_BYTES + 1) if stream is not None else b""
        if len(raw) > SUBMISSION_MAX_BYTES:
            raise ParseError(f"The body is larger than {SUBMISSION_MAX_BYTES} bytes.")
        try:
            return json.loads(raw.decode("utf-8"), parse_int=_small_int)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as exc:  # bad UTF-8, bad JSON, an integer of thousands of digits
            raise ParseError(f"JSON parse error - {exc}") from None


def _small_int(digits: str) -> int:
    # No answer has more than a few digits; Python's own limit (4,300) gives a confusing message.
    if len(digits.lstrip("-")) > INTEGER_MAX_DIGITS:
        raise ValueError(f"an integer of more than {INTEGER_MAX_DIGITS} digits")
    return int(digits)


class _JsonOnly(DefaultContentNegotiation):
    """Both endpoints answer in JSON only: skip parsing the client's Accept header on every
    request (the body's Content-Type is still checked: anything but JSON gets 415)."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class InvitationApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JsonOnly

    @extend_schema(
        operation_id="invitation_retrieve",
        summary="The survey behind a token",
        description="Reading never uses the token up. Question texts are in the employee's language.",
        responses={200: InvitationSerializer, **_TOKEN_PROBLEM_RESPONSES},
        parameters=[_RETRY_AFTER],
    )
    def get(self, request: Request, token: str) -> Response:
        try:
            invitation = invitation_for_token(token=token)
        except TokenProblem as problem:
            return _refused(request, problem)
        wave = invitation.wave
        language = invitation_language(invitation)
        with translation.override(language):
            questions = [
                {
                    "code": q.code,
                    "text": question_text_translated(q),
                    "dimension": q.dimension,
                    "scale": q.scale,
                    "min": q.min,
                    "max": q.max,
                    "reverse_scored": q.reverse_scored,
                }
                for q in survey_questions(survey_id=wave.survey_id).values()
            ]
        data = {
            "survey": wave.survey.slug,
            "closes_at": wave.closes_at,
            "language": language,
            "questions": questions,
            "comment_enabled": wave.survey.comment_enabled,
        }
        return _private(Response(InvitationSerializer(data).data))


class ResponseApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [SubmissionJSONParser]  # answers are a JSON object; a form body could not carry them
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JsonOnly

    @extend_schema(
        operation_id="response_create",
        summary="Answer a survey",
        description=(
            "Records the answers anonymously and uses the token up, exactly once even under concurrent "
            'submissions. A 400 names each bad field, e.g. `{"answers": {"workload_1": "must be an '
            'integer from 1 to 5"}}`.'
        ),
        request=ResponseSubmitSerializer,
        responses={
            201: RecordedSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="One message per bad field; `answers` maps each bad question code to its message.",
                examples=[
                    OpenApiExample("bad answer", value={"answers": {"workload_1": "must be an integer from 1 to 5"}}),
                    OpenApiExample("no answers", value={"answers": "answer at least one question"}),
                ],
            ),
            **_TOKEN_PROBLEM_RESPONSES,
            415: OpenApiResponse(DetailSerializer, description="The body is not `application/json`."),
        },
        parameters=[_RETRY_AFTER],
    )
    def post(self, request: Request) -> Response:
        try:
            data = request.data
        except RequestDataTooBig:
            # Past Django's own ceiling (DATA_UPLOAD_MAX_MEMORY_SIZE) the body is refused before
            # the parser sees it; same answer as the parser's, and no error logged for it.
            return _private(Response({"detail": f"The body is larger than {SUBMISSION_MAX_BYTES} bytes."}, status=400))
        fields = _submission_plainly_valid(data)
        if fields is None:
            submission = ResponseSubmitSerializer(data=data)
            if not submission.is_valid():
                return _private(Response(_first_messages(submission.errors), status=status.HTTP_400_BAD_REQUEST))
            fields = submission.validated_data
        try:
            response_record(**fields)
        except TokenProblem as problem:
            return _refused(request, problem)
        except AnswersInvalid as invalid:
            return _private(Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST))
        return _private(Response({"status": "recorded"}, status=status.HTTP_201_CREATED))


def _submission_plainly_valid(data: Any) -> dict[str, Any] | None:
    """The submission's fields when the serializer would take them as they are, else None.

    Intake is the hot path (benchmarked against a one-row insert), and building the
    serializer costs more than this check. It only vouches for bodies the serializer plainly
    accepts unchanged: an object, a well-formed token (a string, so neither blank, null nor
    with characters the CharField refuses), answers and a comment that are not null. Anything
    else goes through the serializer, which names what is wrong in its own words.
    """
    if not isinstance(data, dict):
        return None
    token, answers = data.get("token"), data.get("answers")
    if not isinstance(token, str) or not token_is_well_formed(token) or answers is None:
        return None
    fields = {"token": token, "answers": answers}
    if "comment" in data:
        if data["comment"] is None:
            return None
        fields["comment"] = data["comment"]
    return fields


def _refused(request: Request, problem: TokenProblem) -> Response:
    if isinstance(problem, TokenUnknown):
        # Only here, after a failed look-up, is the failure counter touched.
        retry_after = token_failure_record(request=request)
        if retry_after is not None:
            response = _problem(
                status.HTTP_429_TOO_MANY_REQUESTS, "rate_limited", "Too many unknown links from this address."
            )
            response["Retry-After"] = str(retry_after)
            return response
        return _problem(status.HTTP_404_NOT_FOUND, "unknown", "This survey link is not known.")
    # The token is known: say it in the employee's language.
    with translation.override(problem.language):
        if isinstance(problem, TokenUsed):
            response = _problem(status.HTTP_409_CONFLICT, "used", gettext("This survey link has been used already."))
        else:
            response = _problem(status.HTTP_410_GONE, "expired", gettext("This survey has closed."))
    response["Content-Language"] = problem.language
    return response


def _problem(status_code: int, code: str, detail: str) -> Response:
    return _private(Response({"code": code, "detail": detail}, status=status_code))


# What add_never_cache_headers() writes, set directly: it would also compute an Expires date on
# every call, and intake is the hot path.
_NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _private(response: Response) -> Response:
    # Survey content and outcomes are one person's business: no shared or browser caching.
    response["Cache-Control"] = _NEVER_CACHE
    return response


def _first_messages(errors: dict) -> dict[str, str]:
    """DRF's ``{"field": ["message"]}`` as ``{"field": "message"}``, the shape the service uses."""
    return {field: str(messages[0]) if isinstance(messages, list) else messages for field, messages in errors.items()}
