"""factory_boy factories: the write side, and the gate's stored releases (analytics) for tests that
need many waves of history without answering every one of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from analytics import models as analytics
from surveys import models
from surveys.tokens import token_for, token_hash


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Team

    name = factory.Sequence(lambda n: f"Team {n}")
    parent = None
    path = factory.LazyAttribute(lambda o: f"{o.parent.path}/{o.name}" if o.parent else o.name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.LazyAttribute(lambda o: o.username)
    password = factory.django.Password("correct horse battery staple")


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Employee

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    team = factory.SubFactory(TeamFactory)
    timezone = "Europe/Berlin"
    locale = "en"


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Question
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"q_{n}")
    dimension = models.Question.Dimension.WORKLOAD
    text = factory.Sequence(lambda n: f"Question {n}?")
    scale = models.Question.Scale.LIKERT5


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Survey
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"survey-{n}")
    name = factory.Sequence(lambda n: f"Survey {n}")


class WaveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Wave

    survey = factory.SubFactory(SurveyFactory)
    opens_on = factory.LazyFunction(lambda: timezone.now().date())
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=5))
    status = models.Wave.Status.OPEN
    min_respondents = factory.LazyFunction(lambda: settings.PULSE_MIN_RESPONDENTS)
    min_comment_respondents = factory.LazyFunction(lambda: settings.PULSE_MIN_COMMENT_RESPONDENTS)


class InvitationFactory(factory.django.DjangoModelFactory):
    """An invitation whose working token is available as ``invitation.token`` after build."""

    class Meta:
        model = models.Invitation
        skip_postgeneration_save = True  # the hook only sets a Python attribute

    # Chosen up front: the token (and its hash) is derived from the invitation's id.
    id = factory.LazyFunction(uuid.uuid4)
    wave = factory.SubFactory(WaveFactory)
    employee = factory.SubFactory(EmployeeFactory)
    team = factory.LazyAttribute(lambda o: o.employee.team)
    token_hash = factory.LazyAttribute(lambda o: token_hash(token_for(o.id)))
    send_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def token(obj, create, extracted, **kwargs):
        obj.token = token_for(obj.id)


class SealedWaveFactory(WaveFactory):
    """A wave closed and sealed, as the gate finds it."""

    status = models.Wave.Status.CLOSED
    sealed = True
    closes_at = factory.LazyAttribute(lambda o: datetime.combine(o.opens_on, time(17), tzinfo=UTC) + timedelta(days=5))
    closed_at = factory.LazyAttribute(lambda o: o.closes_at)


class GroupReleaseFactory(factory.django.DjangoModelFactory):
    """The gate's decision for one team (None: the wave as a whole): results, participation shown."""

    class Meta:
        model = analytics.GroupRelease

    wave = factory.SubFactory(SealedWaveFactory)
    team = factory.SubFactory(TeamFactory)
    path = factory.LazyAttribute(lambda o: o.team.path if o.team else "")
    state = analytics.GroupRelease.State.RESULTS
    group = factory.LazyAttribute(lambda o: o.team)
    invited = 10
    responded = 8


class DimensionReleaseFactory(factory.django.DjangoModelFactory):
    """A released (or, with ``mean=None`` and a ``reason``, suppressed) value of one team × dimension."""

    class Meta:
        model = analytics.DimensionRelease

    wave = factory.SubFactory(SealedWaveFactory)
    team = factory.SubFactory(TeamFactory)
    dimension = models.Question.Dimension.INTENT_TO_STAY
    respondents = 8
    mean = 3.5
    favorable = factory.LazyAttribute(lambda o: None if o.mean is None else 0.5)
    enps = None
    reason = ""


def api_for(*, role: str, manages=()):
    """An API client authenticated the integrator's way (`Authorization: Token KEY`), as an
    employee of ``role`` managing ``manages``."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = UserFactory()
    employee = EmployeeFactory(email=user.username, role=role, user=user)
    employee.manages.set(manages)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client
