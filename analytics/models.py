"""The read side's data: rollups of sealed waves, the gate's published releases, trends and risk.

Rollups (``DimensionRollup``, ``QuestionRollup``) are the raw aggregates, oriented so that
higher is healthier, per team of the wave's frozen tree (its whole subtree) and for the wave
as a whole (``team`` None). Nobody reads them but the gate (analytics/anonymity.py).

Releases (``GroupRelease``, ``DimensionRelease``) are what the gate decided to publish, once
per wave, with the values copied in: every reader gets exactly these, and they are never
rewritten (two readers comparing notes must find the same numbers).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.models import Question, Team, Wave


def _one_per(name: str, *fields: str) -> list[models.UniqueConstraint]:
    """Unique per (wave, team, *fields), with team None (the wave as a whole) counted once too."""
    return [
        models.UniqueConstraint(fields=["wave", "team", *fields], condition=Q(team__isnull=False), name=f"{name}_team"),
        models.UniqueConstraint(fields=["wave", *fields], condition=Q(team__isnull=True), name=f"{name}_wave"),
    ]


class WaveAnalysis(models.Model):
    """Where the analysis of one sealed wave stands.

    ``rollup_version`` is the version of the rollup code that wrote the wave's rollups: a
    recompute by the same or an older version does nothing. ``released_at`` is set once, when
    the gate's decisions are published; they are never recomputed. ``digests_sent_at`` is set
    once, by whoever wins the conditional UPDATE that claims the wave's digest e-mails
    (analytics/digests.py), so they go out at most once however often the analysis runs.
    """

    wave = models.OneToOneField(Wave, on_delete=models.CASCADE, related_name="analysis")
    rollup_version = models.PositiveSmallIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True)
    released_at = models.DateTimeField(null=True)
    analysed_at = models.DateTimeField(null=True)
    digests_sent_at = models.DateTimeField(null=True)


class DimensionRollup(models.Model):
    """One team's subtree (or the whole wave) × one dimension: sums that compose up the tree.

    ``respondents`` answered at least one item of the dimension; a respondent's score is the
    mean of the items they answered, so ``score_sum / respondents`` is the dimension's mean.
    ``items`` counts item answers, ``favorable`` those that are favourable (4–5 after
    orientation, 9–10 on 0–10) and ``detractors`` those at 0–6 on a 0–10 scale (eNPS).
    """

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    dimension = models.CharField(max_length=32)
    respondents = models.PositiveIntegerField()
    score_sum = models.FloatField()
    score_sumsq = models.FloatField()
    items = models.PositiveIntegerField()
    favorable = models.PositiveIntegerField()
    detractors = models.PositiveIntegerField()

    class Meta:
        constraints = _one_per("dimension_rollup_once", "dimension")


class QuestionRollup(models.Model):
    """One team's subtree (or the whole wave) × one question, oriented (reverse-scored items flipped)."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    respondents = models.PositiveIntegerField()
    total = models.FloatField()
    total_sq = models.FloatField()
    favorable = models.PositiveIntegerField()
    # Counts per oriented value, lowest first: [count of min, ..., count of max].
    distribution = models.JSONField()

    class Meta:
        constraints = _one_per("question_rollup_once", "question")


class Suppression(models.TextChoices):
    """Why a value is not shown; the text a reader sees is built from the code (selectors)."""

    FEW_ANSWERS = "few_answers", _("fewer answers than the threshold")
    FEW_INVITED = "few_invited", _("fewer people invited than the threshold")
    COMPLEMENT = "complement", _("hidden so that a smaller group can't be worked out")
    AUDIT = "audit", _("hidden so that a smaller group can't be worked out")
    PINNED = "pinned", _("hidden: it would say what each member answered")
    UPWARD = "upward", _("answers counted with a larger group")
    PARTIAL = "partial", _("some sub-team's answers counted with a larger group")
    NO_ANSWERS = "no_answers", _("no answers")
    NOT_SURVEYED = "not_surveyed", _("not part of this wave")
    OPEN = "open", _("results appear when the wave closes")
    DISCARDED = "discarded", _("too few answered the whole wave")


class GroupRelease(models.Model):
    """The gate's published decision for one team (or the wave as a whole) in one wave.

    ``state``: ``results`` when the team's subtree holds all its members' answers (its own
    results can be shown), ``upward`` when some went to an ancestor (``group``: where), or
    ``none`` when nobody in it answered.
    """

    class State(models.TextChoices):
        RESULTS = "results"
        UPWARD = "upward"
        NONE = "none"

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=1000, blank=True)  # as frozen at the seal
    state = models.CharField(max_length=16, choices=State.choices)
    group = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    invited = models.PositiveIntegerField(null=True)
    responded = models.PositiveIntegerField(null=True)
    participation_reason = models.CharField(max_length=16, choices=Suppression.choices, blank=True)
    comments_released = models.BooleanField(default=False)
    comments_reason = models.CharField(max_length=16, choices=Suppression.choices, blank=True)

    class Meta:
        constraints = _one_per("group_release_once")


class DimensionRelease(models.Model):
    """The gate's published values for one team (or the wave) × dimension; nulls are suppressed."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+")
    dimension = models.CharField(max_length=32)
    respondents = models.PositiveIntegerField(null=True)
    mean = models.FloatField(null=True)
    favorable = models.FloatField(null=True)
    enps = models.FloatField(null=True)
    reason = models.CharField(max_length=16, choices=Suppression.choices, blank=True)

    class Meta:
        constraints = _one_per("dimension_release_once", "dimension")

    @property
    def suppressed(self) -> bool:
        return self.mean is None


class TeamTrend(models.Model):
    """The latest trend of one team × dimension (``composite``: the engagement index) over released points."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    dimension = models.CharField(max_length=32)
    direction = models.CharField(max_length=20)
    slope = models.FloatField(null=True)
    p_value = models.FloatField(null=True)
    q_value = models.FloatField(null=True)  # Benjamini–Hochberg across teams × dimensions, for lists
    points = models.PositiveSmallIntegerField(default=0)
    min_detectable = models.FloatField(null=True)
    shrunk = models.JSONField(default=dict)  # {wave id: display value shrunk toward the parent}
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "dimension"], name="team_trend_once")]


class TeamRisk(models.Model):
    """A team's churn risk as of its latest analysed wave."""

    class Level(models.TextChoices):
        HIGH = "high", _("high")
        ELEVATED = "elevated", _("elevated")
        LOW = "low", _("low")
        INSUFFICIENT = "insufficient_data", _("insufficient data")

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="+")
    wave = models.ForeignKey(Wave, null=True, on_delete=models.SET_NULL, related_name="+")
    level = models.CharField(max_length=20, choices=Level.choices)
    score = models.FloatField(null=True)
    # [{"code": ..., <the released numbers behind it>}] (analytics/risk.py reason_data), put into
    # words in the reader's language when read (reason_render); a plain string is shown as stored.
    reasons = models.JSONField(default=list)
    computed_at = models.DateTimeField()


class ExportAudit(models.Model):
    """One export of a report (DESIGN.md, Export: who, when, what), written before the first row.

    A streamed export learns its row count only at the end: ``rows`` and ``finished`` are set when
    the last row is out; an export that stopped early (the client went away, an error) keeps
    ``finished`` False with the rows written until then.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Channel(models.TextChoices):
        WEB = "web", _("HR pages")
        API = "api", _("API")
        CLI = "cli", _("command line")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(_("who"), max_length=150, blank=True)  # kept if the user is deleted
    started_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True)
    format = models.CharField(max_length=8, choices=Format.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    filters = models.JSONField(default=dict)  # {"waves": [id], "teams": [id], "team_paths": [path]}; [] = all
    rows = models.PositiveIntegerField(default=0)
    finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("export")

    def __str__(self) -> str:
        return f"{self.get_format_display()} export by {self.username or '?'} at {self.started_at:%Y-%m-%d %H:%M}"
