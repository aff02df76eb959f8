"""The demo organisation that ``make demo`` shows: "Acme", 60 people, ten teams, several time zones.

Its logins are constants so that other parts of the demo (and their tests) can reuse them.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from surveys.models import Invitation, Survey, Wave
from surveys.org_import import ImportResult, org_import
from surveys.roles import user_password_set
from surveys.tokens import survey_link, token_for
from surveys.waves import wave_launch

DEMO_ORG_CSV = Path(__file__).with_name("demo_org.csv")
DEMO_HR_EMAIL = "hr@acme.example"
DEMO_MANAGER_EMAIL = "manager@acme.example"
DEMO_PASSWORD = "pulse-demo"  # noqa: S105 - a published demo login, never a real one
DEMO_LOGINS = ((DEMO_HR_EMAIL, "HR: the whole organisation"), (DEMO_MANAGER_EMAIL, "manager of Acme/Engineering"))


def demo_org_seed() -> ImportResult:
    """Import the demo org (idempotent: a re-run changes nothing) and give its logins known passwords."""
    result = org_import(data=DEMO_ORG_CSV.read_bytes())
    for email, _ in DEMO_LOGINS:
        user_password_set(email=email, password=DEMO_PASSWORD)
    return result


def demo_wave_ensure() -> tuple[Wave, bool]:
    """An open wave of the default survey for the whole demo org, launched now if there is none.

    The invitations are sent at once (``send_now``): on the embedded default the e-mails land
    as files in ``PULSE_DATA_DIR/mail``. Returns the wave and whether it was launched now.
    """
    open_wave = Wave.objects.filter(survey__slug="pulse").exclude(status=Wave.Status.CLOSED).order_by("-id").first()
    if open_wave is not None:
        return open_wave, False
    survey = Survey.objects.get(slug="pulse")
    return wave_launch(survey=survey, days_open=5, remind_after_days=2, send_now=True), True


def demo_survey_link(wave: Wave) -> str | None:
    """A working survey link of someone in ``wave`` who has not answered yet.

    Only the hash of a token is stored; the link is derived again from the invitation with
    the token key, exactly as the e-mail that went out carried it.
    """
    invitation = (
        Invitation.objects.filter(wave=wave, responded=False)
        .exclude(status__in=[Invitation.SendStatus.FAILED, Invitation.SendStatus.SKIPPED])
        .order_by("employee__email")
        .first()
    )
    return survey_link(token_for(invitation.id)) if invitation else None


def demo_mail_folder() -> str | None:
    path = getattr(settings, "EMAIL_FILE_PATH", None)
    return str(path) if path and settings.EMAIL_BACKEND.endswith("filebased.EmailBackend") else None
