"""``manage.py import_org`` (and ``drf_create_token`` on what it makes)."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from surveys.models import Employee, Team
from surveys.org_import import org_csv_build

User = get_user_model()

ROWS = [
    {"email": "ann@acme.example", "name": "Ann", "team": "Acme/Eng", "timezone": "Europe/Berlin", "locale": "de"},
    {
        "email": "bob@acme.example",
        "name": "Bob",
        "team": "Acme/Eng",
        "timezone": "UTC",
        "role": "manager",
        "manages": "Acme",
    },
]


@pytest.fixture
def org_file(tmp_path: Path) -> Path:
    path = tmp_path / "org.csv"
    path.write_bytes(org_csv_build(ROWS))
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_org", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_prints_a_one_line_summary(db, org_file):
    out, err = run(str(org_file))

    assert out == "employees: 2 created, 0 updated, 0 unchanged; teams: 2 created; users: 1 created, 0 updated\n"
    assert err == ""
    assert Employee.objects.count() == 2


def test_reimport_reports_everything_unchanged(db, org_file):
    run(str(org_file))

    out, _ = run(str(org_file))

    assert out == "employees: 0 created, 0 updated, 2 unchanged; teams: 0 created; users: 0 created, 0 updated\n"


def test_dry_run_writes_nothing(db, org_file):
    out, _ = run(str(org_file), "--dry-run")

    assert out == (
        "employees: 2 created, 0 updated, 0 unchanged; teams: 2 created; users: 1 created, 0 updated "
        "(dry run: nothing written)\n"
    )
    assert (Employee.objects.count(), Team.objects.count(), User.objects.count()) == (0, 0, 0)


def test_a_bad_file_lists_its_errors_on_stderr_and_fails(db, org_file, tmp_path):
    # given a good import, then a file with two bad lines
    run(str(org_file))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        org_csv_build([ROWS[0] | {"name": "Changed"}, ROWS[1] | {"timezone": "Mars/Olympus"}, {"email": "x"}])
    )
    err = StringIO()

    # when / then
    with pytest.raises(CommandError) as caught:
        call_command("import_org", str(bad), stdout=StringIO(), stderr=err)
    assert str(caught.value) == f"{bad}: 5 error(s) in the file; nothing was imported"
    assert err.getvalue().splitlines() == [
        "line 3, column timezone: 'Mars/Olympus' is not an IANA time zone",
        "line 4, column email: 'x' is not a valid e-mail address",
        "line 4, column name: required",
        "line 4, column team: required",
        "line 4, column timezone: required (an IANA time zone such as Europe/Berlin)",
    ]
    assert Employee.objects.get(email="ann@acme.example").name == "Ann"


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match=r"cannot read .*nope\.csv: No such file or directory"):
        run(str(tmp_path / "nope.csv"))


def test_exit_code_and_streams_of_the_real_process(tmp_path):
    # given a bad file, run as an operator would (a fresh SQLite database in a temp data dir)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"email,name\n")
    env = {"PATH": "/usr/bin:/bin", "PULSE_DATA_DIR": str(tmp_path)}

    # when
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_org", str(bad)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then it exits non-zero, errors on stderr, nothing on stdout, no traceback
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "line 1, column team: missing column" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_drf_create_token_works_for_an_imported_manager(db, org_file):
    # given
    run(str(org_file))
    out = StringIO()

    # when
    call_command("drf_create_token", "bob@acme.example", stdout=out)

    # then
    token = Token.objects.get(user__username="bob@acme.example")
    assert out.getvalue() == f"Generated token {token.key} for user bob@acme.example\n"
