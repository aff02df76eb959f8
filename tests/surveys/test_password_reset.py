"""Password reset by e-mail: the same page whether or not the address has a login."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.urls import reverse

from surveys import accounts
from surveys.models import Employee
from tests.factories import EmployeeFactory, TeamFactory, UserFactory
from tests.surveys.test_token_logs import console, dev_server, fetch  # noqa: F401 -- fixtures

pytestmark = pytest.mark.django_db

User = get_user_model()
EMAIL = "ada@example.com"
OLD_PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"
LINK_RE = re.compile(r"http://pulse\.example(/password-reset/([^/\s]+)/([^/\s]+)/)")


@pytest.fixture(autouse=True)
def base_url_and_fast_hashing(settings):
    settings.PULSE_BASE_URL = "http://pulse.example"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager():
    user = UserFactory(username=EMAIL, password=OLD_PASSWORD)
    acme = TeamFactory(name="Acme")
    EmployeeFactory(email=EMAIL, name="Ada Lovelace", role=Employee.Role.MANAGER, user=user, team=acme)
    return user


def ask_for_reset(client, email: str):
    return client.post("/password-reset/", {"email": email})


def reset_path() -> str:
    (message,) = mail.outbox
    return LINK_RE.search(message.body).group(1)


def set_password(client, path: str, password: str = NEW_PASSWORD):
    """Open the e-mailed link (which moves the token into the session) and choose a password."""
    opened = client.get(path)
    assert opened.status_code == 302, opened
    form_path = opened["Location"]
    assert client.get(form_path).status_code == 200
    return client.post(form_path, {"new_password1": password, "new_password2": password})


def test_a_known_address_is_sent_a_reset_link(client, manager):
    # when
    response = ask_for_reset(client, EMAIL)

    # then
    assert (response.status_code, response["Location"]) == (302, "/password-reset/sent/")
    (message,) = mail.outbox
    assert message.to == [EMAIL]
    assert message.subject == "Reset your Pulse password"
    path = reset_path()
    assert message.body == (
        "Hello Ada Lovelace,\n"
        "\n"
        "Someone, hopefully you, asked to reset the password of your Pulse login ada@example.com.\n"
        "\n"
        "Choose a new password:\n"
        f"http://pulse.example{path}\n"
        "\n"
        "The link works once, for 3 days. If you didn't ask for it, ignore this e-mail: your password stays as it is.\n"
    )
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'<a href="http://pulse.example{path}"' in html
    assert "Your answers are stored without your name" not in html  # not a survey e-mail


def test_an_unknown_address_sees_the_same_page_and_nobody_is_e_mailed(client, manager):
    # when
    unknown = ask_for_reset(client, "nobody@example.com")
    unknown_page = client.get(unknown["Location"])
    known = ask_for_reset(client, EMAIL)
    known_page = client.get(known["Location"])

    # then
    assert unknown["Location"] == known["Location"] == "/password-reset/sent/"
    assert unknown_page.content == known_page.content
    assert "If the address you entered belongs to a Pulse login" in unknown_page.content.decode()
    assert [message.to for message in mail.outbox] == [[EMAIL]]  # the known one only


def test_a_deactivated_login_is_not_sent_a_link(client, manager):
    manager.is_active = False
    manager.save()

    response = ask_for_reset(client, EMAIL)

    assert response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_the_address_is_matched_whatever_its_case(client, manager):
    ask_for_reset(client, "ADA@Example.com")

    assert [message.to for message in mail.outbox] == [[EMAIL]]


def test_a_login_without_a_password_yet_can_get_one_through_the_reset(client):
    # given an imported manager who never set a password (or whose setup link expired)
    user = UserFactory(username=EMAIL, password=make_password(None))

    # when
    ask_for_reset(client, EMAIL)
    done = set_password(client, reset_path())

    # then
    user.refresh_from_db()
    assert done["Location"] == "/password-reset/done/"
    assert user.check_password(NEW_PASSWORD)


def test_the_link_sets_the_new_password_once(client, manager):
    # given
    ask_for_reset(client, EMAIL)
    path = reset_path()

    # when
    done = set_password(client, path)
    again = client.__class__().get(path, follow=True)

    # then
    manager.refresh_from_db()
    assert (done.status_code, done["Location"]) == (302, "/password-reset/done/")
    assert "Your new password is saved." in client.get(done["Location"]).content.decode()
    assert manager.check_password(NEW_PASSWORD)
    assert not manager.check_password(OLD_PASSWORD)
    assert client.post("/login/", {"username": EMAIL, "password": NEW_PASSWORD}).status_code == 302
    assert "This link doesn't work any more" in again.content.decode()


def test_the_new_password_page_is_accessible(client, manager):
    ask_for_reset(client, EMAIL)
    opened = client.get(reset_path())

    page = client.get(opened["Location"]).content.decode()

    assert '<label for="id_new_password1">New password</label>' in page
    assert '<label for="id_new_password2">New password again</label>' in page
    assert page.count('autocomplete="new-password"') == 2
    assert f'value="{EMAIL}" autocomplete="username"' in page  # for password managers


def test_a_weak_or_mismatched_password_is_refused_and_explained(client, manager):
    # given
    ask_for_reset(client, EMAIL)
    form_path = client.get(reset_path())["Location"]

    # when
    response = client.post(form_path, {"new_password1": "password", "new_password2": "password"})
    mismatch = client.post(form_path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})

    # then
    manager.refresh_from_db()
    assert (response.status_code, mismatch.status_code) == (200, 200)
    assert '<div class="error-summary" role="alert"' in response.content.decode()
    assert "This password is too common." in response.content.decode()
    assert "The two password fields didn’t match." in mismatch.content.decode()
    assert manager.check_password(OLD_PASSWORD)


def test_a_tampered_link_does_not_work(client, manager):
    ask_for_reset(client, EMAIL)
    path = reset_path()
    tampered = path[:-3] + ("a" if path[-3] != "a" else "b") + path[-2:]

    page = client.get(tampered, follow=True).content.decode()

    assert "This link doesn't work any more" in page
    assert f'<a href="{reverse("password_reset")}">Ask for a new link</a>' in page


def test_a_new_password_lifts_the_lockout_from_this_address(client, manager):
    # given
    for _ in range(5):
        client.post("/login/", {"username": EMAIL, "password": "wrong guess"})
    assert client.post("/login/", {"username": EMAIL, "password": OLD_PASSWORD}).status_code == 429

    # when
    ask_for_reset(client, EMAIL)
    set_password(client, reset_path())

    # then
    assert client.post("/login/", {"username": EMAIL, "password": NEW_PASSWORD}).status_code == 302


def test_a_german_manager_gets_the_e_mail_in_german(client):
    user = UserFactory(username=EMAIL)
    EmployeeFactory(email=EMAIL, name="Ada", role=Employee.Role.MANAGER, user=user, locale="de_AT")

    ask_for_reset(client, EMAIL)

    (message,) = mail.outbox
    assert message.subject == "Setze dein Pulse-Passwort zurück"
    assert "Der Link funktioniert einmal, 3 Tage lang." in message.body


def test_the_reset_form_is_labelled_and_says_what_is_wrong(client):
    page = client.get("/password-reset/").content.decode()
    bad = client.post("/password-reset/", {"email": "not an address"})

    assert '<label for="id_email">E-mail</label>' in page
    assert 'autocomplete="email"' in page
    assert bad.status_code == 200
    assert '<p class="error" role="alert" id="email-error">Enter a valid email address.</p>' in bad.content.decode()
    assert mail.outbox == []


def test_the_link_is_on_pulse_base_url_whatever_host_was_asked(client, manager, settings):
    settings.ALLOWED_HOSTS = ["*"]

    client.post("/password-reset/", {"email": EMAIL}, HTTP_HOST="evil.example")

    (message,) = mail.outbox
    assert "http://pulse.example/password-reset/" in message.body
    assert "evil.example" not in message.body + message.alternatives[0][0]


def test_the_service_logs_neither_the_address_nor_the_link(manager, caplog):
    caplog.set_level(logging.DEBUG)

    sent = accounts.password_reset_send(email=EMAIL)

    (message,) = mail.outbox
    token = LINK_RE.search(message.body).group(3)
    assert sent == 1
    assert caplog.records
    assert token not in caplog.text
    assert EMAIL not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_development_servers_request_lines_never_show_a_password_token(dev_server, caplog, console):  # noqa: F811
    # given
    caplog.set_level(logging.INFO)
    user = UserFactory(username=EMAIL)
    link = accounts.password_reset_link(user=user)
    path = link.removeprefix("http://pulse.example")
    token = path.rstrip("/").rsplit("/", 1)[1]

    # when
    status = fetch(dev_server, path)
    dev_server.stop()

    # then the request was logged, without the token
    assert status == 302
    assert "/password-reset/" in console.getvalue()
    assert token not in console.getvalue()
    assert token not in caplog.text
