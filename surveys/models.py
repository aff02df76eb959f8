"""The write side's data: the organisation, the question bank, schedules, waves,
invitations (the outbox), submissions (ciphertext, while a wave is open) and the anonymous
responses the seal writes at close.

Responses, answers and comments are unlinkable by construction (DESIGN.md, Anonymity 1):
only the seal writes them, once, in random order, with random uuid4 keys, no employee, no
invitation, no timestamp; comments are not even tied to a response, so a comment's wording can
never be joined to its author's scores.
"""

from __future__ import annotations

import uuid
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

TEAM_PATH_SEPARATOR = "/"


class Team(models.Model):
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    # Materialised path ("Acme/Engineering/ML Platform"): the team's identity in CSV files and
    # the API, and a cheap subtree query (path = p OR path LIKE 'p/%'). Kept by services.
    path = models.CharField(_("path"), max_length=1000, unique=True, editable=False)

    class Meta:
        ordering = ["path"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="team_unique_name_per_parent"),
            models.UniqueConstraint(fields=["name"], condition=Q(parent__isnull=True), name="team_unique_root_name"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def depth(self) -> int:
        return self.path.count(TEAM_PATH_SEPARATOR)

    def subtree_q(self, prefix: str = "") -> Q:
        """A filter matching this team and every team below it, on a ``Team`` lookup prefix."""
        return Q(**{f"{prefix}path": self.path}) | Q(**{f"{prefix}path__startswith": self.path + TEAM_PATH_SEPARATOR})


class Employee(models.Model):
    class Role(models.TextChoices):
        EMPLOYEE = "employee", _("Employee")
        MANAGER = "manager", _("Manager")
        HR = "hr", _("HR")

    class LeftReason(models.TextChoices):
        VOLUNTARY = "voluntary", _("Voluntary")
        INVOLUNTARY = "involuntary", _("Involuntary")

    email = models.EmailField(_("e-mail"), unique=True)  # stored lower-case
    name = models.CharField(_("name"), max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="members", verbose_name=_("team"))
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    locale = models.CharField(_("language"), max_length=16, default="en")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.EMPLOYEE)
    manages = models.ManyToManyField(Team, blank=True, related_name="managers", verbose_name=_("manages"))
    active = models.BooleanField(_("active"), default=True)
    left_on = models.DateField(_("left on"), null=True, blank=True)
    left_reason = models.CharField(_("reason for leaving"), max_length=16, choices=LeftReason.choices, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="employee"
    )

    class Meta:
        ordering = ["email"]
        verbose_name = _("employee")
        verbose_name_plural = _("employees")
        indexes = [models.Index(fields=["team", "active"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Question(models.Model):
    class Dimension(models.TextChoices):
        WORKLOAD = "workload", _("Workload")
        GROWTH = "growth", _("Growth")
        CONNECTION = "connection", _("Connection")
        BURNOUT = "burnout", _("Burnout")
        INTENT_TO_STAY = "intent_to_stay", _("Intent to stay")
        ENPS = "enps", _("eNPS")
        MANAGER_SUPPORT = "manager_support", _("Manager support")
        WORK_LIFE_BALANCE = "work_life_balance", _("Work-life balance")
        MISSION = "mission", _("Mission")

    class Scale(models.TextChoices):
        LIKERT5 = "likert5", _("Agreement, 1 to 5")
        NPS11 = "nps11", _("Likelihood, 0 to 10")

    SCALE_RANGE = {Scale.LIKERT5: (1, 5), Scale.NPS11: (0, 10)}

    code = models.SlugField(_("code"), max_length=64, unique=True)
    dimension = models.CharField(_("dimension"), max_length=32, choices=Dimension.choices)
    # English source text; shown through gettext, so the bank's own questions appear in the
    # employee's language (locale/*/LC_MESSAGES/django.po) and custom ones as written.
    text = models.TextField(_("text"))
    scale = models.CharField(_("scale"), max_length=16, choices=Scale.choices, default=Scale.LIKERT5)
    reverse_scored = models.BooleanField(
        _("reverse scored"), default=False, help_text=_("Agreeing is the unhealthy answer (e.g. exhaustion).")
    )
    optional = models.BooleanField(
        _("optional"), default=False, help_text=_("Part of the bank, but not of the default survey.")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["dimension", "code"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self) -> str:
        return self.code

    @property
    def min_value(self) -> int:
        return self.SCALE_RANGE[self.scale][0]

    @property
    def max_value(self) -> int:
        return self.SCALE_RANGE[self.scale][1]


class Survey(models.Model):
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    comment_enabled = models.BooleanField(_("comment box"), default=True)
    questions = models.ManyToManyField(Question, through="SurveyQuestion", related_name="surveys")

    class Meta:
        ordering = ["slug"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")

    def __str__(self) -> str:
        return self.name


class SurveyQuestion(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="items")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["survey", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["survey", "question"], name="survey_question_once")]


class Schedule(models.Model):
    class Cadence(models.TextChoices):
        WEEKLY = "weekly", _("Weekly")
        BIWEEKLY = "biweekly", _("Every two weeks")
        MONTHLY = "monthly", _("Monthly (first chosen weekday)")

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    name = models.CharField(_("name"), max_length=200)
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="schedules")
    teams = models.ManyToManyField(
        Team,
        blank=True,
        related_name="schedules",
        verbose_name=_("audience"),
        help_text=_("Team subtrees to invite; none means the whole organisation."),
    )
    cadence = models.CharField(_("cadence"), max_length=16, choices=Cadence.choices, default=Cadence.BIWEEKLY)
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices, default=Weekday.TUESDAY)
    send_time = models.TimeField(_("local send time"), default=time(10, 0))
    days_open = models.PositiveSmallIntegerField(_("days open"), default=5)
    remind_after_days = models.PositiveSmallIntegerField(
        _("remind after (days)"),
        null=True,
        blank=True,
        default=3,
        help_text=_("Remind those who have not answered; empty for no reminder."),
    )
    starts_on = models.DateField(_("first possible date"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")

    def __str__(self) -> str:
        return self.name


class Wave(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="waves")
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="waves")
    teams = models.ManyToManyField(Team, blank=True, related_name="+", verbose_name=_("audience"))
    opens_on = models.DateField(_("opens on"))
    closes_at = models.DateTimeField(_("closes at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    send_time = models.TimeField(_("local send time"), default=time(10, 0))
    remind_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Frozen when the wave is created: a threshold can't be lowered for a running wave
    # (DESIGN.md, Anonymity 6).
    min_respondents = models.PositiveSmallIntegerField()
    min_comment_respondents = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sealed = models.BooleanField(default=False)
    # Answers the seal did not keep because fewer than k answered the whole wave: they could
    # never be shown, and so few could be told apart. Participation still counts them.
    responses_discarded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opens_on", "-id"]
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "opens_on"], condition=Q(schedule__isnull=False), name="wave_once_per_schedule_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey.slug} {self.opens_on:%Y-%m-%d} (#{self.pk})"


class Invitation(models.Model):
    """One employee's invitation to one wave, and the outbox row for its e-mails."""

    class SendStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="invitations")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="invitations")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")  # at launch time
    token_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256; never the token
    send_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=SendStatus.choices, default=SendStatus.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminder_status = models.CharField(max_length=16, choices=SendStatus.choices, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # A claimed row is leased to one batch (``claim``), which renews the lease while it sends; a
    # lease that runs out (worker killed) makes the row claimable again, so nothing is lost.
    claim = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    responded = models.BooleanField(default=False)  # deliberately no time

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [models.UniqueConstraint(fields=["wave", "employee"], name="invitation_once_per_wave")]
        indexes = [
            models.Index(fields=["status", "send_at"], name="invitation_due"),
            models.Index(fields=["reminder_status", "remind_at"], name="invitation_reminder_due"),
        ]

    def __str__(self) -> str:
        return f"wave {self.wave_id} → {self.employee_id}"


class Submission(models.Model):
    """One person's answers while their wave is open: ciphertext only (surveys/crypto.py).

    Written by intake in the transaction that marks the invitation answered; opened, turned
    into responses and deleted by the seal at close. The box is sealed to the seal key's public
    half and always the same size; the team is the respondent's team at launch (as on the
    invitation), where the seal starts attributing the response.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="submissions")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=16)  # id of the seal key the box is sealed to
    box = models.BinaryField()


class WaveTeam(models.Model):
    """The team tree as it was when the wave was sealed: later moves and renames change no past wave."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="frozen_teams")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=1000)
    # How many of the team's own members were invited (not counting sub-teams), and the group
    # their answers were attributed to (itself, an ancestor, or None: the wave as a whole). A
    # team whose group is not itself holds no results of its own for the wave; the analysis
    # reads this instead of re-deriving it, which would need per-team answer counts.
    invited = models.PositiveIntegerField(default=0)
    group = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wave", "team"], name="wave_team_once")]


class WaveParticipation(models.Model):
    """Invited and responded per group the seal attributed responses to (``team`` None: the
    wave as a whole). Kept instead of the invitations' ``responded`` marks, which the seal clears."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="participation")
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    invited = models.PositiveIntegerField()
    responded = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["wave", "team"], condition=Q(team__isnull=False), name="wave_participation_once_per_group"
            ),
            models.UniqueConstraint(
                fields=["wave"], condition=Q(team__isnull=True), name="wave_participation_once_for_the_wave"
            ),
        ]


class Response(models.Model):
    """A sealed response: written once, by the seal, in random order with a fresh id.

    ``team`` is the group the seal attributed it to: the respondent's own team, an ancestor
    when that team had fewer than k responses, or none (the wave as a whole).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, on_delete=models.PROTECT, related_name="responses")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")


class Answer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (response, question) index below starts with it.
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers", db_index=False)
    # Written only by the seal, from ids of the wave's own survey questions that still exist;
    # PROTECT still refuses, in Django, to delete a question that has answers.
    question = models.ForeignKey(
        Question, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    value = models.SmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "question"], name="answer_once_per_question")]


class Comment(models.Model):
    """A sealed comment, in the same group as the response it came with but not tied to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, on_delete=models.PROTECT, related_name="comments")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
