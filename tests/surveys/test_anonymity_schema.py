"""Submissions and responses are unlinkable by construction (DESIGN.md, Anonymity 1), checked on
the real schema.

Both the models and the tables the migrations actually built are inspected, so neither a
model change nor a hand-written migration can slip a person, a time or an order in.
"""

from __future__ import annotations

import uuid
from collections import deque

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, models

from surveys.models import Answer, Comment, Employee, Invitation, Response, Submission, Team, Wave

ANONYMOUS = (Submission, Response, Answer, Comment)
PERSONAL = (Employee, Invitation, get_user_model())
TIME_FIELDS = (models.DateField, models.DateTimeField, models.TimeField, models.DurationField)  # DateTime ⊂ Date
TIME_TYPES = {"DateField", "DateTimeField", "TimeField", "DurationField"}
EXPECTED_COLUMNS = {
    # a sealed box and the team at launch, where the seal starts attributing: no person, no time
    Submission: {"id", "wave_id", "team_id", "key", "box"},
    Response: {"id", "wave_id", "team_id"},
    Answer: {"id", "response_id", "question_id", "value"},
    # deliberately no response_id: a comment's wording can't be joined to its author's scores
    Comment: {"id", "wave_id", "team_id", "text"},
}


def _forward_relations(model: type[models.Model]):
    """Relations this model holds (FK, one-to-one, many-to-many it declares), not reverse ones.

    Reverse relations (Team.members, Team.managers) don't count: they are other tables
    pointing at this one, and nothing in a response row leads through them.
    """
    for field in model._meta.get_fields():
        if field.is_relation and not field.auto_created and field.related_model is not None:
            yield field, field.related_model


def _reachable_models(start: type[models.Model]) -> dict[type[models.Model], list[str]]:
    """Every model reachable from ``start`` through forward relations, with the path taken."""
    paths = {start: [start.__name__]}
    queue = deque([start])
    while queue:
        model = queue.popleft()
        for field, target in _forward_relations(model):
            if target not in paths:
                paths[target] = [*paths[model], f".{field.name} → {target.__name__}"]
                queue.append(target)
    return paths


def _reachable_tables(start: str) -> dict[str, list[str]]:
    """Every table reachable from ``start`` through the foreign keys the database has."""
    paths = {start: [start]}
    queue = deque([start])
    with connection.cursor() as cursor:
        while queue:
            table = queue.popleft()
            for column, (_, target) in connection.introspection.get_relations(cursor, table).items():
                if target not in paths:
                    paths[target] = [*paths[table], f".{column} → {target}"]
                    queue.append(target)
    return paths


def _columns(model: type[models.Model]) -> dict[str, str]:
    """The table's actual columns, with the Django field type introspection maps each to."""
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, model._meta.db_table)
    return {col.name: connection.introspection.get_field_type(col.type_code, col) for col in description}


# ----------------------------------------------------------------- no path to a person


@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_no_model_relation_leads_to_a_person(model):
    reachable = _reachable_models(model)

    leaks = {target.__name__: "".join(path) for target, path in reachable.items() if target in PERSONAL}
    assert leaks == {}
    # the walk does see what a response legitimately points at
    assert Team in reachable
    assert Wave in reachable


@pytest.mark.django_db
@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_no_database_foreign_key_leads_to_a_person(model):
    reachable = _reachable_tables(model._meta.db_table)

    personal_tables = {m._meta.db_table for m in PERSONAL}
    leaks = {table: "".join(path) for table, path in reachable.items() if table in personal_tables}
    assert leaks == {}
    assert Team._meta.db_table in reachable


def test_the_walks_would_find_a_person():
    # The same walks from the invitation (which does name a person) find them: the tests
    # above are not vacuous.
    assert Employee in _reachable_models(Invitation)
    assert get_user_model() in _reachable_models(Invitation)


@pytest.mark.django_db
def test_the_database_walk_would_find_a_person():
    assert Employee._meta.db_table in _reachable_tables(Invitation._meta.db_table)


# -------------------------------------------------------------- exactly these columns


@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_model_has_exactly_the_anonymous_fields(model):
    assert {field.column for field in model._meta.concrete_fields} == EXPECTED_COLUMNS[model]


@pytest.mark.django_db
@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_table_has_exactly_the_anonymous_columns(model):
    assert set(_columns(model)) == EXPECTED_COLUMNS[model]


# ------------------------------------------------------------------------ no times


@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_model_has_no_time_fields(model):
    time_fields = [f.name for f in model._meta.concrete_fields if isinstance(f, TIME_FIELDS)]
    assert time_fields == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_table_has_no_time_columns(model):
    columns = _columns(model)
    assert {name: kind for name, kind in columns.items() if kind in TIME_TYPES} == {}


def test_the_invitation_records_an_answer_without_a_time():
    # `responded` is a plain flag, and the invitation's only times are about sending: a new
    # time column (say `responded_at`) would have to be argued past this test.
    responded = Invitation._meta.get_field("responded")
    assert type(responded) is models.BooleanField
    time_columns = {f.name for f in Invitation._meta.concrete_fields if isinstance(f, TIME_FIELDS)}
    assert time_columns == {"send_at", "sent_at", "remind_at", "reminded_at", "lease_until"}


@pytest.mark.django_db
def test_the_invitation_table_has_no_answer_time_column():
    columns = _columns(Invitation)
    time_columns = {name for name, kind in columns.items() if kind in TIME_TYPES}
    assert time_columns == {"send_at", "sent_at", "remind_at", "reminded_at", "lease_until"}
    assert columns["responded"] == "BooleanField"


# ------------------------------------------------------------- random, not sequential


@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_primary_key_is_a_random_uuid(model):
    pk = model._meta.pk
    assert type(pk) is models.UUIDField
    # uuid4, not uuid1/uuid7 (time-ordered) or anything sequential
    assert pk.default is uuid.uuid4
    assert model._meta.get_field("id") is pk


@pytest.mark.django_db
@pytest.mark.parametrize("model", ANONYMOUS, ids=lambda m: m.__name__)
def test_table_id_is_not_generated_by_the_database(model):
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # a uuid column, no sequence, no default, no identity: the id comes from uuid4 only
            assert connection.introspection.get_sequences(cursor, table) == []
            cursor.execute(
                "SELECT data_type, column_default, is_identity FROM information_schema.columns "
                "WHERE table_name = %s AND column_name = 'id'",
                [table],
            )
            assert cursor.fetchall() == [("uuid", None, "NO")]
        else:
            # SQLite: not an INTEGER PRIMARY KEY (which would be the sequential rowid itself)
            cursor.execute(f"SELECT type, dflt_value, pk FROM pragma_table_info('{table}') WHERE name = 'id'")
            assert cursor.fetchall() == [("char(32)", None, 1)]
