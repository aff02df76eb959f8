"""The export's rows (analytics.selectors.export_rows) and files (analytics.exports): exact rows of a
sealed organisation, suppression with reasons, formula injection, flat queries."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from itertools import groupby

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from analytics import exports, selectors
from analytics.models import DimensionRelease, ExportAudit, GroupRelease, TeamRisk, TeamTrend
from surveys.models import Employee, Question, SurveyQuestion
from tests.analytics.export_org import org_create, wave_answered, wave_closed
from tests.factories import (
    DimensionReleaseFactory,
    EmployeeFactory,
    GroupReleaseFactory,
    QuestionFactory,
    SealedWaveFactory,
    SurveyFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UPWARD = (
    "this team's answers are counted with Acme, so that every group holds at least 5; "
    "it has no results of its own for this wave"
)


def _csv(scope: selectors.ExportScope) -> list[list[str]]:
    stream = exports.report_export(scope=scope, format="csv", channel=ExportAudit.Channel.CLI)
    return list(csv.reader(io.StringIO(b"".join(stream).decode())))


def test_the_csv_of_a_sealed_organisation_holds_exactly_what_the_gate_released():
    # given
    org = org_create()
    wave = wave_closed(org)
    day = wave.opens_on.isoformat()
    acme, eng, ml, sales = (org[t].pk for t in ("acme", "eng", "ml", "sales"))
    no_trend = ["insufficient_data", "", "", "insufficient_data"]  # one wave: no trend, no risk yet

    # when
    rows = _csv(selectors.export_scope(user=None))

    # then
    assert rows[0] == list(exports.COLUMNS)
    assert rows[0][:7] == ["team_path", "wave_opens_on", "dimension", "respondents", "mean", "favorable", "suppressed"]
    w = wave.pk
    assert rows[1:] == [
        # Acme holds everyone: workload 50 / 16 = 3.125, 10 of 32 items favourable; eNPS 124 / 16,
        # promoters 6 / 16, (6 - 5) / 16 = 6.25 points (both halves rounded to even, as floats do)
        ["Acme", day, "workload", "16", "3.12", "0.312", "false", str(acme), str(w), "", "", *no_trend],
        ["Acme", day, "enps", "16", "7.75", "0.375", "false", str(acme), str(w), "", "6.2", *no_trend],
        # Eng: its own 6 and ML's 5 (as GET /results/ says)
        ["Acme/Eng", day, "workload", "11", "3.36", "0.455", "false", str(eng), str(w), "", "", *no_trend],
        ["Acme/Eng", day, "enps", "11", "8.0", "0.545", "false", str(eng), str(w), "", "27.3", *no_trend],
        # ML: 22 / 5, every item favourable (each 4 or 5: a whole point apart); eNPS 46 / 5, 3 of 5
        # promoters and no detractor (each anywhere in 7–10)
        ["Acme/Eng/ML", day, "workload", "5", "4.4", "1.0", "false", str(ml), str(w), "", "", *no_trend],
        ["Acme/Eng/ML", day, "enps", "5", "9.2", "0.6", "false", str(ml), str(w), "", "60.0", *no_trend],
        # Sales' answers went to Acme: one suppressed row per dimension, with the reason
        ["Acme/Sales", day, "workload", "", "", "", "true", str(sales), str(w), UPWARD, "", *no_trend],
        ["Acme/Sales", day, "enps", "", "", "", "true", str(sales), str(w), UPWARD, "", *no_trend],
    ]


def test_every_row_equals_what_the_results_api_releases_for_the_team():
    org = org_create()
    wave = wave_closed(org)
    hr = EmployeeFactory(role=Employee.Role.HR, user=UserFactory()).user

    rows = list(selectors.export_rows(scope=selectors.export_scope(user=hr)))

    assert len(rows) == 8
    for row in rows:
        result = selectors.team_results(user=hr, team_id=row.team, wave_id=wave.pk)
        released = {d.dimension: d for d in result.dimensions}
        if row.dimension in released:
            d = released[row.dimension]
            assert (row.respondents, row.mean, row.favorable, row.enps) == (d.respondents, d.mean, d.favorable, d.enps)
        else:  # a team without results of its own: hidden with the team's reason
            assert (row.mean.value, row.favorable.value, row.reason) == (None, None, result.reason)


def test_open_and_unreleased_waves_are_not_exported():
    # given: one wave still open, one closed but not yet analysed (no release)
    org = org_create()
    wave_answered(org)
    SealedWaveFactory()

    # then
    assert list(selectors.exportable_waves(user=None)) == []
    assert _csv(selectors.export_scope(user=None)) == [list(exports.COLUMNS)]


def test_a_team_filter_brings_the_subtree_and_a_wave_filter_the_waves():
    org = org_create()
    wave = wave_closed(org)

    scope = selectors.export_scope(user=None, wave_ids=[wave.pk], team_paths=["Acme/Eng"])
    rows = list(selectors.export_rows(scope=scope))

    assert [(r.team_path, r.dimension) for r in rows] == [
        ("Acme/Eng", "workload"),
        ("Acme/Eng", "enps"),
        ("Acme/Eng/ML", "workload"),
        ("Acme/Eng/ML", "enps"),
    ]
    assert scope.filters == {"waves": [wave.pk], "teams": [org["eng"].pk], "team_paths": ["Acme/Eng"]}


def test_a_manager_exports_only_the_subtrees_they_manage():
    org = org_create()
    wave_closed(org)
    manager = EmployeeFactory(role=Employee.Role.MANAGER, user=UserFactory())
    manager.manages.set([org["eng"]])

    rows = list(selectors.export_rows(scope=selectors.export_scope(user=manager.user)))

    assert sorted({r.team_path for r in rows}) == ["Acme/Eng", "Acme/Eng/ML"]
    with pytest.raises(selectors.ExportFilterError) as refused:
        selectors.export_scope(user=manager.user, team_ids=[org["acme"].pk])
    assert refused.value.field == "teams"


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"wave_ids": [987654]}, "waves"), ({"team_ids": [987654]}, "teams"), ({"team_paths": ["Nowhere"]}, "teams")],
)
def test_a_filter_naming_nothing_exportable_is_refused_with_its_name(filters, field):
    org = org_create()
    wave_closed(org)

    with pytest.raises(selectors.ExportFilterError) as refused:
        selectors.export_scope(user=None, **filters)

    assert refused.value.field == field
    assert ("987654" in refused.value.message) or ("Nowhere" in refused.value.message)


def test_an_open_wave_is_refused_by_the_wave_filter():
    org = org_create()
    wave = wave_answered(org)

    with pytest.raises(selectors.ExportFilterError) as refused:
        selectors.export_scope(user=None, wave_ids=[wave.pk])

    assert refused.value.field == "waves"
    assert refused.value.message == f"No closed wave with released results has the id {wave.pk}."


def _survey(*dimensions: str):
    survey = SurveyFactory()
    for position, dimension in enumerate(dimensions):
        question = QuestionFactory(
            dimension=dimension, scale=Question.Scale.NPS11 if dimension == "enps" else Question.Scale.LIKERT5
        )
        SurveyQuestion.objects.create(survey=survey, question=question, position=position)
    return survey


def test_trend_and_risk_are_the_teams_current_ones_and_enps_only_on_its_dimension():
    # given: two released waves of one team, a stored trend for one dimension and a risk level
    survey = _survey("workload", "enps")
    team = TeamFactory(name="Ops")
    first, second = (
        SealedWaveFactory(survey=survey, opens_on=date(2026, 1, 5) + timedelta(days=14 * i)) for i in range(2)
    )
    for wave in (first, second):
        GroupReleaseFactory(wave=wave, team=team)
        DimensionReleaseFactory(wave=wave, team=team, dimension="workload", mean=3.25, favorable=0.5)
        DimensionReleaseFactory(wave=wave, team=team, dimension="enps", mean=7.5, favorable=0.4, enps=-12.5)
    TeamTrend.objects.create(
        team=team, dimension="workload", direction="declining", slope=-0.21, p_value=0.004, computed_at=timezone.now()
    )
    TeamRisk.objects.create(team=team, wave=second, level="elevated", score=0.12, computed_at=timezone.now())

    # when
    rows = _csv(selectors.export_scope(user=None))

    # then: oldest wave first; the same current trend and risk on both waves' rows
    tail = lambda wave, reason, enps, *trend: [str(team.pk), str(wave.pk), reason, enps, *trend, "elevated"]  # noqa: E731
    assert rows[1:] == [
        [
            "Ops",
            "2026-01-05",
            "workload",
            "8",
            "3.25",
            "0.5",
            "false",
            *tail(first, "", "", "declining", "-0.21", "0.004"),
        ],
        [
            "Ops",
            "2026-01-05",
            "enps",
            "8",
            "7.5",
            "0.4",
            "false",
            *tail(first, "", "-12.5", "insufficient_data", "", ""),
        ],
        [
            "Ops",
            "2026-01-19",
            "workload",
            "8",
            "3.25",
            "0.5",
            "false",
            *tail(second, "", "", "declining", "-0.21", "0.004"),
        ],
        [
            "Ops",
            "2026-01-19",
            "enps",
            "8",
            "7.5",
            "0.4",
            "false",
            *tail(second, "", "-12.5", "insufficient_data", "", ""),
        ],
    ]


def test_a_team_nobody_answered_in_gets_a_suppressed_row_per_dimension_of_the_survey():
    survey = _survey("workload", "growth")
    wave = SealedWaveFactory(survey=survey)
    team = TeamFactory(name="Quiet")
    GroupReleaseFactory(wave=wave, team=team, state=GroupRelease.State.NONE, invited=6, responded=0)

    rows = list(selectors.export_rows(scope=selectors.export_scope(user=None)))

    assert [(r.dimension, r.respondents, r.mean.value, r.favorable.value, r.reason) for r in rows] == [
        ("workload", None, None, None, "nobody answered"),
        ("growth", None, None, None, "nobody answered"),
    ]


def test_a_suppressed_value_is_empty_in_every_column_that_holds_a_value():
    survey = _survey("enps")
    wave = SealedWaveFactory(survey=survey)
    team = TeamFactory(name="Small")
    GroupReleaseFactory(wave=wave, team=team)
    DimensionReleaseFactory(
        wave=wave, team=team, dimension="enps", respondents=4, mean=None, enps=None, reason="few_answers"
    )

    (row,) = _csv(selectors.export_scope(user=None))[1:]

    cells = dict(zip(exports.COLUMNS, row, strict=True))
    assert (cells["mean"], cells["favorable"], cells["enps"], cells["suppressed"]) == ("", "", "", "true")
    assert cells["reason"] == "fewer than 5 answers"
    assert cells["respondents"] == "4"  # a count is participation, released for the group


# --- formula injection -------------------------------------------------------------------------

DANGEROUS = ['=HYPERLINK("http://x","y")', "+1+2", "-3+4", "@SUM(A1)", "\tTab", "\rReturn"]


def _teams_named(names: list[str]) -> None:
    survey = _survey("workload")
    wave = SealedWaveFactory(survey=survey)
    for name in names:
        team = TeamFactory(name=name)
        GroupReleaseFactory(wave=wave, team=team)
        DimensionReleaseFactory(wave=wave, team=team, dimension="workload", mean=3.0)
        TeamTrend.objects.create(
            team=team, dimension="workload", direction="declining", slope=-0.5, p_value=0.01, computed_at=timezone.now()
        )


def test_csv_text_cells_that_a_spreadsheet_would_evaluate_get_a_leading_quote():
    _teams_named([*DANGEROUS, "Safe-Team"])

    rows = _csv(selectors.export_scope(user=None))[1:]

    paths = sorted(row[0] for row in rows)
    assert paths == sorted(["'" + name for name in DANGEROUS] + ["Safe-Team"])
    assert {row[12] for row in rows} == {"-0.5"}  # numbers are numbers, negative ones too


def test_xlsx_text_cells_are_strings_never_formulas():
    _teams_named([*DANGEROUS, "Safe-Team"])
    stream = exports.report_export(scope=selectors.export_scope(user=None), format="xlsx", channel="cli")

    sheet = load_workbook(io.BytesIO(b"".join(stream)))["Report"]
    rows = list(sheet.iter_rows())

    assert [c.value for c in rows[0]] == list(exports.COLUMNS)
    paths = {row[0].value: row[0].data_type for row in rows[1:]}
    # exactly the name, as text (an XML parser reads a carriage return as a line feed)
    assert paths == dict.fromkeys([*(n.replace("\r", "\n") for n in DANGEROUS), "Safe-Team"], "s")
    assert {(row[4].value, row[4].data_type) for row in rows[1:]} == {(3.0, "n")}
    assert {(row[12].value, row[12].data_type) for row in rows[1:]} == {(-0.5, "n")}
    assert {(row[6].value, row[6].data_type) for row in rows[1:]} == {(False, "b")}


def test_the_xlsx_holds_the_same_rows_as_the_csv():
    org = org_create()
    wave_closed(org)
    scope = selectors.export_scope(user=None)

    sheet = load_workbook(io.BytesIO(b"".join(exports.report_export(scope=scope, format="xlsx", channel="cli"))))
    workbook_rows = list(sheet["Report"].iter_rows(values_only=True))

    csv_rows = _csv(scope)
    assert len(workbook_rows) == len(csv_rows) == 9
    for in_workbook, in_csv in zip(workbook_rows, csv_rows, strict=True):
        assert [_as_csv(value) for value in in_workbook] == [_as_csv(_number(text)) for text in in_csv]


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def _as_csv(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(float(value))
    if hasattr(value, "date"):  # openpyxl reads a date cell back as a datetime
        return value.date().isoformat()
    return str(value)


# --- flat queries ------------------------------------------------------------------------------


def _organisation(*, teams: int, waves: int) -> None:
    """Released rows in bulk: ``teams`` teams × ``waves`` waves × 3 dimensions, a trend and a risk per team."""
    survey = _survey("workload", "growth", "enps")
    wave_rows = [
        SealedWaveFactory(survey=survey, opens_on=date(2026, 1, 5) + timedelta(days=14 * i)) for i in range(waves)
    ]
    team_rows = TeamFactory.create_batch(teams)
    GroupRelease.objects.bulk_create(
        GroupRelease(wave=w, team=t, path=t.path, state="results", group=t, invited=9, responded=8)
        for w in wave_rows
        for t in team_rows
    )
    DimensionRelease.objects.bulk_create(
        DimensionRelease(wave=w, team=t, dimension=d, respondents=8, mean=3.5, favorable=0.5)
        for w in wave_rows
        for t in team_rows
        for d in ("workload", "growth", "enps")
    )
    now = timezone.now()
    TeamTrend.objects.bulk_create(
        TeamTrend(team=t, dimension="workload", direction="stable", slope=0.0, p_value=0.5, computed_at=now)
        for t in team_rows
    )
    TeamRisk.objects.bulk_create(TeamRisk(team=t, level="low", score=0.01, computed_at=now) for t in team_rows)


@pytest.mark.parametrize(("teams", "waves"), [(3, 2), (120, 8)])  # 18 rows; 2,880 rows (more than a chunk)
def test_the_export_reads_in_the_same_few_queries_whatever_the_size(teams, waves, django_assert_num_queries):
    _organisation(teams=teams, waves=waves)
    scope = selectors.export_scope(user=None)

    # the survey's dimensions, group releases, dimension releases, trends, risks
    with django_assert_num_queries(5):
        rows = sum(1 for _ in selectors.export_rows(scope=scope))

    assert rows == teams * waves * 3


def test_a_whole_audited_export_costs_the_same_queries_for_a_small_and_a_large_organisation():
    counts = []
    for teams, waves in ((2, 1), (60, 6)):
        _organisation(teams=teams, waves=waves)
        with CaptureQueriesContext(connection) as queries:
            stream = exports.report_export(scope=selectors.export_scope(user=None), format="csv", channel="cli")
            b"".join(stream)
        counts.append(len(queries))
        ExportAudit.objects.all().delete()
        for model in (DimensionRelease, GroupRelease, TeamTrend, TeamRisk):
            model.objects.all().delete()

    assert counts[0] == counts[1]


def test_a_dimension_release_without_its_group_release_stops_the_export_loudly():
    # given: the gate always writes both; a row without its group would put the merge out of step
    survey = _survey("workload")
    wave = SealedWaveFactory(survey=survey)
    GroupReleaseFactory(wave=wave, team=TeamFactory(name="B"))
    DimensionReleaseFactory(wave=wave, team=TeamFactory(name="A"), dimension="workload")

    # when / then
    with pytest.raises(RuntimeError, match="without its group release"):
        list(selectors.export_rows(scope=selectors.export_scope(user=None)))


# --- the CSV as csv.writer writes it -----------------------------------------------------------


def _awkward_organisation() -> tuple[list, list]:
    """Texts csv.writer must quote, formula starts, suppressed and upward rows, values that repeat
    and values that don't, a team missing a dimension, and waves whose ids run against their days."""
    survey = _survey("enps", "workload", "growth")
    later = SealedWaveFactory(survey=survey, opens_on=date(2026, 3, 2))
    earlier = SealedWaveFactory(survey=survey, opens_on=date(2026, 2, 2))  # a back-filled wave: a higher id
    root = TeamFactory(name="Acme")
    teams = [
        root,
        TeamFactory(name='Say "hi", then, go', parent=root),
        TeamFactory(name="Line\nbreak", parent=root),
        TeamFactory(name="=1+1", parent=root),
        TeamFactory(name="Plain", parent=root),
    ]
    now = timezone.now()
    for i, team in enumerate(teams):
        TeamTrend.objects.create(
            team=team, dimension="workload", direction="declining", slope=-0.25 * i, p_value=0.01, computed_at=now
        )
        if i % 2:
            TeamRisk.objects.create(team=team, level="elevated", score=0.3, computed_at=now)
        for w, wave in enumerate((later, earlier)):
            if i == 2 and w == 1:
                GroupReleaseFactory(
                    wave=wave, team=team, state=GroupRelease.State.UPWARD, group=root, participation_reason="upward"
                )
                continue
            GroupReleaseFactory(wave=wave, team=team)
            for d, dimension in enumerate(["growth", "workload", "enps"][: 2 if i == 4 else 3]):
                hidden = (i + w + d) % 4 == 0
                DimensionReleaseFactory(
                    wave=wave,
                    team=team,
                    dimension=dimension,
                    respondents=7 + i,
                    mean=None if hidden else [3.5, 2.25, 4.0][(i + d) % 3] + (0.125 if i == 3 else 0),
                    favorable=None if hidden else 0.5,
                    enps=(None if hidden else -12.5 * d) if dimension == "enps" else None,
                    reason="few_answers" if hidden else "",
                )
    return teams, [earlier, later]


def _csv_writer_bytes(rows: list) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(exports.COLUMNS)
    writer.writerows(exports.csv_cells(row) for row in rows)
    return buffer.getvalue().encode()


@pytest.mark.parametrize("limit", [1, 2048])  # every cache emptied at each new entry; the default
def test_the_csv_is_byte_for_byte_what_csv_writer_writes_of_every_rows_cells(limit, monkeypatch):
    # given
    _awkward_organisation()
    for holder in (exports._CsvPieces, selectors._ShownValues, selectors._ReleasedValues, selectors._InDimensionOrder):
        monkeypatch.setattr(holder, "LIMIT", limit)
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 4)
    scope = selectors.export_scope(user=None)
    rows = list(selectors.export_rows(scope=scope))

    # when
    written = b"".join(exports.csv_chunks(iter(rows)))

    # then
    assert len(rows) == 5 * 2 * 3 - 2  # "Plain" has no enps release in either wave
    assert written == _csv_writer_bytes(rows)
    assert b'"Acme/Say ""hi"", then, go"' in written
    assert b'"Acme/Line\nbreak"' in written
    assert b"\r\n'Acme/=1+1," not in written  # the path starts with "Acme", so no quote is needed...
    assert b"\r\nAcme/=1+1," in written


def test_each_teams_waves_come_by_day_and_its_dimensions_in_the_surveys_order():
    teams, (earlier, later) = _awkward_organisation()

    rows = list(selectors.export_rows(scope=selectors.export_scope(user=None)))

    plain = [(r.wave, r.dimension) for r in rows if r.team == teams[4].pk]
    assert plain == [(earlier.pk, "workload"), (earlier.pk, "growth"), (later.pk, "workload"), (later.pk, "growth")]
    upward = [(r.wave, r.dimension, r.respondents, r.mean) for r in rows if r.team == teams[2].pk][:3]
    assert upward == [(earlier.pk, d, None, selectors.Released(None, UPWARD)) for d in ("workload", "growth", "enps")]
    paths = [path for path, _ in groupby(r.team_path for r in rows)]
    assert paths == sorted(t.path for t in teams)  # each team's rows together, paths in byte order


def test_a_dimension_release_of_a_wave_its_team_has_no_group_release_in_stops_the_export_loudly():
    # given: the team has a group release in one wave and a dimension release in another
    survey = _survey("workload")
    first, second = SealedWaveFactory(survey=survey), SealedWaveFactory(survey=survey)
    team = TeamFactory(name="A")
    GroupReleaseFactory(wave=first, team=team)
    DimensionReleaseFactory(wave=first, team=team, dimension="workload")
    GroupReleaseFactory(wave=second, team=TeamFactory(name="B"))
    DimensionReleaseFactory(wave=second, team=team, dimension="workload")

    # when / then
    with pytest.raises(RuntimeError, match="without its group release"):
        list(selectors.export_rows(scope=selectors.export_scope(user=None)))
