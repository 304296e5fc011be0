"""The hash chain's canonical form and the upcaster chain: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.eventstore import Upcasters, hashing

json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def a_row(**changes) -> dict:
    row = {
        "event_id": "6f1c1d8e-1b7a-4f3e-9c55-0a4d2b8e7f10",
        "stream_id": "licence-L-2024-0001",
        "version": 1,
        "type": "LicenceIssued",
        "schema_version": 2,
        "data": hashing.canonical({"category": "电梯", "valid_years": 4}),
        "meta": hashing.canonical(
            {
                "actor": {"id": "tok-1", "role": "officer"},
                "correlation_id": "req-1",
                "causation_id": None,
            }
        ),
        "occurred_at": datetime(2024, 3, 1, 8, 30),
        "recorded_at": datetime(2024, 3, 1, 8, 30, 0, 1),
        # Not covered by the hash: where and by which transaction the row was stored.
        "position": 17,
        "tx_id": 4242,
    }
    row.update(changes)
    return row


# -- canonical form ---------------------------------------------------------------------------


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8():
    assert hashing.canonical({"b": [1, {"d": 2, "c": "电梯"}], "a": None}) == (
        '{"a":null,"b":[1,{"c":"电梯","d":2}]}'
    )


def test_canonical_json_writes_datetimes_as_text():
    assert (
        hashing.canonical({"at": datetime(2024, 1, 2, 3, 4, 5)}) == '{"at":"2024-01-02 03:04:05"}'
    )


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_canonical_json_does_not_depend_on_key_order(d):
    assert hashing.canonical(dict(reversed(list(d.items())))) == hashing.canonical(d)


@given(json_values)
def test_canonical_json_is_stable_through_a_round_trip(value):
    text = hashing.canonical(value)
    assert hashing.canonical(json.loads(text)) == text


@given(
    st.recursive(
        json_scalars | st.floats(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_canonical_json_is_what_the_standard_encoder_writes(value):
    # ``canonical`` runs the C encoder it builds once; the text must be ``json.dumps``'s.
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    assert hashing.canonical(value) == expected
    assert hashing.plain_canonical(value) == expected


def test_plain_canonical_refuses_what_is_not_plain_json():
    assert hashing.plain_canonical({"at": datetime(2024, 1, 2, 3, 4, 5)}) is None
    assert hashing.plain_canonical([1, {"x": object()}]) is None
    assert hashing.plain_canonical({"n": [1, 2.5, None, True, "电梯"]}) == (
        '{"n":[1,2.5,null,true,"电梯"]}'
    )


# -- event hash -------------------------------------------------------------------------------


def test_genesis_is_sixty_four_zeros():
    assert hashing.GENESIS == "0" * 64


def test_event_hash_covers_the_previous_hash_and_the_canonical_content():
    row = a_row()
    content = json.dumps(
        {
            "event_id": row["event_id"],
            "stream_id": row["stream_id"],
            "version": 1,
            "type": "LicenceIssued",
            "schema_version": 2,
            "data": row["data"],
            "meta": row["meta"],
            "occurred_at": "2024-03-01T08:30:00.000000",
            "recorded_at": "2024-03-01T08:30:00.000001",
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = hashlib.sha256((hashing.GENESIS + content).encode()).hexdigest()
    assert hashing.event_hash(hashing.GENESIS, row) == expected


def test_event_hash_of_a_known_row_never_changes():
    # Stored chains are verified against this function forever: changing the canonical form
    # would report every event ever written as tampered.
    assert hashing.event_hash(hashing.GENESIS, a_row()) == (
        "15f4bc8b58ce48ce4ae38bc5d1bd0af1d78f6e95d0f0f3b96ff0390d80f80c34"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "6f1c1d8e-1b7a-4f3e-9c55-0a4d2b8e7f11"),
        ("stream_id", "licence-L-2024-0002"),
        ("version", 2),
        ("type", "LicenceRevoked"),
        ("schema_version", 3),
        ("data", hashing.canonical({"category": "锅炉", "valid_years": 4})),
        ("meta", hashing.canonical({"actor": {"id": "tok-2", "role": "officer"}})),
        ("occurred_at", datetime(2024, 3, 1, 8, 30, 0, 1)),
        ("recorded_at", datetime(2024, 3, 1, 8, 30, 0, 2)),
    ],
)
def test_event_hash_changes_with_every_field(field, value):
    assert hashing.event_hash(hashing.GENESIS, a_row(**{field: value})) != hashing.event_hash(
        hashing.GENESIS, a_row()
    )


def test_event_hash_changes_with_the_previous_hash():
    assert hashing.event_hash("1" * 64, a_row()) != hashing.event_hash(hashing.GENESIS, a_row())


def test_event_hash_ignores_storage_columns():
    assert hashing.event_hash(hashing.GENESIS, a_row(position=99, tx_id=0)) == (
        hashing.event_hash(hashing.GENESIS, a_row())
    )


def test_timestamps_hash_alike_whole_seconds_or_not():
    # Backends hand back naive UTC datetimes; whole seconds must not lose their ".000000".
    whole = a_row(occurred_at=datetime(2024, 3, 1, 8, 30, 0, 0))
    assert hashing._ts(whole["occurred_at"]) == "2024-03-01T08:30:00.000000"
    assert hashing.event_hash(hashing.GENESIS, whole) == hashing.event_hash(
        hashing.GENESIS, a_row(occurred_at=datetime(2024, 3, 1, 8, 30))
    )


def test_a_timestamp_given_as_text_is_hashed_as_that_text():
    # A driver that returned text instead of datetimes would not verify: the form matters.
    as_text = a_row(occurred_at="2024-03-01 08:30:00")
    assert hashing.event_hash(hashing.GENESIS, as_text) != hashing.event_hash(
        hashing.GENESIS, a_row()
    )


def test_aware_and_naive_datetimes_are_different_content():
    # The store always converts to naive UTC before hashing (see store.to_db).
    aware = a_row(occurred_at=datetime(2024, 3, 1, 8, 30, tzinfo=UTC))
    assert hashing.event_hash(hashing.GENESIS, aware) != hashing.event_hash(
        hashing.GENESIS, a_row()
    )


def test_a_chain_links_each_hash_to_the_one_before():
    prev, hashes = hashing.GENESIS, []
    for v in (1, 2, 3):
        prev = hashing.event_hash(prev, a_row(version=v))
        hashes.append(prev)
    assert len(set(hashes)) == 3
    # Rehashing from a different start gives a different chain, all the way down.
    other = hashing.event_hash("f" * 64, a_row(version=1))
    assert other != hashes[0]
    assert hashing.event_hash(other, a_row(version=2)) != hashes[1]


text_values = st.text() | st.sampled_from(['"', "\\", "\n", "\u2028", "\x00", "电梯", "\U0001f600"])


@given(
    event_id=text_values,
    stream_id=text_values,
    version=st.integers(),
    type_=text_values,
    schema_version=st.integers(),
    data=text_values,
    meta=text_values,
    occurred_at=st.datetimes(),
    recorded_at=st.datetimes(),
)
def test_the_direct_form_of_the_hashed_text_is_the_canonical_json_of_the_fields(
    event_id, stream_id, version, type_, schema_version, data, meta, occurred_at, recorded_at
):
    # ``link_hash`` writes the nine fields' canonical JSON itself when they are text and
    # integers; it must be the text ``canonical`` makes of them, byte for byte.
    fields = {
        "event_id": event_id,
        "stream_id": stream_id,
        "version": version,
        "type": type_,
        "schema_version": schema_version,
        "data": data,
        "meta": meta,
        "occurred_at": hashing._ts(occurred_at),
        "recorded_at": hashing._ts(recorded_at),
    }
    expected = hashlib.sha256((hashing.GENESIS + hashing.canonical(fields)).encode()).hexdigest()
    row = {**fields, "occurred_at": occurred_at, "recorded_at": recorded_at}
    assert hashing.event_hash(hashing.GENESIS, row) == expected


@pytest.mark.parametrize(("field", "value"), [("version", True), ("schema_version", 2.0)])
def test_values_of_other_types_are_hashed_through_the_canonical_form(field, value):
    row = a_row(**{field: value})
    content = hashing.canonical(
        {
            **{k: row[k] for k in ("event_id", "stream_id", "version", "type")},
            **{k: row[k] for k in ("schema_version", "data", "meta")},
            "occurred_at": hashing._ts(row["occurred_at"]),
            "recorded_at": hashing._ts(row["recorded_at"]),
        }
    )
    expected = hashlib.sha256((hashing.GENESIS + content).encode()).hexdigest()
    assert hashing.event_hash(hashing.GENESIS, row) == expected


# -- upcasters --------------------------------------------------------------------------------


def licence_upcasters() -> Upcasters:
    up = Upcasters()

    @up.register("LicenceIssued", 1)
    def _v1_to_v2(data):
        data = dict(data)
        data["category"] = data.pop("kind")
        return data

    @up.register("LicenceIssued", 2)
    def _v2_to_v3(data):
        return {**data, "valid_years": 4}

    return up


def test_upcasters_run_in_order_up_to_the_current_version():
    assert licence_upcasters().upcast("LicenceIssued", 1, {"kind": "lift"}) == (
        3,
        {"category": "lift", "valid_years": 4},
    )


def test_upcasting_starts_at_the_stored_version():
    assert licence_upcasters().upcast("LicenceIssued", 2, {"category": "crane"}) == (
        3,
        {"category": "crane", "valid_years": 4},
    )


def test_current_versions_and_other_types_pass_through_unchanged():
    up = licence_upcasters()
    assert up.upcast("LicenceIssued", 3, {"x": 1}) == (3, {"x": 1})
    assert up.upcast("LicenceRevoked", 1, {"kind": "lift"}) == (1, {"kind": "lift"})
    assert up.upcast("snapshot:LicenceIssued", 1, {"kind": "lift"}) == (1, {"kind": "lift"})


def test_a_missing_step_stops_the_chain():
    up = Upcasters()
    up.register("A", 1)(lambda d: {**d, "v2": True})
    up.register("A", 3)(lambda d: {**d, "v4": True})  # no 2 -> 3: never reached from 1
    assert up.upcast("A", 1, {}) == (2, {"v2": True})


def test_register_is_a_decorator_that_returns_the_function():
    up = Upcasters()

    def step(d):
        return d

    assert up.register("A", 1)(step) is step


def test_registering_a_step_again_replaces_it():
    up = Upcasters()
    up.register("A", 1)(lambda d: {"first": True})
    up.register("A", 1)(lambda d: {"second": True})
    assert up.upcast("A", 1, {}) == (2, {"second": True})
