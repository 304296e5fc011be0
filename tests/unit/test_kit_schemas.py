"""The kit's schema base (``infra.schemas``): one rule for field paths, everywhere.

Segments are joined by dots, list items by their index; a nested schema's own (``_schema``)
messages belong to the nested field's path, and only the top-level schema's to ``_schema``.
"""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields, validates_schema

from infra.errors import Invalid
from infra.schemas import Date as KitDate
from infra.schemas import Reply, Strict, Timestamp, flatten_errors, load

# marshmallow's messages -> the errors a caller reads (the one rule, as a table).
FIELD_PATHS = [
    pytest.param({"_schema": ["dates cross"]}, {"_schema": ["dates cross"]}, id="top-level"),
    pytest.param({"title": ["Missing data."]}, {"title": ["Missing data."]}, id="field"),
    pytest.param(
        {"applicant": {"uscc": ["Not a valid string."]}},
        {"applicant.uscc": ["Not a valid string."]},
        id="nested-field",
    ),
    pytest.param(
        {"applicant": {"_schema": ["Invalid input type."]}},
        {"applicant": ["Invalid input type."]},
        id="nested-schema-own-message",
    ),
    pytest.param(
        {"applicant": {"_schema": ["incomplete"], "uscc": ["bad"]}, "_schema": ["top"]},
        {"applicant": ["incomplete"], "applicant.uscc": ["bad"], "_schema": ["top"]},
        id="nested-and-top-level-together",
    ),
    pytest.param(
        {"policies": {3: {"ends_on": ["Not a valid date."]}}},
        {"policies.3.ends_on": ["Not a valid date."]},
        id="list-item-by-index",
    ),
    pytest.param(
        {"policies": {0: {"_schema": ["starts after it ends"]}}},
        {"policies.0": ["starts after it ends"]},
        id="list-item-schema-message",
    ),
    pytest.param({"tags": {1: ["Not a valid string."]}}, {"tags.1": ["Not a valid string."]}),
    pytest.param(
        {"batches": {0: {"policies": {2: {"ends_on": ["Not a valid date."]}}}}},
        {"batches.0.policies.2.ends_on": ["Not a valid date."]},
        id="nested-lists-of-nested-schemas",
    ),
    pytest.param(
        {"a": {"b": {"c": {"_schema": ["deep"]}}}}, {"a.b.c": ["deep"]}, id="deep-nesting"
    ),
    pytest.param({"policies": ["Not a valid list."]}, {"policies": ["Not a valid list."]}),
    pytest.param({"count": "one message"}, {"count": ["one message"]}, id="bare-string"),
    pytest.param({0: {"ends_on": ["bad"]}}, {"0.ends_on": ["bad"]}, id="many-at-top-level"),
]


@pytest.mark.parametrize(("messages", "expected"), FIELD_PATHS)
def test_field_paths_follow_one_rule(messages, expected):
    assert flatten_errors(messages) == expected


def test_a_prefix_roots_every_path():
    messages = {"_schema": ["top"], "items": {2: {"ends_on": ["bad"]}}}
    assert flatten_errors(messages, "policies.4") == {
        "policies.4": ["top"],
        "policies.4.items.2.ends_on": ["bad"],
    }


# --- the same rule through real schemas and ``load`` ----------------------------------------


class Applicant(Strict):
    uscc = fields.String(required=True)
    name = fields.String(required=True)

    @validates_schema
    def name_is_not_the_code(self, data, **kwargs):
        if data["name"] == data["uscc"]:
            raise ValidationError("name and credit code are the same")


class Policy(Strict):
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)


class Batch(Strict):
    policies = fields.List(fields.Nested(Policy), required=True)


class Request(Strict):
    applicant = fields.Nested(Applicant, required=True)
    policies = fields.List(fields.Nested(Policy))
    batches = fields.Nested(Batch, many=True)

    @validates_schema
    def needs_policies_or_batches(self, data, **kwargs):
        if not data.get("policies") and not data.get("batches"):
            raise ValidationError("policies or batches are required")


def policy(ends_on="2015-09-30"):
    return {"starts_on": "2014-10-01", "ends_on": ends_on}


def errors_of(body) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as err:
        load(Request, body)
    return err.value.errors


def test_load_returns_the_loaded_data():
    data = load(Request, {"applicant": {"uscc": "U1", "name": "Unit A"}, "policies": [policy()]})
    assert str(data["policies"][0]["ends_on"]) == "2015-09-30"


def test_load_raises_invalid_with_the_list_item_path():
    body = {"applicant": {"uscc": "U1", "name": "A"}, "policies": [policy()] * 3 + [policy("x")]}
    assert errors_of(body) == {"policies.3.ends_on": ["Not a valid date."]}


def test_a_nested_schemas_own_refusal_is_on_the_nested_field():
    body = {"applicant": {"uscc": "U1", "name": "U1"}, "policies": [policy()]}
    assert errors_of(body) == {"applicant": ["name and credit code are the same"]}


def test_only_the_top_level_schemas_refusal_is_on_schema():
    assert errors_of({"applicant": {"uscc": "U1", "name": "A"}}) == {
        "_schema": ["policies or batches are required"]
    }


def test_nested_lists_of_nested_schemas_are_indexed_at_each_level():
    body = {
        "applicant": {"uscc": "U1", "name": "A"},
        "batches": [{"policies": [policy()]}, {"policies": [policy(), policy("never")]}],
    }
    assert errors_of(body) == {"batches.1.policies.1.ends_on": ["Not a valid date."]}


def test_an_unknown_field_is_refused_on_its_own_path():
    body = {"applicant": {"uscc": "U1", "name": "A", "phone": "1"}, "policies": [policy()]}
    assert errors_of(body) == {"applicant.phone": ["Unknown field."]}


def test_a_nested_object_of_the_wrong_type_is_refused_on_its_field():
    assert errors_of({"applicant": "U1", "policies": [policy()]}) == {
        "applicant": ["Invalid input type."]
    }


def test_a_missing_body_loads_as_an_empty_object():
    assert errors_of(None) == {"applicant": ["Missing data for required field."]}


def test_load_names_what_was_refused_in_the_detail():
    with pytest.raises(Invalid) as err:
        load(Request(), {}, what="policy export")
    assert err.value.detail == "invalid policy export"
    assert err.value.status == 422


def test_a_reply_passes_fields_it_does_not_name():
    class NoticeOut(Reply):
        title = fields.String()

    assert NoticeOut().load({"title": "Lift out of order", "added_later": 1}) == {
        "title": "Lift out of order",
        "added_later": 1,
    }


def test_strict_and_reply_are_marshmallow_schemas():
    assert issubclass(Strict, Schema) and issubclass(Reply, Schema)


# --- dates and timestamps the platform can compute with ------------------------------------


class Window(Strict):
    on = KitDate()
    at = Timestamp()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("on", "0001-01-01"),
        ("on", "1899-12-31"),
        ("on", "2200-01-01"),
        ("on", "9999-12-31"),
        ("at", "9999-12-31T23:59:59-12:00"),
        ("at", "0001-01-01T00:00:00+14:00"),
        ("at", "2014-09-29T09:00:00+15:00"),  # no time zone is that far from UTC
        ("at", "2014-09-29T09:00:00"),  # no offset: which instant is meant?
        ("at", "not a time"),
    ],
)
def test_dates_and_timestamps_out_of_reach_are_refused_on_their_field(field, value):
    with pytest.raises(Invalid) as err:
        load(Window, {field: value})
    assert list(err.value.errors) == [field]


def test_dates_and_timestamps_inside_the_bounds_load():
    data = load(Window, {"on": "1900-01-01", "at": "2199-12-31T23:59:59-12:00"})
    assert str(data["on"]) == "1900-01-01"
    assert data["at"].utcoffset().total_seconds() == -12 * 3600
    assert load(Window, {"at": "2014-09-29T01:00:00Z"})["at"].isoformat() == (
        "2014-09-29T01:00:00+00:00"
    )
