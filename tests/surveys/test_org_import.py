"""The organisation import service: every error class, the upsert and its idempotence."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.contrib.auth import get_user_model

from surveys.models import Employee, Team
from surveys.org_import import COLUMNS, ImportResult, OrgImportError, RowError, org_csv_build, org_import
from surveys.roles import HR_GROUP_NAME
from tests.factories import EmployeeFactory, TeamFactory, UserFactory

User = get_user_model()
HEADER = ",".join(COLUMNS)
TODAY = "2026-03-10"


def person(**overrides: str) -> dict[str, str]:
    row = {
        "email": "ann@acme.example",
        "name": "Ann Example",
        "team": "Acme/Engineering/Platform",
        "timezone": "Europe/Berlin",
        "locale": "de",
        "role": "employee",
    }
    return row | overrides


BASE_ORG = [
    person(),
    person(email="bob@acme.example", name="Bob Boss", role="manager", manages="Acme/Engineering"),
    person(email="hana@acme.example", name="Hana HR", team="Acme/People", role="hr", locale="en"),
]


def org_snapshot() -> dict[str, object]:
    """Everything the import may write, to prove a rejected file wrote nothing."""
    return {
        "teams": sorted(Team.objects.values_list("path", "parent__path", "name")),
        "employees": sorted(
            Employee.objects.values_list(
                "email", "name", "team__path", "timezone", "locale", "role", "active", "left_on", "left_reason", "user"
            )
        ),
        "manages": sorted(Employee.manages.through.objects.values_list("employee__email", "team__path")),
        "users": sorted(User.objects.values_list("username", "is_active", "is_staff")),
        "groups": sorted(User.groups.through.objects.values_list("user__username", "group__name")),
    }


@pytest.fixture
def base_org(db) -> dict[str, object]:
    org_import(data=org_csv_build(BASE_ORG))
    return org_snapshot()


def assert_rejected(data: bytes, expected: list[RowError], before: dict[str, object]) -> None:
    with pytest.raises(OrgImportError) as caught:
        org_import(data=data)
    assert caught.value.errors == expected
    assert org_snapshot() == before


def row_errors(overrides: dict[str, str]) -> bytes:
    """The base org plus one new person (line 5) with ``overrides``."""
    return org_csv_build([*BASE_ORG, person(email="new@acme.example", name="New") | overrides])


# --- the first import ------------------------------------------------------------------------


def test_first_import_creates_teams_people_and_users(db):
    # when
    result = org_import(data=org_csv_build(BASE_ORG))

    # then
    assert result == ImportResult(employees_created=3, teams_created=4, users_created=2)
    assert sorted(Team.objects.values_list("path", "parent__path", "name")) == [
        ("Acme", None, "Acme"),
        ("Acme/Engineering", "Acme", "Engineering"),
        ("Acme/Engineering/Platform", "Acme/Engineering", "Platform"),
        ("Acme/People", "Acme", "People"),
    ]
    ann = Employee.objects.get(email="ann@acme.example")
    assert (ann.name, ann.team.path, ann.timezone, ann.locale, ann.role, ann.active, ann.user) == (
        "Ann Example",
        "Acme/Engineering/Platform",
        "Europe/Berlin",
        "de",
        "employee",
        True,
        None,
    )
    bob = Employee.objects.get(email="bob@acme.example")
    assert list(bob.manages.values_list("path", flat=True)) == ["Acme/Engineering"]
    assert (bob.user.username, bob.user.email, bob.user.is_staff, bob.user.has_usable_password()) == (
        "bob@acme.example",
        "bob@acme.example",
        False,
        False,
    )
    hana = Employee.objects.get(email="hana@acme.example")
    assert (hana.user.username, hana.user.is_staff, list(hana.user.groups.values_list("name", flat=True))) == (
        "hana@acme.example",
        True,
        [HR_GROUP_NAME],
    )


def test_reimport_of_the_same_file_changes_nothing(base_org):
    # when the same file comes again
    result = org_import(data=org_csv_build(BASE_ORG))

    # then nothing was created or updated, and nothing changed
    assert result == ImportResult(employees_unchanged=3)
    assert org_snapshot() == base_org


def test_defaults_and_normalisation(db):
    # given messy but valid values
    row = person(email=" Ann@ACME.example ", team=" Acme / Sales ", locale="pt_BR", role="", name="  Ann  ")

    # when
    org_import(data=org_csv_build([row]))

    # then
    ann = Employee.objects.get()
    assert (ann.email, ann.name, ann.team.path, ann.locale, ann.role) == (
        "ann@acme.example",
        "Ann",
        "Acme/Sales",
        "pt-br",
        "employee",
    )


def test_blank_locale_means_english(db):
    org_import(data=org_csv_build([person(locale="")]))

    assert Employee.objects.get().locale == "en"


def test_people_missing_from_the_file_are_left_alone(base_org):
    # when a partial file names only Ann
    result = org_import(data=org_csv_build([person(name="Ann Renamed")]))

    # then Bob and Hana are untouched
    assert result == ImportResult(employees_updated=1)
    assert Employee.objects.filter(active=True).count() == 3
    assert Employee.objects.get(email="ann@acme.example").name == "Ann Renamed"


def test_a_team_of_the_database_may_be_managed(base_org):
    # given a team that only the database knows
    TeamFactory(name="Legal", parent=Team.objects.get(path="Acme"))

    # when a manager of it is imported
    org_import(data=org_csv_build([person(email="lea@acme.example", role="manager", manages="Acme/Legal")]))

    # then
    assert list(Employee.objects.get(email="lea@acme.example").manages.values_list("path", flat=True)) == ["Acme/Legal"]


# --- changes ---------------------------------------------------------------------------------


def test_moving_and_renaming_a_person(base_org):
    # when Ann moves to a new team and changes her name
    rows = [person(name="Ann Other", team="Acme/Sales/EMEA", timezone="Europe/London", locale="en"), *BASE_ORG[1:]]
    result = org_import(data=org_csv_build(rows))

    # then only she changed, and the new team (and its parent) exist
    assert result == ImportResult(employees_updated=1, employees_unchanged=2, teams_created=2)
    ann = Employee.objects.get(email="ann@acme.example")
    assert (ann.name, ann.team.path, ann.timezone, ann.locale) == (
        "Ann Other",
        "Acme/Sales/EMEA",
        "Europe/London",
        "en",
    )
    assert Team.objects.get(path="Acme/Sales/EMEA").parent.path == "Acme/Sales"


@time_machine.travel(f"{TODAY} 12:00Z", tick=False)
def test_a_departure_on_or_before_today_deactivates(base_org):
    # when Ann left today and Bob (a manager) left last year
    rows = [
        person(left_on=TODAY, left_reason="voluntary"),
        BASE_ORG[1] | {"left_on": "2025-03-01", "left_reason": "Involuntary"},
        BASE_ORG[2],
    ]
    result = org_import(data=org_csv_build(rows))

    # then both are inactive with the date and reason, and Bob can no longer log in
    assert result == ImportResult(employees_updated=2, employees_unchanged=1, users_updated=1)
    assert sorted(Employee.objects.values_list("email", "active", "left_on", "left_reason")) == [
        ("ann@acme.example", False, date(2026, 3, 10), "voluntary"),
        ("bob@acme.example", False, date(2025, 3, 1), "involuntary"),
        ("hana@acme.example", True, None, ""),
    ]
    assert User.objects.get(username="bob@acme.example").is_active is False


@time_machine.travel(f"{TODAY} 12:00Z", tick=False)
def test_a_future_departure_stays_active_until_then(base_org):
    org_import(data=org_csv_build([person(left_on="2026-03-11", left_reason="voluntary")]))

    ann = Employee.objects.get(email="ann@acme.example")
    assert (ann.active, ann.left_on) == (True, date(2026, 3, 11))


@time_machine.travel(f"{TODAY} 12:00Z", tick=False)
def test_a_returning_manager_is_active_again_with_the_same_user(base_org):
    # given Bob left
    bob_row = BASE_ORG[1]
    org_import(data=org_csv_build([bob_row | {"left_on": "2026-01-01", "left_reason": "voluntary"}]))
    user_id = User.objects.get(username="bob@acme.example").pk

    # when he returns
    result = org_import(data=org_csv_build([bob_row]))

    # then his employee and his user are active again
    assert result == ImportResult(employees_updated=1, users_updated=1)
    bob = Employee.objects.get(email="bob@acme.example")
    assert (bob.active, bob.left_on, bob.left_reason, bob.user_id, bob.user.is_active) == (
        True,
        None,
        "",
        user_id,
        True,
    )


def test_a_manager_who_becomes_an_employee_loses_login_and_teams(base_org):
    # when Bob steps down
    rows = [BASE_ORG[0], person(email="bob@acme.example", name="Bob Boss"), BASE_ORG[2]]
    result = org_import(data=org_csv_build(rows))

    # then his user is inactive and he manages nothing
    assert result == ImportResult(employees_updated=1, employees_unchanged=2, users_updated=1)
    bob = Employee.objects.get(email="bob@acme.example")
    assert (bob.role, list(bob.manages.all()), bob.user.is_active) == ("employee", [], False)


def test_an_employee_promoted_to_hr_gets_a_staff_user_in_the_hr_group(base_org):
    rows = [person(role="hr"), *BASE_ORG[1:]]
    result = org_import(data=org_csv_build(rows))

    assert result == ImportResult(employees_updated=1, employees_unchanged=2, users_created=1)
    user = Employee.objects.get(email="ann@acme.example").user
    assert (user.username, user.is_active, user.is_staff) == ("ann@acme.example", True, True)
    assert list(user.groups.values_list("name", flat=True)) == [HR_GROUP_NAME]


def test_hr_who_becomes_a_manager_leaves_staff_and_the_hr_group(base_org):
    rows = [*BASE_ORG[:2], BASE_ORG[2] | {"role": "manager", "manages": "Acme/People"}]
    org_import(data=org_csv_build(rows))

    user = User.objects.get(username="hana@acme.example")
    assert (user.is_active, user.is_staff, list(user.groups.all())) == (True, False, [])
    assert Employee.objects.get(email="hana@acme.example").user_id == user.pk


def test_changing_what_a_manager_manages(base_org):
    # when Bob manages two other teams instead of Engineering
    rows = [*BASE_ORG[:1], BASE_ORG[1] | {"manages": "Acme/People; Acme/Engineering/Platform;"}, BASE_ORG[2]]
    result = org_import(data=org_csv_build(rows))

    # then
    assert result == ImportResult(employees_updated=1, employees_unchanged=2)
    bob = Employee.objects.get(email="bob@acme.example")
    assert sorted(bob.manages.values_list("path", flat=True)) == ["Acme/Engineering/Platform", "Acme/People"]


def test_an_existing_user_is_adopted(base_org):
    # given an administrator created a user for Ann by hand
    user = UserFactory(username="ann@acme.example", is_superuser=True, is_staff=True)

    # when Ann becomes a manager
    org_import(data=org_csv_build([person(role="manager", manages="Acme/Engineering/Platform")]))

    # then that user is hers, and a superuser keeps the admin
    user.refresh_from_db()
    assert (Employee.objects.get(email="ann@acme.example").user_id, user.is_staff, user.is_active) == (
        user.pk,
        True,
        True,
    )
    assert User.objects.count() == 3


def test_an_existing_email_in_other_case_is_updated_not_duplicated(base_org):
    # given someone typed an e-mail in capitals in the admin
    EmployeeFactory(email="Zed@Acme.example", team=Team.objects.get(path="Acme"))

    # when the import names the same person
    result = org_import(data=org_csv_build([person(email="zed@acme.example", name="Zed")]))

    # then the row is corrected, not doubled
    assert result == ImportResult(employees_updated=1)
    assert list(Employee.objects.filter(email__iexact="zed@acme.example").values_list("email", flat=True)) == [
        "zed@acme.example"
    ]


def test_dry_run_reports_and_writes_nothing(base_org):
    rows = [person(name="Changed"), person(email="new@acme.example", team="Acme/New", role="hr")]

    result = org_import(data=org_csv_build(rows), dry_run=True)

    assert result == ImportResult(
        employees_created=1, employees_updated=1, teams_created=1, users_created=1, dry_run=True
    )
    assert org_snapshot() == base_org


# --- file formats ----------------------------------------------------------------------------


def test_bom_crlf_quotes_embedded_newlines_and_column_order(db):
    # given Excel's UTF-8 CSV: BOM, CRLF, columns in another order, quoted fields
    text = (
        "\ufeffname,email,team,timezone,locale,role,manages,left_on,left_reason\r\n"
        '"Müller, Jörg",jorg@acme.example,"Acme/R&D ""Labs""",Europe/Berlin,de,,,,\r\n'
        '"Line\r\nBreak",lb@acme.example,Acme,UTC,en,,,,\r\n'
    )

    # when
    result = org_import(data=text.encode("utf-8"))

    # then
    assert result.employees_created == 2
    assert sorted(Employee.objects.values_list("email", "name", "team__path")) == [
        ("jorg@acme.example", "Müller, Jörg", 'Acme/R&D "Labs"'),
        ("lb@acme.example", "Line\r\nBreak", "Acme"),
    ]


def test_header_names_are_trimmed_and_case_insensitive(db):
    text = " Email ,NAME,Team,TimeZone,locale,role,manages,left_on,left_reason\nx@acme.example,X,Acme,UTC,,,,,\n"

    assert org_import(data=text.encode()).employees_created == 1


def test_blank_lines_are_skipped(db):
    text = f"{HEADER}\n\nx@acme.example,X,Acme,UTC,,,,,\n,,,,,,,,\n\n"

    assert org_import(data=text.encode()).employees_created == 1


def test_a_header_alone_imports_nothing(base_org):
    assert org_import(data=f"{HEADER}\n".encode()) == ImportResult()
    assert org_snapshot() == base_org


# --- every error class: exact line and column, and nothing written ---------------------------


def test_error_invalid_utf8(base_org):
    data = org_csv_build(BASE_ORG).replace(b"Bob Boss", b"Bob \xff Boss")

    assert_rejected(data, [RowError(3, "", "is not valid UTF-8 (byte 0xff); save it as UTF-8")], base_org)


def test_error_latin1_file_names_every_bad_line(base_org):
    data = org_csv_build([person(name="Jörg"), person(email="b@acme.example", name="Zoë")])

    assert_rejected(
        data.decode().encode("latin-1"),
        [
            RowError(2, "", "is not valid UTF-8 (byte 0xf6); save it as UTF-8"),
            RowError(3, "", "is not valid UTF-8 (byte 0xeb); save it as UTF-8"),
        ],
        base_org,
    )


def test_error_nul_byte(base_org):
    data = org_csv_build(BASE_ORG).replace(b"Hana HR", b"Hana\x00HR")

    assert_rejected(data, [RowError(4, "", "contains a NUL byte; save the file as plain UTF-8 CSV")], base_org)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b" \r\n\n"], ids=["nothing", "bom-only", "whitespace"])
def test_error_empty_file(base_org, data):
    assert_rejected(data, [RowError(1, "", "the file is empty")], base_org)


def test_error_missing_column(base_org):
    data = b"email,name,team,timezone,locale,role,manages,left_on\nx@acme.example,X,Acme,UTC,,,,\n"

    assert_rejected(data, [RowError(1, "left_reason", "missing column")], base_org)


def test_error_unknown_column(base_org):
    data = f"{HEADER},salary\nx@acme.example,X,Acme,UTC,,,,,,1\n".encode()

    assert_rejected(data, [RowError(1, "salary", f"unknown column (expected: {', '.join(COLUMNS)})")], base_org)


def test_error_unnamed_column(base_org):
    data = f"{HEADER},\nx@acme.example,X,Acme,UTC,,,,,,\n".encode()

    assert_rejected(data, [RowError(1, "", "column 10 of the header has no name")], base_org)


def test_error_duplicated_column(base_org):
    data = f"{HEADER},email\nx@acme.example,X,Acme,UTC,,,,,,y@acme.example\n".encode()

    assert_rejected(data, [RowError(1, "email", "duplicated column")], base_org)


def test_error_semicolon_separated_file(base_org):
    data = HEADER.replace(",", ";").encode() + b"\nx@acme.example;X;Acme;UTC;;;;;\n"

    assert_rejected(
        data, [RowError(1, "", "columns must be separated by commas; this file seems to use ';'")], base_org
    )


def test_error_wrong_number_of_fields(base_org):
    data = f"{HEADER}\nx@acme.example,X,Acme,UTC,,,,\ny@acme.example,Y,Acme,UTC,,,,,,\n".encode()

    assert_rejected(
        data,
        [RowError(2, "", "has 8 fields; the header has 9"), RowError(3, "", "has 10 fields; the header has 9")],
        base_org,
    )


def test_error_unbalanced_quotes(base_org):
    data = f'{HEADER}\nx@acme.example,X,Acme,UTC,,,,,\ny@acme.example,"Y,Acme,UTC,,,,,\nz@acme.example,Z\n'.encode()

    assert_rejected(
        data, [RowError(3, "", "malformed CSV: a quoted field is never closed (unbalanced quotes)")], base_org
    )


def test_error_stray_quote_inside_a_quoted_field(base_org):
    data = f'{HEADER}\nx@acme.example,"X"Y,Acme,UTC,,,,,\n'.encode()

    assert_rejected(data, [RowError(2, "", "malformed CSV: ',' expected after '\"'")], base_org)


FIELD_ERRORS = {
    "email-required": ({"email": ""}, "email", "required"),
    "email-invalid": ({"email": "not-an-address"}, "email", "'not-an-address' is not a valid e-mail address"),
    "email-too-long": ({"email": "a" * 250 + "@x.io"}, "email", "longer than 254 characters"),
    "name-required": ({"name": " "}, "name", "required"),
    "name-too-long": ({"name": "n" * 201}, "name", "longer than 200 characters"),
    "team-required": ({"team": ""}, "team", "required"),
    "team-empty-part": (
        {"team": "Acme//X"},
        "team",
        "'Acme//X' has an empty part (team paths look like Acme/Engineering/ML Platform)",
    ),
    "team-trailing-slash": (
        {"team": "Acme/"},
        "team",
        "'Acme/' has an empty part (team paths look like Acme/Engineering/ML Platform)",
    ),
    "team-name-too-long": (
        {"team": "Acme/" + "t" * 201},
        "team",
        f"the team name {'t' * 40!r}… is longer than 200 characters",
    ),
    "team-path-too-long": ({"team": "/".join(["p" * 200] * 6)}, "team", "the team path is longer than 1000 characters"),
    "timezone-required": ({"timezone": ""}, "timezone", "required (an IANA time zone such as Europe/Berlin)"),
    "timezone-unknown": ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone"),
    "timezone-case": (
        {"timezone": "europe/berlin"},
        "timezone",
        "'europe/berlin' is not an IANA time zone; did you mean 'Europe/Berlin'?",
    ),
    "locale-malformed": ({"locale": "english!"}, "locale", "'english!' is not a language tag such as en, de or pt-BR"),
    "locale-unknown": ({"locale": "xx-YY"}, "locale", "'xx-YY' is not a language Django knows"),
    "role-unknown": ({"role": "boss"}, "role", "'boss' is not one of employee, manager, hr"),
    "manages-on-employee": (
        {"manages": "Acme"},
        "manages",
        "only a manager manages teams; this row's role is 'employee'",
    ),
    "manages-on-hr": (
        {"role": "hr", "manages": "Acme"},
        "manages",
        "only a manager manages teams; this row's role is 'hr'",
    ),
    "manager-without-teams": (
        {"role": "manager", "manages": " ; "},
        "manages",
        "a manager must manage at least one team",
    ),
    "manages-bad-path": (
        {"role": "manager", "manages": "Acme;;Acme//X"},
        "manages",
        "'Acme//X' has an empty part (team paths look like Acme/Engineering/ML Platform)",
    ),
    "manager-email-too-long-for-a-username": (
        {"email": "m" * 150 + "@acme.example", "role": "manager", "manages": "Acme"},
        "email",
        "a manager's e-mail is their user name: at most 150 chars",
    ),
    "left-on-format": (
        {"left_on": "10.03.2026", "left_reason": "voluntary"},
        "left_on",
        "'10.03.2026' is not a date (YYYY-MM-DD)",
    ),
    "left-on-impossible-date": (
        {"left_on": "2026-02-30", "left_reason": "voluntary"},
        "left_on",
        "'2026-02-30' is not a date (YYYY-MM-DD)",
    ),
    "left-reason-missing": (
        {"left_on": "2026-02-01"},
        "left_reason",
        "required when left_on is set (voluntary or involuntary)",
    ),
    "left-reason-without-date": ({"left_reason": "voluntary"}, "left_reason", "only allowed together with left_on"),
    "left-reason-unknown": (
        {"left_on": "2026-02-01", "left_reason": "fired"},
        "left_reason",
        "'fired' is not one of voluntary, involuntary",
    ),
}


@pytest.mark.parametrize(("overrides", "column", "message"), FIELD_ERRORS.values(), ids=FIELD_ERRORS.keys())
def test_error_field(base_org, overrides, column, message):
    assert_rejected(row_errors(overrides), [RowError(5, column, message)], base_org)


def test_error_duplicate_email_names_the_first_line(base_org):
    rows = [*BASE_ORG, person(email="ANN@acme.example", name="Another Ann")]

    assert_rejected(
        org_csv_build(rows), [RowError(5, "email", "'ann@acme.example' already appears on line 2")], base_org
    )


def test_error_unknown_managed_team(base_org):
    rows = [*BASE_ORG, person(email="m@acme.example", role="manager", manages="Acme/Engineering;Acme/Enginering")]

    assert_rejected(
        org_csv_build(rows),
        [
            RowError(
                5, "manages", "unknown team 'Acme/Enginering': no row of the file is in it, nor is it in the database"
            )
        ],
        base_org,
    )


def test_error_user_of_the_email_belongs_to_someone_else(base_org):
    # given Ann's employee was linked by hand to a user named after another address
    user = UserFactory(username="carl@acme.example")
    Employee.objects.filter(email="ann@acme.example").update(user=user)
    before = org_snapshot()

    # when Carl is imported as a manager
    rows = [person(email="carl@acme.example", role="manager", manages="Acme")]

    # then
    assert_rejected(
        org_csv_build(rows),
        [RowError(2, "email", "the user 'carl@acme.example' belongs to ann@acme.example; fix it in the admin")],
        before,
    )


def test_every_error_of_the_file_is_listed_in_line_order(base_org):
    # given errors on three lines, one of them only detectable across rows
    rows = [
        person(email="m@acme.example", role="manager", manages="Acme/Nowhere"),
        person(email="bad", timezone="Nowhere"),
        *BASE_ORG,
        person(email="x@acme.example", left_on="2026-01-01"),
    ]

    # then all are reported, sorted by line, columns in file order within a line
    assert_rejected(
        org_csv_build(rows),
        [
            RowError(
                2, "manages", "unknown team 'Acme/Nowhere': no row of the file is in it, nor is it in the database"
            ),
            RowError(3, "email", "'bad' is not a valid e-mail address"),
            RowError(3, "timezone", "'Nowhere' is not an IANA time zone"),
            RowError(7, "left_reason", "required when left_on is set (voluntary or involuntary)"),
        ],
        base_org,
    )


def test_line_numbers_count_physical_lines_of_multiline_fields(base_org):
    text = f'{HEADER}\nx@acme.example,"Two\nLines",Acme,UTC,,,,,\ny@acme.example,Y,Acme,Mars,,,,,\n'

    assert_rejected(text.encode(), [RowError(4, "timezone", "'Mars' is not an IANA time zone")], base_org)


def test_a_manager_of_a_team_whose_row_has_another_error_gets_no_unknown_team_error(base_org):
    rows = [
        person(email="x@acme.example", team="Acme/Legal", timezone="Nowhere"),
        person(email="m@acme.example", role="manager", manages="Acme/Legal"),
    ]

    assert_rejected(org_csv_build(rows), [RowError(2, "timezone", "'Nowhere' is not an IANA time zone")], base_org)


def test_row_error_formats():
    assert str(RowError(3, "timezone", "bad")) == "line 3, column timezone: bad"
    assert str(RowError(1, "", "the file is empty")) == "line 1: the file is empty"
    assert RowError(1, "", "x").as_dict() == {"line": 1, "column": None, "message": "x"}


@pytest.mark.postgres
def test_concurrent_imports_of_the_same_new_people_both_succeed(transactional_db):
    # given two HR integrations that send the same new file at the same moment
    import threading

    from django.db import connection

    data = org_csv_build([*BASE_ORG, *(person(email=f"p{n}@acme.example", name=f"P{n}") for n in range(50))])
    results: list[ImportResult] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            results.append(org_import(data=data))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then one created everyone, the other found them all unchanged (the import lock serialised them)
    assert failures == []
    assert sorted((r.employees_created, r.employees_unchanged) for r in results) == [(0, 53), (53, 0)]
    assert Employee.objects.count() == 53
    assert User.objects.count() == 2
