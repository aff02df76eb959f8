"""The "set your password" e-mail for imported managers and HR: the service, the command, the admin action."""

from __future__ import annotations

import logging
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from surveys.accounts import password_reset_link, password_setup_send
from surveys.models import Employee
from surveys.org_import import org_csv_build, org_import
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "a brand new passphrase 42"
LINK_RE = re.compile(r"http://pulse\.example(/password-setup/[^/\s]+/[^/\s]+/)")

ORG = [
    {"email": "hr@acme.example", "name": "Hana Ito", "team": "Acme/People", "timezone": "UTC", "role": "hr"},
    {
        "email": "boss@acme.example",
        "name": "Bo Berg",
        "team": "Acme/Engineering",
        "timezone": "Europe/Berlin",
        "locale": "de",
        "role": "manager",
        "manages": "Acme/Engineering",
    },
    {"email": "dev@acme.example", "name": "Dev Ops", "team": "Acme/Engineering", "timezone": "UTC"},
]


@pytest.fixture(autouse=True)
def base_url_and_fast_hashing(settings):
    settings.PULSE_BASE_URL = "http://pulse.example"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def imported():
    """The org import: two logins without a password (HR, a manager) and an employee without a login."""
    org_import(data=org_csv_build(ORG))
    return {user.username: user for user in User.objects.all()}


def sent_to() -> list[list[str]]:
    return [message.to for message in mail.outbox]


def setup_path(message) -> str:
    return LINK_RE.search(message.body).group(1)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("send_password_setup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- The service -------------------------------------------------------------------------


def test_the_import_e_mails_nobody(imported):
    assert sorted(imported) == ["boss@acme.example", "hr@acme.example"]
    assert mail.outbox == []


def test_only_active_logins_without_a_password_are_sent_a_link(imported):
    # given a login with a password, and a deactivated one
    has_password = UserFactory(username="root@acme.example")
    gone = UserFactory(username="gone@acme.example", password=make_password(None), is_active=False)

    # when
    report = password_setup_send(users=[imported["hr@acme.example"], has_password, gone])

    # then
    assert sent_to() == [["hr@acme.example"]]
    assert report.sent == ["hr@acme.example"]
    assert report.skipped == [
        (
            "root@acme.example",
            "they already have a password (“Forgot your password?” on the login page sends a new link)",
        ),
        ("gone@acme.example", "the login is deactivated (they left, or are no longer a manager or HR)"),
    ]


def test_the_e_mail_says_whose_login_it_is_and_where_to_set_the_password(imported):
    password_setup_send(users=[imported["hr@acme.example"]])

    (message,) = mail.outbox
    path = setup_path(message)
    assert message.subject == "Your Pulse login for Acme: set your password"
    assert message.body == (
        "Hello Hana Ito,\n"
        "\n"
        "Acme uses Pulse for its anonymous pulse surveys, and you have a login to see the results: "
        "hr@acme.example.\n"
        "\n"
        "Set your password:\n"
        f"http://pulse.example{path}\n"
        "\n"
        "The link works once, for 3 days. After that, ask for a new one with “Forgot your password?” on the "
        "login page:\n"
        "http://pulse.example/login/\n"
        "\n"
        "This link is personal: please don't forward it.\n"
    )
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'<a href="http://pulse.example{path}"' in html


def test_a_german_manager_gets_it_in_german(imported):
    password_setup_send(users=[imported["boss@acme.example"]])

    (message,) = mail.outbox
    assert message.subject == "Dein Pulse-Login für Acme: Lege dein Passwort fest"
    assert message.body.startswith("Hallo Bo Berg,\n")


def test_the_link_sets_the_password_and_then_the_manager_can_log_in(client, imported):
    # given
    password_setup_send(users=[imported["boss@acme.example"]])
    path = setup_path(mail.outbox[0])

    # when
    opened = client.get(path)
    page = client.get(opened["Location"])
    done = client.post(opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    # then
    assert "<h1>Set your password</h1>" in page.content.decode()
    assert (done.status_code, done["Location"]) == (302, "/password-setup/done/")
    assert "<h1>Password set</h1>" in client.get(done["Location"]).content.decode()
    assert User.objects.get(username="boss@acme.example").check_password(NEW_PASSWORD)
    assert client.post("/login/", {"username": "boss@acme.example", "password": NEW_PASSWORD}).status_code == 302
    again = client.__class__().get(path, follow=True).content.decode()
    assert "This link doesn't work any more" in again


def test_a_reset_link_does_not_open_the_set_password_page(client, imported):
    user = imported["hr@acme.example"]
    reset_path = password_reset_link(user=user).removeprefix("http://pulse.example")
    as_setup = reset_path.replace("/password-reset/", "/password-setup/")

    page = client.get(as_setup, follow=True).content.decode()

    assert "This link doesn't work any more" in page
    assert not User.objects.get(pk=user.pk).has_usable_password()


def test_the_link_never_reaches_the_log(imported, caplog):
    caplog.set_level(logging.DEBUG)

    password_setup_send(users=[imported["hr@acme.example"], imported["boss@acme.example"]])

    tokens = [setup_path(message).rstrip("/").rsplit("/", 1)[1] for message in mail.outbox]
    assert len(tokens) == 2
    assert "Sent 2 password setup e-mails" in caplog.text
    assert not any(token in caplog.text for token in tokens)


# --- The command -------------------------------------------------------------------------


def test_the_command_sends_to_the_logins_named(imported):
    out, err = run("HR@acme.example")

    assert sent_to() == [["hr@acme.example"]]
    assert out == "sent: hr@acme.example\n1 sent, 0 skipped\n"
    assert err == ""


def test_all_without_password_picks_every_active_login_without_one(imported):
    # given a login that has a password, and one deactivated
    UserFactory(username="root@acme.example")
    UserFactory(username="gone@acme.example", password=make_password(None), is_active=False)

    # when
    out, err = run("--all-without-password")

    # then
    assert sorted(sent_to()) == [["boss@acme.example"], ["hr@acme.example"]]
    assert out == "sent: boss@acme.example\nsent: hr@acme.example\n2 sent, 0 skipped\n"
    assert err == ""


def test_after_everyone_set_a_password_nobody_is_sent_anything(imported):
    for user in imported.values():
        user.set_password(NEW_PASSWORD)
        user.save()

    out, _ = run("--all-without-password")

    assert mail.outbox == []
    assert out == "0 sent, 0 skipped\n"


def test_an_employee_without_a_login_or_a_login_with_a_password_is_reported_and_gets_nothing(imported):
    # given
    UserFactory(username="root@acme.example")
    err = StringIO()

    # when
    with pytest.raises(CommandError, match="not every login named was sent a link"):
        call_command(
            "send_password_setup",
            "boss@acme.example",
            "dev@acme.example",
            "root@acme.example",
            stdout=StringIO(),
            stderr=err,
        )

    # then the others were still sent theirs
    assert sent_to() == [["boss@acme.example"]]
    assert err.getvalue() == (
        "skipped: dev@acme.example: no login (only managers and HR have one)\n"
        "skipped: root@acme.example: they already have a password "
        "(“Forgot your password?” on the login page sends a new link)\n"
    )


@pytest.mark.parametrize("args", [(), ("hr@acme.example", "--all-without-password")])
def test_the_command_wants_either_addresses_or_all(imported, args):
    with pytest.raises(CommandError, match="either one or more e-mail addresses or --all-without-password"):
        run(*args)

    assert mail.outbox == []


# --- The admin action --------------------------------------------------------------------


def test_the_admin_action_sends_only_to_logins_without_a_password(admin_client, imported):
    # given the whole import selected, and a manager who already has a password
    UserFactory(username="chief@acme.example")
    chief = EmployeeFactory(
        email="chief@acme.example", role=Employee.Role.MANAGER, user=User.objects.get(username="chief@acme.example")
    )
    selected = [*Employee.objects.filter(email__endswith="@acme.example").values_list("pk", flat=True)]
    assert chief.pk in selected and len(selected) == 4

    # when
    response = admin_client.post(
        reverse("admin:surveys_employee_changelist"),
        {"action": "send_password_setup", "_selected_action": selected},
        follow=True,
    )

    # then
    assert response.status_code == 200
    assert sorted(sent_to()) == [["boss@acme.example"], ["hr@acme.example"]]
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "Sent a “set your password” e-mail to 2 people: boss@acme.example, hr@acme.example.",
        "1 person has no login (only managers and HR have one): nothing sent.",
        "Nothing sent to chief@acme.example: they already have a password "
        "(“Forgot your password?” on the login page sends a new link).",
    ]


def test_hr_can_use_the_admin_action(client, imported):
    # given HR, who administers people but not users, logged in with the password they set
    hr = imported["hr@acme.example"]
    hr.set_password(NEW_PASSWORD)
    hr.save()
    client.force_login(hr)
    boss = Employee.objects.get(email="boss@acme.example")

    # when
    client.post(
        reverse("admin:surveys_employee_changelist"),
        {"action": "send_password_setup", "_selected_action": [boss.pk]},
    )

    # then
    assert sent_to() == [["boss@acme.example"]]


def test_the_admin_action_for_employees_without_logins_sends_nothing(admin_client, imported):
    dev = Employee.objects.get(email="dev@acme.example")

    response = admin_client.post(
        reverse("admin:surveys_employee_changelist"),
        {"action": "send_password_setup", "_selected_action": [dev.pk]},
        follow=True,
    )

    assert mail.outbox == []
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "1 person has no login (only managers and HR have one): nothing sent."
    ]


def test_someone_who_may_only_view_people_cannot_send_the_e_mails(client, imported):
    # given a staff user who may view employees but not change them
    viewer = UserFactory(username="viewer@acme.example", is_staff=True)
    viewer.user_permissions.set([Permission.objects.get(codename="view_employee")])
    client.force_login(viewer)
    boss = Employee.objects.get(email="boss@acme.example")

    # when
    changelist = client.get(reverse("admin:surveys_employee_changelist"))
    client.post(
        reverse("admin:surveys_employee_changelist"),
        {"action": "send_password_setup", "_selected_action": [boss.pk]},
    )

    # then
    assert changelist.status_code == 200
    assert "send_password_setup" not in changelist.content.decode()
    assert mail.outbox == []
    assert not User.objects.get(username="boss@acme.example").has_usable_password()
