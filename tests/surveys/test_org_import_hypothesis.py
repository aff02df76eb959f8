"""Malformed org files never raise anything but OrgImportError, and never import half a file."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from surveys.models import Employee, Team
from surveys.org_import import COLUMNS, OrgImportError, org_csv_build, org_import

User = get_user_model()

GOOD_ROWS = [
    {"email": f"p{n}@acme.example", "name": f"Person {n}", "team": f"Acme/T{n % 3}", "timezone": "Europe/Berlin"}
    for n in range(6)
] + [
    {
        "email": "boss@acme.example",
        "name": "Boss",
        "team": "Acme",
        "timezone": "UTC",
        "role": "manager",
        "manages": "Acme",
    }
]

BAD_VALUES = {
    "email": ["", "no-at-sign", "a@b", "x" * 300 + "@acme.example", "p1@acme.example"],
    "name": ["", "n" * 201],
    "team": ["", "Acme//X", "/", "Acme/" + "t" * 201],
    "timezone": ["", "Mars/Olympus", "utc", "Europe/Berlin "],
    "locale": ["english", "xx", "12"],
    "role": ["boss", "admin"],
    "manages": ["Acme/Nowhere", "Acme//"],
    "left_on": ["2026-02-30", "yesterday", "2026-1-1"],
    "left_reason": ["fired", "voluntary"],
}


def counts() -> tuple[int, ...]:
    return (
        Team.objects.count(),
        Employee.objects.count(),
        Employee.objects.filter(active=True).count(),
        Employee.manages.through.objects.count(),
        User.objects.count(),
        User.objects.filter(is_active=True).count(),
    )


def corrupt_bytes(data: bytes, draw) -> bytes:
    """Damage the raw file: NULs, invalid UTF-8, stray quotes, cut-offs."""
    kind = draw(st.sampled_from(["nul", "latin1", "quote", "truncate", "splice"]))
    at = draw(st.integers(min_value=0, max_value=len(data)))
    if kind == "nul":
        return data[:at] + b"\x00" + data[at:]
    if kind == "latin1":
        return data[:at] + b"\xe9\xff" + data[at:]
    if kind == "quote":
        return data[:at] + b'"' + data[at:]
    if kind == "truncate":
        return data[:at]
    return data[:at] + draw(st.binary(max_size=40)) + data[at:]


@st.composite
def malformed_files(draw) -> bytes:
    """Good rows with bad values, wrong field counts, broken quoting, or plain noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    rows = [dict(row) for row in GOOD_ROWS]
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.sampled_from(rows))
        column = draw(st.sampled_from(sorted(BAD_VALUES)))
        row[column] = draw(st.sampled_from(BAD_VALUES[column]))
    data = org_csv_build(rows)
    lines = data.split(b"\n")
    if draw(st.booleans()):
        index = draw(st.integers(0, len(lines) - 1))
        lines[index] += draw(st.sampled_from([b",extra", b'"', b',"open', b""]))
    if draw(st.booleans()):
        index = draw(st.integers(1, len(lines) - 1))
        lines[index] = lines[index].rsplit(b",", 1)[0]  # one field short
    data = b"\n".join(lines)
    if draw(st.booleans()):
        data = corrupt_bytes(data, draw)
    return data


@pytest.fixture
def seeded(db):
    org_import(data=org_csv_build(GOOD_ROWS[:3]))


@pytest.mark.usefixtures("seeded")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=malformed_files())
def test_malformed_files_are_rejected_whole_or_imported_whole(data):
    # given
    before = counts()

    # when
    try:
        org_import(data=data)
    except OrgImportError as exc:
        # then a rejection names at least one line, and wrote nothing
        event("rejected")
        assert exc.errors
        # (the header's line may name any column it found; a data line only ours)
        assert all(error.line == 1 or (error.line > 1 and error.column in {"", *COLUMNS}) for error in exc.errors)
        assert counts() == before
        return
    # a file that survived the damage was imported whole: applying it again has nothing left to do
    event("imported")
    again = org_import(data=data, dry_run=True)
    assert (again.employees_created, again.employees_updated, again.teams_created) == (0, 0, 0)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=500))
def test_random_bytes_never_raise_anything_else(db, data):
    before = counts()
    try:
        org_import(data=data)
    except OrgImportError:
        assert counts() == before


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.lists(
        st.sampled_from([*'ab@.,"\r\n;/ \t\x00é', "Europe/Berlin", "employee", "manager", "x@acme.example"]),
        max_size=80,
    ).map("".join)
)
def test_random_text_after_a_valid_header_never_raises_anything_else(db, text):
    before = counts()
    data = (",".join(COLUMNS) + "\n" + text).encode("utf-8")
    try:
        org_import(data=data)
    except OrgImportError as exc:
        assert exc.errors
        assert counts() == before
