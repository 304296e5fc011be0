"""Every date and time field of the licensing schemas refuses what the platform cannot compute
with (dates at both ends of the calendar, timestamps with extreme offsets) on its own field:
a 422 naming it, never an overflow deep in date arithmetic (a 500 at the edge, a 502 from the
service)."""

from __future__ import annotations

import inspect

import pytest
from marshmallow import Schema, ValidationError, fields

from infra.schemas import load
from infra.testing import env
from services.licensing.schemas import applications, audits, base, delegations, licences
from services.licensing.schemas.base import AsOf, AsOfQuery

MODULES = (applications, audits, base, delegations, licences)


def date_fields() -> list[tuple[type[Schema], str, fields.Field]]:
    """(schema, field name, field) of every date or time field the licensing schemas declare."""
    found = []
    for module in MODULES:
        for _, schema in inspect.getmembers(module, inspect.isclass):
            if not issubclass(schema, Schema) or schema.__module__ != module.__name__:
                continue
            for name, field in schema._declared_fields.items():
                if isinstance(field, fields.Date | fields.DateTime | AsOf):
                    found.append((schema, name, field))
    return found


FIELDS = date_fields()
EXTREMES = ["0001-01-01", "1000-06-15", "2500-01-01", "9999-12-31"]
MOMENTS = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2014-09-29T09:00:00+18:00"]


@pytest.fixture(autouse=True)
def clock_2014(tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("2014-09-29T09:00:00+08:00")
    with env(SESP_CLOCK_FILE=str(clock)):
        yield


def test_the_walk_finds_the_date_fields():
    names = {f"{schema.__name__}.{name}" for schema, name, _ in FIELDS}
    assert {
        "ApproveIn.valid_until",
        "PersonIn.born_on",
        "ConstructionSubject.starts_on",
        "AsOfQuery.as_of",
        "DelegationIn.effective_from",
    } <= names


@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize(
    ("schema", "name"),
    [(s, n) for s, n, _ in FIELDS],
    ids=[f"{s.__name__}.{n}" for s, n, _ in FIELDS],
)
def test_a_date_out_of_reach_is_refused_on_its_field(schema, name, value):
    with pytest.raises(ValidationError) as err:
        schema().load({name: value}, partial=True)
    assert name in err.value.messages, err.value.messages


@pytest.mark.parametrize("value", MOMENTS)
def test_a_point_in_time_out_of_reach_is_refused_on_as_of(value):
    with pytest.raises(Exception) as err:
        load(AsOfQuery, {"as_of": value})
    assert getattr(err.value, "errors", None) and list(err.value.errors) == ["as_of"]


def test_points_in_time_inside_the_bounds_load_in_utc():
    assert load(AsOfQuery, {"as_of": "2014-09-29"})["as_of"] == "2014-09-29T15:59:59.999999+00:00"
    assert load(AsOfQuery, {"as_of": "2014-09-29T08:00:00+14:00"})["as_of"] == (
        "2014-09-28T18:00:00+00:00"
    )
