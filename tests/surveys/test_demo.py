"""``make demo``'s seed: the demo org gets an open wave, its e-mails go out, and the printed link works."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from pulse.celery import app as celery_app
from surveys.models import Invitation, Submission, Wave
from tests.surveys.test_survey_views import Page

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    """Celery eager, as on the embedded default ``make demo`` runs on, even when the suite runs
    with a broker."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def seed(django_capture_on_commit_callbacks, eager_celery):
    """Run seed_demo as ``make demo`` does, its after-commit dispatch included."""

    def run() -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo", stdout=out)
        return out.getvalue()

    return run


def test_seed_demo_launches_one_wave_sends_its_invitations_and_prints_a_working_link(settings, seed):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    # when
    output = seed()

    # then one open wave, every active demo employee invited and e-mailed once
    wave = Wave.objects.get()
    invited = Invitation.objects.filter(wave=wave)
    assert wave.status == Wave.Status.OPEN
    assert invited.count() == invited.filter(status=Invitation.SendStatus.SENT).count() > 50
    assert len(mail.outbox) == invited.count()
    link = re.search(r"Answer the survey as one of them: (\S+)", output).group(1)
    assert link.startswith(f"{settings.PULSE_BASE_URL}/s/")
    assert sum(link in message.body for message in mail.outbox) == 1

    # and the link opens the form, which records an answer
    client = Client(enforce_csrf_checks=True)
    assert client.get(link.removeprefix(settings.PULSE_BASE_URL)).status_code == 302
    form = Page(client.get("/s/").content.decode())
    key = form.all("input", name="form_key")[0]["value"]
    first_question = form.all("input", type="radio")[0]["name"]
    response = client.post("/s/", {"form_key": key, first_question: "4"})
    assert response.status_code == 302
    assert Submission.objects.filter(wave=wave).count() == 1


def test_seed_demo_again_reuses_the_open_wave_and_sends_nothing_more(settings, seed):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed()
    sent = len(mail.outbox)

    # when
    output = seed()

    # then
    assert Wave.objects.count() == 1
    assert len(mail.outbox) == sent
    assert "already open" in output
