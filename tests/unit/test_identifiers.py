"""Identifier validators (DOMAIN.md "Identifiers") and their marshmallow fields."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from infra.identifiers import (
    USCC_ALPHABET,
    EquipmentCodeField,
    InvalidIdentifier,
    ResidentIdField,
    USCCField,
    admit_uscc_exceptions,
    listed_uscc_exceptions,
    parse_equipment_code,
    resident_id_check_character,
    uscc_check_character,
    uscc_exceptions,
    validate_equipment_code,
    validate_resident_id,
    validate_uscc,
)

TODAY = date(2015, 6, 1)
KNOWN_BAD = "91350203M0001QAY9B"  # issued by a real registry, fails the check


# --- unified social credit code ------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["91350200776049653A", "913502000728319549", "9135021359498494XQ", "91440101MA5CJQ4N59"],
)
def test_valid_credit_codes_pass(code):
    assert validate_uscc(code) == code


def test_credit_code_is_upper_cased_before_checking():
    assert validate_uscc("9135021359498494xq") == "9135021359498494XQ"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350200776049653", "must be 18 characters long, got 17"),
        ("91350200776049653AA", "must be 18 characters long, got 19"),
        ("91350200776O49653A", "character 'O' at position 12 is not allowed"),
        ("913502007760I9653A", "character 'I' at position 13 is not allowed"),
        ("91A50200776049653A", "character 'A' at position 3 must be a digit"),
        ("91350200776049653B", "check character expected 'A', got 'B'"),
        (KNOWN_BAD, "check character expected '9', got 'B'"),
    ],
)
def test_invalid_credit_code_says_what_is_wrong(code, message):
    with pytest.raises(InvalidIdentifier, match=message):
        validate_uscc(code)


def test_a_known_bad_code_is_accepted_only_through_the_exception_list():
    with pytest.raises(ValueError):
        validate_uscc(KNOWN_BAD)
    assert validate_uscc(KNOWN_BAD, exceptions=[KNOWN_BAD.lower()]) == KNOWN_BAD
    with pytest.raises(InvalidIdentifier):
        validate_uscc("91350200776049653B", exceptions=[KNOWN_BAD])


def test_the_requests_exception_list_admits_its_codes_while_it_is_in_effect():
    with uscc_exceptions([KNOWN_BAD.lower()]) as listed:
        assert listed == {KNOWN_BAD}
        assert validate_uscc(KNOWN_BAD) == KNOWN_BAD
        with pytest.raises(InvalidIdentifier):  # only the listed codes
            validate_uscc("91350200776049653B")
        with pytest.raises(InvalidIdentifier):  # the list itself is not consulted
            validate_uscc(KNOWN_BAD, admit_listed=False)
    with pytest.raises(InvalidIdentifier):
        validate_uscc(KNOWN_BAD)


def test_each_greenthread_has_its_own_exception_list():
    import eventlet

    seen = []

    def worker(codes):
        admit_uscc_exceptions(codes)
        eventlet.sleep(0)  # let the other worker run in between
        seen.append(listed_uscc_exceptions())

    pool = eventlet.GreenPool()
    pool.spawn(worker, [KNOWN_BAD])
    pool.spawn(worker, [])
    pool.waitall()
    assert sorted(seen, key=len) == [frozenset(), frozenset({KNOWN_BAD})]
    assert listed_uscc_exceptions() == frozenset()


def test_the_rpc_context_carries_the_exception_list_to_a_services_worker():
    from types import SimpleNamespace

    import eventlet

    from infra.bus.context import RequestContext, context_data

    data = context_data({"id": "tok", "role": "applicant"}, "req-1", {KNOWN_BAD})
    assert "sesp_uscc_exceptions" not in context_data(None, "req-2")

    def worker():
        RequestContext().worker_setup(SimpleNamespace(context_data=data))
        return validate_uscc(KNOWN_BAD)

    assert eventlet.spawn(worker).wait() == KNOWN_BAD


def test_credit_code_that_is_not_text_is_invalid():
    with pytest.raises(InvalidIdentifier, match="must be text"):
        validate_uscc(913502000728319549)


_uscc_body = st.tuples(
    st.text(USCC_ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
).map("".join)


@given(_uscc_body)
def test_a_generated_credit_code_always_passes(body):
    code = body + uscc_check_character(body)
    assert validate_uscc(code) == code


@given(_uscc_body, st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_changing_one_character_of_a_credit_code_breaks_it(body, position, char):
    code = body + uscc_check_character(body)
    if code[position] == char:
        char = USCC_ALPHABET[(USCC_ALPHABET.index(char) + 1) % 31]
    changed = code[:position] + char + code[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        validate_uscc(changed)


# --- resident ID number --------------------------------------------------------------------


@pytest.mark.parametrize("number", ["11010519491231002X", " 11010519491231002X "])
def test_valid_resident_id_passes(number):
    assert validate_resident_id(number, TODAY) == "11010519491231002X"


def test_resident_id_lower_case_x_is_normalised():
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1101051949123100", "must be 18 characters long, got 16"),
        ("11010519491231002Y", "position 18 must be a digit or X"),
        ("1101051949123X002X", "character 'X' at position 14 must be a digit"),
        ("110105194902300024", "positions 7-14 are not a calendar date"),
        ("110105189912310021", "birth year 1899 is before 1900"),
        ("110105201512310021", "birth date 2015-12-31 is in the future"),
        ("110105194912310021", "check character expected 'X', got '1'"),
    ],
)
def test_invalid_resident_id_says_what_is_wrong(number, message):
    with pytest.raises(InvalidIdentifier, match=message):
        validate_resident_id(number, TODAY)


def test_resident_id_message_does_not_repeat_the_number():
    with pytest.raises(InvalidIdentifier) as info:
        validate_resident_id("110105194912310021", TODAY)
    assert "1101051949" not in str(info.value)


_birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@st.composite
def resident_ids(draw):
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    seq = draw(st.text("0123456789", min_size=3, max_size=3))
    body = region + draw(_birth_dates).strftime("%Y%m%d") + seq
    return body + resident_id_check_character(body)


@given(resident_ids())
def test_a_generated_resident_id_always_passes(number):
    assert validate_resident_id(number, TODAY) == number


@given(resident_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_changing_one_character_of_a_resident_id_breaks_it(number, position, char):
    if number[position] == char:
        char = "0123456789X"[("0123456789X".index(char) + 1) % 11]
    changed = number[:position] + char + number[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        validate_resident_id(changed, TODAY)


# --- equipment code ------------------------------------------------------------------------


def test_an_18_digit_equipment_code_is_parsed():
    code = parse_equipment_code("311010001201500042", TODAY)
    assert (code.code, code.legacy, code.equipment_class, code.variety, code.year) == (
        "311010001201500042",
        False,
        "elevator",
        "3110",
        2015,
    )


def test_a_legacy_shanghai_code_is_accepted_as_an_alias():
    code = parse_equipment_code("31103101152014120007", TODAY)
    assert code.legacy and code.year == 2014 and code.equipment_class == "elevator"
    assert validate_equipment_code(" 31103101152014120007 ", TODAY) == "31103101152014120007"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("3110100012015000421", "must be 18 or 20 characters long, got 19"),
        ("3110100012015A0042", "character 'A' at position 14 must be a digit"),
        ("011010001201500042", "position 1 must be an equipment class 1-9"),
        ("311010001201600042", "year of manufacture 2016 \\(positions 10-13\\) is in the future"),
        ("311010001189900042", "year of manufacture 1899 \\(positions 10-13\\) is before 1900"),
        ("31103101152016010007", "year of manufacture 2016 \\(positions 11-14\\) is in the future"),
        ("31103101152014130007", "month 13 \\(positions 15-16\\) is not 01-12"),
        ("31103101152015070007", "registration month 2015-07 is in the future"),
    ],
)
def test_invalid_equipment_code_says_what_is_wrong(code, message):
    with pytest.raises(InvalidIdentifier, match=message):
        validate_equipment_code(code, TODAY)


def test_equipment_made_this_year_is_not_in_the_future():
    assert validate_equipment_code("311010001201500042", TODAY)


@given(
    st.integers(1, 9),
    st.text("0123456789", min_size=8, max_size=8),
    st.integers(1900, TODAY.year),
    st.text("0123456789", min_size=5, max_size=5),
)
def test_a_generated_equipment_code_always_passes(cls, variety_maker, year, seq):
    code = f"{cls}{variety_maker}{year}{seq}"
    assert validate_equipment_code(code, TODAY) == code


# --- marshmallow fields --------------------------------------------------------------------


class OrgSchema(Schema):
    uscc = USCCField(required=True, exceptions=lambda: [KNOWN_BAD])
    id_number = ResidentIdField(today=lambda: TODAY)
    equipment_code = EquipmentCodeField(today=lambda: TODAY)


def test_fields_return_normalised_values():
    loaded = OrgSchema().load(
        {
            "uscc": "9135021359498494xq",
            "id_number": "11010519491231002x",
            "equipment_code": "311010001201500042",
        }
    )
    assert loaded == {
        "uscc": "9135021359498494XQ",
        "id_number": "11010519491231002X",
        "equipment_code": "311010001201500042",
    }


def test_fields_accept_the_exception_list():
    assert OrgSchema().load({"uscc": KNOWN_BAD}) == {"uscc": KNOWN_BAD}


def test_fields_report_the_exact_problem_as_a_validation_error():
    with pytest.raises(ValidationError) as info:
        OrgSchema().load(
            {
                "uscc": "91350200776049653B",
                "id_number": "110105194912310021",
                "equipment_code": "311010001201600042",
            }
        )
    assert info.value.messages == {
        "uscc": ["unified social credit code: check character expected 'A', got 'B'"],
        "id_number": ["resident ID number: check character expected 'X', got '1'"],
        "equipment_code": [
            "equipment code: year of manufacture 2016 (positions 10-13) is in the future"
        ],
    }


def test_fields_reject_non_text():
    with pytest.raises(ValidationError) as info:
        OrgSchema().load({"uscc": 12})
    assert "uscc" in info.value.messages
