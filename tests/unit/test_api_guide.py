"""The API document as a newcomer reads it: every request body has working examples (each one
loads with the schema the gateway validates it with, and fits the document's own schema), an
application's ``subject`` is described per kind, the bureau and district codes carry their
names, and validation messages name what they allow (an enum's values, a date's format)."""

from __future__ import annotations

import jsonschema_rs
import pytest
from marshmallow import Schema, ValidationError, fields, validate

from gateway.guide import EXAMPLES, VARIANTS
from gateway.openapi import build_spec
from gateway.pages import docs_page
from gateway.routing import routes_of
from gateway.service import GatewayService
from infra.places import BUREAU_NAMES, BUREAUS, DISTRICT_NAMES
from infra.schemas import Date, Pattern, Timestamp
from infra.testing import env
from services.licensing.domain.common import KINDS
from services.licensing.schemas.applications import SUBJECTS, ApplicationIn
from services.licensing.schemas.base import AsOf

ROUTES = routes_of(GatewayService)
SPEC = build_spec(ROUTES)
WITH_BODY = [r for r in ROUTES if r.body_schema is not None]
EXAMPLE_CASES = [
    (route, name, example["value"])
    for route in WITH_BODY
    for name, example in SPEC["paths"][route.path][route.http_method.lower()]["requestBody"][
        "content"
    ][route.body_media]
    .get("examples", {})
    .items()
]


@pytest.fixture(autouse=True)
def clock_2014(tmp_path):
    """The examples' dates suit late 2014, the demo's and the tests' platform date."""
    clock = tmp_path / "clock"
    clock.write_text("2014-09-29T09:00:00+08:00")
    with env(SESP_CLOCK_FILE=str(clock)):
        yield


def media(route):
    return SPEC["paths"][route.path][route.http_method.lower()]["requestBody"]["content"][
        route.body_media
    ]


def test_every_operation_with_a_body_has_an_example():
    missing = [r.operation_id for r in WITH_BODY if not media(r).get("examples")]
    assert not missing, f"add examples to gateway.guide.EXAMPLES for: {missing}"
    assert len(EXAMPLE_CASES) >= len(WITH_BODY)


def test_every_example_belongs_to_a_served_body():
    served = {type(r.body_schema) for r in WITH_BODY}
    assert set(EXAMPLES) <= served


@pytest.mark.parametrize(
    ("route", "name", "value"),
    EXAMPLE_CASES,
    ids=[f"{r.operation_id}:{name}" for r, name, _ in EXAMPLE_CASES],
)
def test_an_example_loads_with_the_gateways_schema_and_fits_the_document(route, name, value):
    try:
        route.body_schema.load(value)
    except ValidationError as exc:
        pytest.fail(f"the gateway refuses the example {name!r}: {exc.messages}")
    document = {"components": SPEC["components"], **media(route)["schema"]}
    errors = [e.message for e in jsonschema_rs.Draft202012Validator(document).iter_errors(value)]
    assert not errors, errors


def test_an_application_is_described_per_kind():
    schemas = SPEC["components"]["schemas"]
    application = schemas["ApplicationIn"]
    assert application["discriminator"]["propertyName"] == "kind"
    mapping = application["discriminator"]["mapping"]
    assert set(mapping) == set(KINDS)
    assert [v["$ref"] for v in application["oneOf"]] == list(mapping.values())
    for kind, ref in mapping.items():
        variant = schemas[ref.rsplit("/", 1)[-1]]
        assert variant["properties"]["kind"]["enum"] == [kind]
        subject = variant["properties"]["subject"]["$ref"].rsplit("/", 1)[-1]
        assert subject == SUBJECTS[kind].__name__
        assert schemas[subject]["properties"], subject
    assert [v.schema for v in VARIANTS] == [ApplicationIn]
    shown = schemas["ApplicationView"]["properties"]["subject"]["description"]
    assert all(f"{kind}: {SUBJECTS[kind].__name__}" in shown for kind in KINDS)


def test_the_document_lists_every_bureau_and_district_with_its_names():
    intro = SPEC["info"]["description"]
    for code, (zh, en) in BUREAU_NAMES.items():
        assert f"| `{code}` |" in intro and zh in intro and en in intro
    for zh, en in DISTRICT_NAMES.values():
        assert f"{zh} {en}" in intro
    page = docs_page(SPEC)
    assert 'id="places"' in page and "徐汇区 Xuhui" in page


def _enums(node, found):
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list) and len(node["enum"]) > 1:
            found.append(node)
        for value in node.values():
            _enums(value, found)
    elif isinstance(node, list):
        for value in node:
            _enums(value, found)
    return found


def test_every_field_of_bureau_or_district_codes_names_them():
    places = [e for e in _enums(SPEC, []) if set(e["enum"]) <= set(BUREAUS)]
    assert len(places) >= 10
    for enum in places:
        for code in enum["enum"]:
            zh, en = DISTRICT_NAMES.get(code) or BUREAU_NAMES[code]
            assert f"{code} {zh} ({en})" in enum["description"], enum


def test_the_docs_page_shows_the_examples_and_each_kind_of_application():
    page = docs_page(SPEC)
    assert page.count('<details class="example">') == len(EXAMPLE_CASES)
    assert page.count('<h4 class="shape">') == len(KINDS)
    assert "subject.equipment.manufactured_on" in page


# --- validation messages ----------------------------------------------------------------------


def _schemas() -> list[Schema]:
    """Every schema instance the gateway loads requests with, nested and variant ones too."""
    seen: dict[int, Schema] = {}

    def visit(schema: Schema) -> None:
        if id(schema) in seen:
            return
        seen[id(schema)] = schema
        for field in schema.fields.values():
            for inner in _inner(field):
                visit(inner)

    for route in ROUTES:
        for schema in (route.body_schema, route.query_schema):
            if schema is not None:
                visit(schema)
    for variants in VARIANTS:
        for cls in variants.schemas.values():
            visit(cls())
    return list(seen.values())


def _inner(field: fields.Field) -> list[Schema]:
    if isinstance(field, fields.Nested):
        return [field.schema]
    if isinstance(field, fields.List):
        return _inner(field.inner)
    return []


def _leaves(field: fields.Field) -> list[fields.Field]:
    return _leaves(field.inner) if isinstance(field, fields.List) else [field]


FIELDS = [
    (f"{type(schema).__name__}.{name}", leaf)
    for schema in _schemas()
    for name, field in schema.fields.items()
    for leaf in _leaves(field)
]
ENUMS = [
    (where, check)
    for where, field in FIELDS
    for check in field.validators
    if isinstance(check, validate.OneOf)
]
DATES = [(where, f) for where, f in FIELDS if isinstance(f, fields.Date | Timestamp | AsOf)]


# Insurance's own schemas are being rebuilt by their owner; these two still use marshmallow's
# bare date field ("Not a valid date."): infra.schemas.Date names the format.
@pytest.mark.parametrize(("where", "check"), ENUMS, ids=[w for w, _ in ENUMS])
def test_an_enum_message_names_every_allowed_value(where, check):
    with pytest.raises(ValidationError) as refused:
        check("not-one-of-them")
    message = " ".join(refused.value.messages)
    assert all(str(choice) in message for choice in check.choices), message


@pytest.mark.parametrize(("where", "field"), DATES, ids=[w for w, _ in DATES])
def test_a_date_message_names_the_format(where, field):
    with pytest.raises(ValidationError) as refused:
        field.deserialize("1 October 2014")
    message = " ".join(refused.value.messages)
    assert "YYYY-MM-DD" in message or "RFC 3339" in message, message


def test_the_pattern_messages_of_licensing_name_their_format():
    from services.licensing.schemas.applications import LicenceSubject, OperatorSubject

    with pytest.raises(ValidationError) as scope:
        LicenceSubject().load({"scope": ["lift:fixing"]})
    assert "elevator" in str(scope.value) and "maintenance" in str(scope.value)
    with pytest.raises(ValidationError) as item:
        OperatorSubject().load({"items": ["t1"]})
    assert "a capital letter" in str(item.value)


def test_dates_are_the_kits_date_fields_where_the_gateway_owns_them():
    ours = [w for w, f in DATES if isinstance(f, fields.Date) and not isinstance(f, Date)]
    assert ours == [], ours


PATTERNS = [
    (where, check)
    for where, field in FIELDS
    for check in field.validators
    if isinstance(check, validate.Regexp)
]


@pytest.mark.parametrize(("where", "check"), PATTERNS, ids=[w for w, _ in PATTERNS])
def test_a_pattern_takes_the_whole_text_and_ascii_digits_only(where, check):
    """marshmallow's Regexp matches a prefix and lets "93.00\\n" through its "$"; "\\d" takes
    "٩٣" too: both stored text no reader expected."""
    assert isinstance(check, Pattern), where
    assert "\\d" not in check.regex.pattern, where


@pytest.mark.parametrize("money", ["93.00\n", "٩٣.٠٠", "９３.００", "93.00 "])
def test_money_is_ascii_digits_and_nothing_after(money):
    from services.insurance.schemas import MONEY

    with pytest.raises(ValidationError):
        MONEY(money)
    assert MONEY("93.00") == "93.00"


# --- numbers ----------------------------------------------------------------------------------

NUMBERS = [(w, f) for w, f in FIELDS if isinstance(f, fields.Integer | fields.Float)]


@pytest.mark.parametrize(("where", "field"), NUMBERS, ids=[w for w, _ in NUMBERS])
def test_every_number_a_request_carries_is_bounded(where, field):
    """An unbounded integer reaches a 32-bit column (an insurer's revision of 2^31 was a 502),
    a 64-bit one, or date arithmetic: each number refuses what no column holds (a seed may
    use 64 bits)."""
    too_big = 2**63 if where.endswith(".seed") else 2**31
    for value in (too_big, -too_big - 1, 10**30):
        with pytest.raises(ValidationError):
            field.deserialize(value)
