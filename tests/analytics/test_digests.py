"""The digest e-mails after a wave is analysed (analytics/digests.py, analytics/emails.py): built
through the real services (launch, answer, close_wave, which runs the analysis), sent once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from celery import current_app
from django.core import mail
from django.core.management import call_command
from django.utils import timezone, translation
from django.utils.formats import date_format

from analytics.digests import wave_digests_send
from analytics.models import DimensionRelease, DimensionRollup, TeamRisk, TeamTrend, WaveAnalysis
from analytics.tasks import wave_digests_task
from surveys.models import Employee, Wave
from tests.analytics import test_results
from tests.factories import EmployeeFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE = "http://pulse.example"
org = test_results.org  # the fixture: Acme ── Eng ── ML, Acme ── Sales (3, answers go to Acme)
_answered_wave = test_results._answered_wave


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.PULSE_BASE_URL = BASE


@pytest.fixture(autouse=True)
def eager_celery():
    """Run enqueued tasks in-process even when a broker is configured (CI's services run)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


def reader(*, role: str, manages=(), locale: str = "en", email: str | None = None):
    user = UserFactory(**({"username": email} if email else {}))
    employee = EmployeeFactory(email=user.username, role=role, user=user, locale=locale)
    employee.manages.set(manages)
    return user


def closed(wave: Wave, capture) -> Wave:
    """close_wave as HR runs it, with the work it leaves for after the commit done as well."""
    with capture(execute=True):
        call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    return Wave.objects.get(pk=wave.pk)


def to(address: str) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.to == [address]]


def html(message) -> str:
    return message.alternatives[0][0]


def skip_ml_workload():
    """2 of ML's 5 skip both workload items: ML's workload has 3 respondents < k, hidden."""
    skipped = {"count": 0}

    def skip(invitation):
        if invitation.team.name == "ML" and skipped["count"] < 2:
            skipped["count"] += 1
            return {"r_w1", "r_w2"}
        return set()

    return skip


def test_a_manager_gets_their_teams_results_with_links_and_hidden_values_say_why(
    org, django_capture_on_commit_callbacks
):
    # given a manager of Eng (Eng and ML) and one of Sales, whose answers went to Acme
    eng_manager = reader(role=Employee.Role.MANAGER, manages=[org["eng"]], email="eng.lead@example.com")
    sales_manager = reader(role=Employee.Role.MANAGER, manages=[org["sales"]], email="sales.lead@example.com")

    # when the wave is closed and analysed
    wave = closed(_answered_wave(org, skip=skip_ml_workload()), django_capture_on_commit_callbacks)

    # then each manager has one digest, about their own teams only
    (eng_mail,) = to(eng_manager.email)
    with translation.override("en"):
        opens_on = date_format(wave.opens_on, "DATE_FORMAT")
    assert eng_mail.subject == f"Pulse digest for your teams: {wave.survey.name} of {opens_on}"
    body = eng_mail.body
    assert "== Acme/Eng ==" in body and "== Acme/Eng/ML ==" in body
    assert "Sales" not in body and "== Acme ==" not in body
    assert f"{BASE}/teams/{org['eng'].pk}/" in body and f"{BASE}/teams/{org['ml'].pk}/" in body
    eng_workload = DimensionRelease.objects.get(wave=wave, team=org["eng"], dimension="workload")
    assert f"- Workload: {eng_workload.mean:.2f}\n" in body  # 24 / 9, the first wave: no change
    assert "Participation: 11 of 11 (100 %)" in body
    # ML's workload is hidden, and its value (from the rollup nobody else reads) is nowhere
    ml_rollup = DimensionRollup.objects.get(wave=wave, team=org["ml"], dimension="workload")
    hidden = ml_rollup.score_sum / ml_rollup.respondents
    assert hidden == 13 / 3  # the three left: 4 + 5 + 4
    assert "- Workload: hidden: fewer than 5 answers\n" in body
    for message in (body, html(eng_mail)):
        assert f"{hidden:.2f}" not in message and f"{hidden:.1f}" not in message
    assert f'<a href="{BASE}/teams/{org["ml"].pk}/"' in html(eng_mail)

    (sales_mail,) = to(sales_manager.email)
    assert "== Acme/Sales ==" in sales_mail.body
    assert "No results of its own: this team's answers are counted with Acme" in sales_mail.body
    assert "Eng" not in sales_mail.body


def test_a_manager_without_teams_in_the_wave_gets_no_digest(org, django_capture_on_commit_callbacks):
    # given a manager of nothing, and one of a team the wave did not survey
    nobody = reader(role=Employee.Role.MANAGER, email="no.teams@example.com")
    elsewhere = TeamFactory(name="Elsewhere")
    outside = reader(role=Employee.Role.MANAGER, manages=[elsewhere], email="outside@example.com")

    # when
    closed(_answered_wave(org), django_capture_on_commit_callbacks)

    # then
    assert to(nobody.email) == [] and to(outside.email) == []
    assert mail.outbox == []


def test_digests_are_in_the_readers_language(org, django_capture_on_commit_callbacks):
    # given a German-speaking manager (de_AT) and German-speaking HR
    manager = reader(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de_AT", email="chefin@example.com")
    hr = reader(role=Employee.Role.HR, locale="de", email="personal@example.com")

    # when
    wave = closed(_answered_wave(org, skip=skip_ml_workload()), django_capture_on_commit_callbacks)

    # then
    (manager_mail,) = to(manager.email)
    assert manager_mail.subject.startswith("Pulse-Zusammenfassung für deine Teams:")
    assert manager_mail.extra_headers["Content-Language"] == "de"
    eng_workload = DimensionRelease.objects.get(wave=wave, team=org["eng"], dimension="workload").mean
    assert f"- Arbeitslast: {eng_workload:.2f}".replace(".", ",") in manager_mail.body
    assert "- Arbeitslast: verborgen: weniger als 5 Antworten" in manager_mail.body
    assert "Beteiligung: 11 von 11 (100 %)" in manager_mail.body
    (hr_mail,) = to(hr.email)
    assert hr_mail.subject.startswith("Pulse-Zusammenfassung für die Organisation:")
    assert "Beteiligung: 16 von 16 (100 %)" in hr_mail.body
    assert 'lang="de"' in html(hr_mail)


def test_a_reader_without_an_employee_row_gets_the_default_language(org, django_capture_on_commit_callbacks, settings):
    # given a superuser (HR by role) with no employee row
    admin = UserFactory(username="admin", email="admin@example.com", is_superuser=True)

    closed(_answered_wave(org), django_capture_on_commit_callbacks)

    (message,) = to(admin.email)
    assert settings.LANGUAGE_CODE == "en"
    assert message.subject.startswith("Pulse digest for the organisation:")


def test_hr_gets_participation_trend_flags_and_the_risk_list(org, django_capture_on_commit_callbacks):
    # given a closed, analysed wave (its digests not yet claimed) whose analysis flagged ML's
    # workload as declining and Eng's churn risk as high (the stored outputs of trends and risk)
    hr = reader(role=Employee.Role.HR, email="people@example.com")
    wave = closed(_answered_wave(org), lambda **kw: django_capture_on_commit_callbacks(execute=False))
    TeamTrend.objects.filter(team=org["ml"], dimension="workload").update(direction="declining", p_value=0.004)
    TeamTrend.objects.filter(team=org["acme"], dimension="enps").update(direction="improving", p_value=0.0004)
    TeamRisk.objects.filter(team=org["eng"]).update(
        level="high",
        score=0.05,
        reasons=["intent to stay down 0.6 points"],  # words, as stored before codes
    )
    TeamRisk.objects.filter(team=org["acme"]).update(level="elevated", score=0.03, reasons=[])
    assert mail.outbox == []

    # when
    sent = wave_digests_send(wave_id=wave.pk)

    # then
    assert sent == 1
    (message,) = to(hr.email)
    body = message.body
    assert "Participation: 16 of 16 (100 %)" in body
    flagged = body.split("== Teams flagged by the trend test ==\n")[1].split("\n\n")[0]
    assert flagged.splitlines() == [
        f"- Acme/Eng/ML: Workload declining (p = 0.004) {BASE}/teams/{org['ml'].pk}/",
        f"- Acme: eNPS improving (p < 0.001) {BASE}/teams/{org['acme'].pk}/",
    ]
    risks = body.split("== Churn risk: high and elevated ==\n")[1].split("\n\n")[0]
    assert risks.splitlines() == [
        f"- Acme/Eng: high {BASE}/teams/{org['eng'].pk}/",
        "  * intent to stay down 0.6 points",
        f"- Acme: elevated {BASE}/teams/{org['acme'].pk}/",
    ]


def test_risk_reasons_are_in_each_readers_language(org, django_capture_on_commit_callbacks):
    # given a German manager of Eng, German HR and English HR, and Eng's churn risk stored as
    # data (the codes and released numbers analytics/risk.py stores)
    manager = reader(role=Employee.Role.MANAGER, manages=[org["eng"]], locale="de", email="chefin@example.com")
    german_hr = reader(role=Employee.Role.HR, locale="de", email="personal@example.com")
    english_hr = reader(role=Employee.Role.HR, email="people@example.com")
    wave = closed(_answered_wave(org), lambda **kw: django_capture_on_commit_callbacks(execute=False))
    TeamRisk.objects.filter(team=org["eng"]).update(
        level="high",
        score=0.05,
        reasons=[
            {"code": "intent_to_stay_change", "value": -0.6, "base": 4.1, "lag": 4},
            {"code": "departures", "count": 3, "days": 90},
        ],
    )

    # when
    wave_digests_send(wave_id=wave.pk)

    # then each reads the same reasons in their own language
    german = ["  * Bleibeabsicht über 4 Runden um 0,6 Punkte gesunken", "  * 3 freiwillige Austritte in 90 Tagen"]
    english = ["  * intent to stay down 0.6 points over 4 waves", "  * 3 voluntary departures in 90 days"]
    (manager_mail,) = to(manager.email)
    eng_section = manager_mail.body.split("== Acme/Eng ==\n")[1].split("== Acme/Eng/ML ==")[0]
    lines = eng_section.splitlines()
    assert lines[lines.index("Fluktuationsrisiko: hoch") + 1 :][:3] == [
        *german,
        f"Dashboard: {BASE}/teams/{org['eng'].pk}/",
    ]
    assert "<li>Bleibeabsicht über 4 Runden um 0,6 Punkte gesunken</li>" in html(manager_mail)
    (german_hr_mail,) = to(german_hr.email)
    risks = german_hr_mail.body.split("== Fluktuationsrisiko: hoch und erhöht ==\n")[1].split("\n\n")[0]
    assert risks.splitlines()[:3] == [f"- Acme/Eng: hoch {BASE}/teams/{org['eng'].pk}/", *german]
    (english_hr_mail,) = to(english_hr.email)
    risks = english_hr_mail.body.split("== Churn risk: high and elevated ==\n")[1].split("\n\n")[0]
    assert risks.splitlines()[:3] == [f"- Acme/Eng: high {BASE}/teams/{org['eng'].pk}/", *english]


def test_a_meaningful_trend_is_named_in_the_managers_digest(org, django_capture_on_commit_callbacks):
    manager = reader(role=Employee.Role.MANAGER, manages=[org["ml"]], email="ml.lead@example.com")
    wave = closed(_answered_wave(org), lambda **kw: django_capture_on_commit_callbacks(execute=False))
    TeamTrend.objects.filter(team=org["ml"], dimension="workload").update(direction="declining", p_value=0.004)

    wave_digests_send(wave_id=wave.pk)

    (message,) = to(manager.email)
    assert "- Workload: 4.40 — trend: declining (p = 0.004), a meaningful change\n" in message.body
    # ML's eNPS has no trend flag: it is shown without one (3 promoters, 2 passives: 46 / 5)
    assert "- eNPS: 9.20\n" in message.body


def test_the_change_since_the_last_wave_is_shown_between_released_values(org, django_capture_on_commit_callbacks):
    # given a first wave where ML's workload is hidden, then a second where it is released
    manager = reader(role=Employee.Role.MANAGER, manages=[org["eng"]], email="eng.lead@example.com")
    closed(_answered_wave(org, skip=skip_ml_workload()), django_capture_on_commit_callbacks)
    mail.outbox.clear()

    # when the second wave closes
    second = closed(_answered_wave(org), django_capture_on_commit_callbacks)

    # then Eng's change is the difference of its two released means; ML's has no released start
    (message,) = to(manager.email)
    eng = DimensionRelease.objects.filter(team=org["eng"], dimension="workload").order_by("wave__opens_on", "wave_id")
    before, now = (r.mean for r in eng)
    assert second.pk == eng.last().wave_id
    ml_section = message.body.split("== Acme/Eng/ML ==")[1]
    eng_section = message.body.split("== Acme/Eng ==")[1].split("== Acme/Eng/ML ==")[0]
    assert f"- Workload: {now:.2f} (since the last wave: +{now - before:.2f})" in eng_section
    assert "- Workload: 4.40 (since the last wave: hidden: fewer than 5 answers)" in ml_section


def test_digests_go_out_once_per_wave_however_often_the_task_runs(org, django_capture_on_commit_callbacks):
    # given
    manager = reader(role=Employee.Role.MANAGER, manages=[org["eng"]], email="eng.lead@example.com")
    hr = reader(role=Employee.Role.HR, email="people@example.com")

    # when the wave is closed (its task and close_wave both analyse it and ask for the digests)
    wave = closed(_answered_wave(org), django_capture_on_commit_callbacks)
    sent_at = WaveAnalysis.objects.get(wave=wave).digests_sent_at
    # and the digest task is delivered again, and the wave analysed again
    again = [wave_digests_task.apply(args=(wave.pk,)).get() for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("analyse", "--wave", str(wave.pk), stdout=io.StringIO())

    # then
    assert [m.to for m in mail.outbox] == [[manager.email], [hr.email]]
    assert again == [0, 0]
    assert sent_at is not None and WaveAnalysis.objects.get(wave=wave).digests_sent_at == sent_at


def test_the_analysis_asks_for_the_digests_by_name_after_the_commit(org, enqueued, django_capture_on_commit_callbacks):
    reader(role=Employee.Role.HR, email="people@example.com")
    wave = _answered_wave(org)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("close_wave", str(wave.pk), stdout=io.StringIO())
    assert mail.outbox == [] and enqueued == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert "analytics.wave_digests" in enqueued
    assert mail.outbox == []  # the task sends them, not the close


def test_a_back_filled_wave_claims_its_digests_and_sends_none(org, django_capture_on_commit_callbacks):
    # given a wave closed long ago (history being filled in), analysed now
    reader(role=Employee.Role.HR, email="people@example.com")
    wave = closed(_answered_wave(org), lambda **kw: django_capture_on_commit_callbacks(execute=False))
    Wave.objects.filter(pk=wave.pk).update(closed_at=timezone.now() - timedelta(days=30))

    # when / then
    assert wave_digests_send(wave_id=wave.pk) == 0
    assert mail.outbox == []
    assert WaveAnalysis.objects.get(wave=wave).digests_sent_at is not None


def test_a_failed_send_hands_the_claim_back(org, django_capture_on_commit_callbacks, settings):
    # given an SMTP server that refuses the connection
    reader(role=Employee.Role.HR, email="people@example.com")
    wave = closed(_answered_wave(org), lambda **kw: django_capture_on_commit_callbacks(execute=False))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2

    # when
    with pytest.raises(OSError):
        wave_digests_send(wave_id=wave.pk)

    # then the next run may send them
    assert WaveAnalysis.objects.get(wave=wave).digests_sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert wave_digests_send(wave_id=wave.pk) == 1


def test_numbers_are_rounded_not_cut_off():
    from analytics.emails import p_value_text, shown
    from analytics.selectors import Released

    with translation.override("en"):
        assert shown(Released(5 / 12), "share") == "42 %"  # 41.67 %
        assert shown(Released(2.666), "mean") == "2.67"
        assert shown(Released(-0.456), "change") == "−0.46"
        assert p_value_text(0.0049) == "p = 0.005"
