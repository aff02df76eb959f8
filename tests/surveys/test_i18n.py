from __future__ import annotations

import gettext
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse

from surveys.models import Question
from surveys.question_bank import QUESTION_BANK, question_text

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "de" / "LC_MESSAGES" / "django.po"
MO = LOCALE / "de" / "LC_MESSAGES" / "django.mo"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")  # python-format and str.format fields


def _po() -> polib.POFile:
    return polib.pofile(str(PO))


def _live_entries() -> list[polib.POEntry]:
    return [entry for entry in _po() if not entry.obsolete]


def _msgstrs(entry: polib.POEntry) -> list[str]:
    return [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)] if entry.msgid_plural else [entry.msgstr]


def test_german_catalogue_is_complete():
    # An untranslated or fuzzy entry would show English (or a wrong guess) to German users.
    incomplete = [entry.msgid for entry in _live_entries() if "fuzzy" in entry.flags or not all(_msgstrs(entry))]

    assert incomplete == [], "untranslated or fuzzy in locale/de/LC_MESSAGES/django.po:\n" + "\n".join(incomplete)


def test_german_catalogue_header_is_final():
    po = _po()

    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == "de"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"


def test_translations_keep_their_placeholders():
    # A lost or misspelt %(name)s breaks the string at run time (KeyError or raw text).
    broken = [
        entry.msgid
        for entry in _live_entries()
        for msgstr in _msgstrs(entry)
        if sorted(set(PLACEHOLDER.findall(msgstr))) != sorted(set(PLACEHOLDER.findall(entry.msgid)))
    ]

    assert broken == []


def test_compiled_catalogue_is_up_to_date():
    # CI has no msgfmt, so the committed .mo must say exactly what the .po says.
    # given what the .po says, keyed the way Python's gettext keys its catalogue
    expected: dict[object, str] = {}
    for entry in _live_entries():
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            for index, msgstr in entry.msgstr_plural.items():
                expected[(msgid, int(index))] = msgstr
        else:
            expected[msgid] = entry.msgstr

    # when the .mo is read
    with MO.open("rb") as handle:
        catalogue = dict(gettext.GNUTranslations(handle)._catalog)  # the parsed .mo, as a dict
    catalogue.pop("", None)  # the header

    # then
    assert catalogue == expected, "run: .venv/bin/python manage.py compilemessages --ignore=.venv"


@pytest.mark.django_db
def test_every_bank_question_has_german_text():
    for item in QUESTION_BANK:
        question = Question.objects.get(code=item.code)
        german = question_text(question, "de")

        assert german != question.text, item.code
        assert question_text(question, "en") == question.text


@pytest.mark.django_db
def test_question_text_in_german():
    enps = Question.objects.get(code="enps_1")
    workload = Question.objects.get(code="workload_1")

    assert question_text(enps, "de") == (
        "Wie wahrscheinlich ist es, dass du diese Organisation einer Freundin oder einem Freund "
        "als Arbeitgeber empfehlen würdest?"
    )
    assert question_text(workload, "de") == "Ich schaffe meine Arbeit innerhalb meiner normalen Arbeitszeit."


def test_hr_question_is_shown_as_written():
    own = Question(code="hybrid_1", text="Our office days work for me.")

    assert question_text(own, "de") == "Our office days work for me."
    assert question_text(Question(code="blank", text=""), "de") == ""  # not the catalogue header


@pytest.mark.django_db
def test_login_page_speaks_german(client):
    # when a German browser opens the login page, then fails to log in
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    failed = client.post(
        reverse("login"), {"username": "nobody@example.com", "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    # then
    assert '<html lang="de">' in page
    assert "Zum Inhalt springen" in page
    assert "<h1>Anmelden</h1>" in page
    assert "Deine E-Mail-Adresse und dein Passwort passen nicht zusammen. Bitte versuche es noch einmal." in failed


@pytest.mark.django_db
def test_login_page_stays_english_for_english_browsers(client):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "<h1>Log in</h1>" in page
    assert "Anmelden" not in page
