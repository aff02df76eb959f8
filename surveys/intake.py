"""Answer intake: look up a survey token and record an anonymous submission, exactly once.

The HTML form (web/survey_views.py) and the API (web/api_survey.py) both call these services.

Recording marks the invitation answered and stores the submission — the answers and the
comment as one fixed-size sealed box (surveys/crypto.py), never in plaintext — atomically,
starting with a conditional UPDATE of the invitation's ``responded`` flag: its row count decides
which of several concurrent submissions with the same token wins, and its wave check takes FOR
SHARE on the wave row, so a submission and ``wave_close`` (which locks the wave row FOR UPDATE
before sealing) serialise: an answer either lands before the wave is sealed, or is refused as
expired. Nothing carries a time. The seal at close is the only writer of plaintext answers.

Intake is benchmarked against a one-row insert, so it keeps round trips and Python work
down: one SELECT for the invitation (plain SQL), the survey's questions from a per-process
cache and the checks in Python, then on PostgreSQL ONE statement for all the writing (on
SQLite a short transaction). The answers are checked here, never in SQL: a statement's
parameters show up in pg_stat_activity and statement logs, and the pattern of questions
someone answered would link their sealed answers back to them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import get_supported_language_variant, gettext, to_language
from django.utils.translation import gettext_lazy as _

from .crypto import COMMENT_MAX_CHARACTERS, MAX_ANSWERS, Ballot, ballot_encrypt
from .models import Employee, Invitation, Question, Submission, Survey, SurveyQuestion, Wave
from .tokens import token_hash, token_is_well_formed

COMMENT_MAX_LENGTH = COMMENT_MAX_CHARACTERS
# Other processes (the admin in another gunicorn worker) can't clear this process's cache, so
# entries also age out: an edited survey is picked up everywhere within a minute.
QUESTIONS_CACHE_TTL = 60.0


class TokenProblem(Exception):
    """A token that can't be answered. Never carries the token itself (exceptions get logged).

    ``language`` is the invited employee's, where the token is known: the page or message that
    says so is in their language.
    """

    def __init__(self, *, language: str | None = None) -> None:
        super().__init__(type(self).__name__)
        self.language = language


class TokenUnknown(TokenProblem):
    """Malformed, or no invitation has it."""


class TokenExpired(TokenProblem):
    """The wave is closed or past its closing time."""


class TokenUsed(TokenProblem):
    """The invitation has been answered already."""


class AnswersInvalid(Exception):
    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid answers")
        self.errors = errors


@dataclass(frozen=True)
class QuestionSpec:
    id: int
    code: str
    text: str  # English source; shown through gettext in the employee's language
    dimension: str
    scale: str
    min: int
    max: int
    reverse_scored: bool


def invitation_for_token(*, token: str) -> Invitation:
    """The open, unanswered invitation a token belongs to, with its wave, survey, employee and team.

    Looking a token up never consumes it: mail scanners open links before people do.
    """
    if not token_is_well_formed(token):
        raise TokenUnknown
    try:
        invitations = Invitation.objects.select_related("wave__survey", "employee", "team")
        invitation = invitations.get(token_hash=token_hash(token))
    except Invitation.DoesNotExist:
        raise TokenUnknown from None
    _refuse_unless_answerable(
        responded=invitation.responded,
        accepting=_wave_accepts_answers(invitation.wave),
        locale=invitation.employee.locale,
    )
    return invitation


def question_text_translated(question: QuestionSpec) -> str:
    """The question's text in the active language: the bank's own questions are in the
    catalogue (locale/), HR's own come back as written."""
    return gettext(question.text) if question.text else ""  # gettext("") is the catalogue header


def invitation_language(invitation: Invitation) -> str:
    """The invited employee's language if Pulse speaks it (``de_DE`` → ``de``), else the default."""
    return locale_language(invitation.employee.locale)


def locale_language(locale: str | None) -> str:
    try:
        return get_supported_language_variant(to_language(locale or ""))
    except LookupError:
        return settings.LANGUAGE_CODE


def response_record(*, token: str, answers: Mapping[str, Any], comment: str = "") -> None:
    """Record one anonymous response for the token's invitation and mark it answered.

    Raises TokenUnknown / TokenUsed / TokenExpired, or AnswersInvalid with an error per bad
    field; on any refusal nothing is written.
    """
    # What was answered never reaches the database in a readable form, not even as a
    # statement's parameters (which pg_stat_activity and a statement log show): the answers
    # are checked here, and only the sealed box goes in.
    if connection.vendor == "postgresql" and _record_in_one_round_trip(token=token, answers=answers, comment=comment):
        return
    # The general path: look the token up, check the answers against its survey, write. On
    # PostgreSQL it also finds out, and says, why the one-round-trip attempt recorded nothing.
    target = _target_for_token(token)
    questions = survey_questions(survey_id=target.survey_id)
    values, comment = _answers_validated(
        answers=answers, comment=comment, questions=questions, comment_enabled=target.comment_enabled
    )
    rows = [(questions[code].id, value) for code, value in values.items()]
    if not _response_store(target=target, answers=rows, comment=comment):
        # Lost a race with another submission of this token or with the wave closing.
        raise _token_problem_now(target=target)


def _record_in_one_round_trip(*, token: str, answers: Mapping[str, Any], comment: Any) -> bool:
    """PostgreSQL: record a plainly valid submission in ONE statement, or record nothing.

    Only when every open wave asks the same survey (the usual case: one pulse survey), so that
    the answers can be checked here before the token is even looked up, against that survey;
    the statement then finds the invitation by its token's hash and writes only if its wave is
    open and asks that survey. Which path a submission takes depends on what is open, never on
    what it answered. False means nothing was written and the general path decides.
    """
    survey = the_one_open_survey()
    if survey is None or not token_is_well_formed(token):
        return False
    survey_id, comment_enabled = survey
    questions = survey_questions(survey_id=survey_id)
    try:
        values, comment = _answers_validated(
            answers=answers, comment=comment, questions=questions, comment_enabled=comment_enabled
        )
    except AnswersInvalid:
        return False
    key, box = ballot_encrypt(Ballot(answers=tuple((questions[c].id, v) for c, v in values.items()), comment=comment))
    quote = connection.ops.quote_name
    invitation, wave, submission = (quote(model._meta.db_table) for model in (Invitation, Wave, Submission))
    # Only identifiers from the models go into the string; every value is a parameter, and none
    # of them says anything of the answers.
    sql = (
        f"WITH consumed AS (UPDATE {invitation} SET responded = true "  # noqa: S608
        f"WHERE token_hash = %s AND NOT responded AND EXISTS (SELECT 1 FROM {wave} "
        f"WHERE id = {invitation}.wave_id AND status <> %s AND closes_at > %s AND survey_id = %s FOR SHARE) "
        "RETURNING wave_id, team_id) "
        f"INSERT INTO {submission} (id, wave_id, team_id, key, box) "
        "SELECT gen_random_uuid(), wave_id, team_id, %s, %s FROM consumed"
    )
    params = [token_hash(token), Wave.Status.CLOSED.value, timezone.now(), survey_id, key, box]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def the_one_open_survey() -> tuple[int, bool] | None:
    """(survey id, comment box) when every wave that is not closed asks that one survey, else
    None; from a per-process cache. A wave launched elsewhere with another survey is caught by
    the one-statement path's own check (its statement records nothing) until the cache ages out."""
    now = time.monotonic()
    if _open_survey_cache and now - _open_survey_cache[0] < QUESTIONS_CACHE_TTL:
        return _open_survey_cache[1]
    surveys = list(
        Survey.objects.filter(waves__in=Wave.objects.exclude(status=Wave.Status.CLOSED))
        .distinct()
        .values_list("pk", "comment_enabled")[:2]
    )
    found = surveys[0] if len(surveys) == 1 else None
    _open_survey_cache[:] = [now, found]
    return found


def survey_questions(*, survey_id: int) -> dict[str, QuestionSpec]:
    """The survey's active questions by code, in survey order, from a per-process cache."""
    now = time.monotonic()
    cached = _questions_cache.get(survey_id)
    if cached is not None and now - cached[0] < QUESTIONS_CACHE_TTL:
        return cached[1]
    items = (
        SurveyQuestion.objects.filter(survey_id=survey_id, question__active=True)
        .select_related("question")
        .order_by("position", "id")
    )
    questions = {item.question.code: _question_spec(item.question) for item in items}
    _questions_cache[survey_id] = (now, questions)
    return questions


def survey_questions_cache_clear() -> None:
    _questions_cache.clear()
    _open_survey_cache.clear()


@dataclass(frozen=True)
class _Target:
    """What recording needs to know about an invitation, read in one query without models."""

    invitation_id: uuid.UUID
    wave_id: int
    team_id: int
    survey_id: int
    comment_enabled: bool
    locale: str


def _target_for_token(token: str) -> _Target:
    """The invitation's state in one query, in plain SQL: the ORM's query building costs more
    than the query itself on this hot path, and no model instance is needed."""
    if not token_is_well_formed(token):
        raise TokenUnknown
    quote = connection.ops.quote_name
    invitation, wave, survey, employee = (quote(model._meta.db_table) for model in (Invitation, Wave, Survey, Employee))
    # Only identifiers from the models go into the string; every value is a parameter.
    sql = (
        "SELECT i.id, i.responded, (w.status <> %s AND w.closes_at > %s), "  # noqa: S608
        "i.wave_id, i.team_id, w.survey_id, s.comment_enabled, e.locale "
        f"FROM {invitation} i JOIN {wave} w ON w.id = i.wave_id JOIN {survey} s ON s.id = w.survey_id "
        f"JOIN {employee} e ON e.id = i.employee_id "
        "WHERE i.token_hash = %s"
    )
    params = [Wave.Status.CLOSED.value, connection.ops.adapt_datetimefield_value(timezone.now()), token_hash(token)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise TokenUnknown
    pk, responded, accepting, wave_id, team_id, survey_id, comment_enabled, locale = row
    _refuse_unless_answerable(responded=bool(responded), accepting=bool(accepting), locale=locale)
    # SQLite hands back the uuid as hex text, PostgreSQL as a UUID.
    return _Target(uuid.UUID(str(pk)), wave_id, team_id, survey_id, bool(comment_enabled), locale)


def _refuse_unless_answerable(*, responded: bool, accepting: bool, locale: str | None) -> None:
    # Closed wins over answered: once a wave is over, every link of it says so, used or not,
    # so a link (in someone's mail, say) never tells whether its owner answered.
    if not accepting:
        raise TokenExpired(language=locale_language(locale))
    if responded:
        raise TokenUsed(language=locale_language(locale))


def _wave_accepts_answers(wave: Wave) -> bool:
    return wave.status != Wave.Status.CLOSED and timezone.now() < wave.closes_at


def _question_spec(question: Question) -> QuestionSpec:
    return QuestionSpec(
        id=question.pk,
        code=question.code,
        text=question.text,
        dimension=question.dimension,
        scale=question.scale,
        min=question.min_value,
        max=question.max_value,
        reverse_scored=question.reverse_scored,
    )


def _answers_validated(
    *, answers: Mapping[str, Any], comment: str, questions: dict[str, QuestionSpec], comment_enabled: bool
) -> tuple[dict[str, int], str]:
    errors: dict[str, Any] = {}
    values: dict[str, int] = {}
    if not isinstance(answers, Mapping):
        errors["answers"] = _("must be an object mapping question codes to integers")
    elif not answers:
        errors["answers"] = _("answer at least one question")
    elif len(answers) > MAX_ANSWERS:
        errors["answers"] = format_lazy(_("at most {limit} answers"), limit=MAX_ANSWERS)
    else:
        answer_errors = {}
        for code, value in answers.items():
            question = questions.get(code)
            if question is None:
                # Named as sent, but always printable: a lone surrogate can't go into the reply.
                answer_errors[text_printable(code)] = _("unknown question")
            # bool is an int in Python, but `true` is not an answer on any scale.
            elif isinstance(value, bool) or not isinstance(value, int) or not question.min <= value <= question.max:
                answer_errors[code] = format_lazy(
                    _("must be an integer from {low} to {high}"), low=question.min, high=question.max
                )
            else:
                values[code] = value
        if answer_errors:
            errors["answers"] = answer_errors
    if not isinstance(comment, str):
        errors["comment"] = _("must be text")
    elif (problem := text_problem(comment)) is not None:
        errors["comment"] = problem
    else:
        comment = comment.strip()  # whitespace alone is no comment
        if comment and not comment_enabled:
            errors["comment"] = _("this survey has no comment box")
        elif len(comment) > COMMENT_MAX_LENGTH:
            errors["comment"] = format_lazy(_("must be at most {limit} characters"), limit=COMMENT_MAX_LENGTH)
    if errors:
        raise AnswersInvalid(errors)
    return values, comment


def text_problem(text: str) -> Any:
    """Why ``text`` can't be stored as it is (PostgreSQL refuses NUL; UTF-8 has no lone
    surrogates, which JSON's ``\\ud800`` can produce), or None."""
    if "\x00" in text:
        return _("must not contain the NUL character (U+0000)")
    if not _is_unicode(text):
        return _("must be valid Unicode text (it contains a lone surrogate)")
    return None


def text_printable(text: Any) -> str:
    """``text`` as something any reply can carry: lone surrogates written as ``\\udXXX`` escapes."""
    text = str(text)
    return text if _is_unicode(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _response_store(*, target: _Target, answers: list[tuple[int, int]], comment: str) -> bool:
    """Mark the invitation answered and store the sealed submission, atomically; False if we lost.

    We lose if the invitation was answered meanwhile (by a concurrent submission of the same
    token) or its wave has closed. Then nothing is written.
    """
    key, box = ballot_encrypt(Ballot(answers=tuple(answers), comment=comment))
    if connection.vendor == "postgresql":
        return _submission_store_in_one_statement(target=target, key=key, box=box)
    with transaction.atomic():
        if not _invitation_consume(target=target):
            return False
        # No employee, invitation or time here, and nothing readable: the wave, the team at
        # launch (where the seal starts attributing) and the sealed box (DESIGN.md, Anonymity 1).
        Submission.objects.create(wave_id=target.wave_id, team_id=target.team_id, key=key, box=box)
    return True


def _submission_store_in_one_statement(*, target: _Target, key: str, box: bytes) -> bool:
    """PostgreSQL: the same as the transaction in _response_store, as ONE statement.

    The hot path of intake, benchmarked against a one-row insert: a single statement is its
    own transaction, so this costs one round trip where BEGIN, UPDATE, INSERT and COMMIT cost
    four. The UPDATE of ``consumed`` decides who won exactly as in _invitation_consume (the row
    lock serialises concurrent submissions; FOR SHARE on the wave row serialises with
    wave_close); the INSERT reads from it, so it inserts nothing when it matched no row.
    The submission's id is drawn by the database (``gen_random_uuid()``, a version 4 UUID).
    Its parameters are the invitation, its wave, the time and the sealed box: nothing of what
    was answered.
    """
    quote = connection.ops.quote_name
    invitation, wave, submission = (quote(model._meta.db_table) for model in (Invitation, Wave, Submission))
    params = [target.invitation_id, target.wave_id, Wave.Status.CLOSED.value, timezone.now(), key, box]
    # Only identifiers from the models go into the string; every value is a parameter.
    sql = (
        f"WITH consumed AS (UPDATE {invitation} SET responded = true "  # noqa: S608
        f"WHERE id = %s AND NOT responded AND EXISTS (SELECT 1 FROM {wave} "
        "WHERE id = %s AND status <> %s AND closes_at > %s FOR SHARE) "
        "RETURNING wave_id, team_id) "
        f"INSERT INTO {submission} (id, wave_id, team_id, key, box) "
        "SELECT gen_random_uuid(), wave_id, team_id, %s, %s FROM consumed"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _invitation_consume(*, target: _Target) -> bool:
    """Mark the invitation answered if it isn't yet and its wave is still open; True if we won.

    One statement. The row count serialises concurrent submissions of one token. The wave
    check takes FOR SHARE on the wave row where the database has row locks, which waits for a
    ``wave_close`` holding it FOR UPDATE and then re-reads the row (so a wave closed
    meanwhile counts as closed). SQLite has no row locks; its transactions (BEGIN IMMEDIATE,
    see settings) are serialised whole instead. Raw SQL because the ORM has no FOR SHARE.
    """
    quote = connection.ops.quote_name
    lock = " FOR SHARE" if connection.features.has_select_for_update else ""
    # Only identifiers from the models go into the string; every value is a parameter.
    sql = (
        f"UPDATE {quote(Invitation._meta.db_table)} SET {quote('responded')} = %s "  # noqa: S608
        f"WHERE {quote('id')} = %s AND {quote('responded')} = %s AND EXISTS ("
        f"SELECT 1 FROM {quote(Wave._meta.db_table)} WHERE {quote('id')} = %s "
        f"AND {quote('status')} <> %s AND {quote('closes_at')} > %s{lock})"
    )
    params = [
        True,
        Invitation._meta.pk.get_db_prep_value(target.invitation_id, connection),
        False,
        target.wave_id,
        Wave.Status.CLOSED.value,
        Wave._meta.get_field("closes_at").get_db_prep_value(timezone.now(), connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _token_problem_now(*, target: _Target) -> TokenProblem:
    """Why a consume just failed: answered meanwhile (409) or the wave closed (410)."""
    row = (
        Invitation.objects.filter(pk=target.invitation_id)
        .values_list("responded", "wave__status", "wave__closes_at")
        .first()
    )
    if row is None:
        return TokenUnknown()
    responded, status, closes_at = row
    accepting = status != Wave.Status.CLOSED and timezone.now() < closes_at
    try:
        _refuse_unless_answerable(responded=responded, accepting=accepting, locale=target.locale)
    except TokenProblem as problem:
        return problem
    return TokenExpired(language=locale_language(target.locale))  # not reached: the consume lost for a reason


# survey id -> (monotonic time cached, questions by code). Plain dict operations are atomic
# under the GIL; a race between two threads at worst loads the same questions twice.
_questions_cache: dict[int, tuple[float, dict[str, QuestionSpec]]] = {}
# [monotonic time cached, (survey id, comment box) or None]; see the_one_open_survey.
_open_survey_cache: list[Any] = []


@receiver(post_save, sender=Question, dispatch_uid="intake-questions-question-saved")
@receiver(post_delete, sender=Question, dispatch_uid="intake-questions-question-deleted")
@receiver(post_save, sender=SurveyQuestion, dispatch_uid="intake-questions-item-saved")
@receiver(post_delete, sender=SurveyQuestion, dispatch_uid="intake-questions-item-deleted")
@receiver(post_save, sender=Survey, dispatch_uid="intake-questions-survey-saved")
@receiver(post_delete, sender=Survey, dispatch_uid="intake-questions-survey-deleted")
@receiver(m2m_changed, sender=Survey.questions.through, dispatch_uid="intake-questions-m2m")
@receiver(post_save, sender=Wave, dispatch_uid="intake-questions-wave-saved")
def _questions_changed(**kwargs: Any) -> None:
    # Edits in this process (the admin) take effect at once; other processes wait out the TTL.
    survey_questions_cache_clear()
