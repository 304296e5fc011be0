"""The event store's contract, run on SQLite (embedded default) and PostgreSQL (production).

Every test gets a fresh database from ``db_url`` and migrates it with the kernel's Alembic chain,
exactly as a service does on start.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone

import eventlet
import pytest
from eventlet.event import Event
from eventlet.patcher import original
from eventlet.semaphore import Semaphore
from sqlalchemy import func, select, text

from infra.eventstore import (
    ERASED,
    ConcurrencyError,
    EventStore,
    NewEvent,
    Personal,
    SubjectKeys,
    Upcasters,
    make_engine,
    make_meta,
    migrate,
)
from infra.eventstore.schema import events, snapshots, subject_keys

real_threading = original("threading")

T0 = datetime(2024, 3, 1, 8, 30, 0, 250_000, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def store(engine, master_key, clock) -> EventStore:
    return EventStore(engine.dialect.name, SubjectKeys(master_key), clock=clock)


def stream() -> str:
    return f"licence-{uuid.uuid4().hex[:12]}"


def ev(type_: str = "InspectionRecorded", **data) -> NewEvent:
    return NewEvent(type_, data or {"n": 1})


def row_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def raw_row(engine, stream_id: str, version: int):
    with engine.connect() as conn:
        return (
            conn.execute(
                select(events).where(events.c.stream_id == stream_id, events.c.version == version)
            )
            .mappings()
            .one()
        )


# -- appending --------------------------------------------------------------------------------


def test_first_append_to_a_new_stream_expects_version_zero(engine, store):
    s = stream()
    with engine.begin() as conn:
        stored = store.append(conn, s, 0, [ev(n=1), ev(n=2)])
    assert [e.version for e in stored] == [1, 2]
    assert [e.stream_id for e in stored] == [s, s]
    with engine.connect() as conn:
        assert store.stream_version(conn, s) == 2
        assert store.stream_version(conn, stream()) == 0


@pytest.mark.parametrize("wrong", [0, 1, 3])
def test_wrong_expected_version_raises_and_writes_nothing(engine, store, wrong):
    s = stream()
    with engine.begin() as conn:
        store.append(conn, s, 0, [ev(n=1), ev(n=2)])
    before = row_count(engine)
    with pytest.raises(ConcurrencyError) as err, engine.begin() as conn:
        store.append(conn, s, wrong, [ev(n=3)])
    assert (err.value.stream_id, err.value.expected, err.value.actual) == (s, wrong, 2)
    assert row_count(engine) == before
    with engine.connect() as conn:
        assert store.stream_version(conn, s) == 2


def test_expecting_a_version_of_a_stream_that_does_not_exist_raises(engine, store):
    with pytest.raises(ConcurrencyError), engine.begin() as conn:
        store.append(conn, stream(), 1, [ev()])
    assert row_count(engine) == 0


@pytest.mark.parametrize("expected_on_retry", [0, None, 2])
def test_reappending_the_same_event_ids_is_a_noop(engine, store, expected_on_retry):
    s = stream()
    batch = [ev(n=1), ev(n=2)]
    with engine.begin() as conn:
        store.append(conn, s, 0, batch)
    # A retried command: same ids, whether it still expects the old version, appends at the
    # head, or re-read the stream (now at 2) before retrying.
    with engine.begin() as conn:
        assert store.append(conn, s, expected_on_retry, batch) == []
    assert row_count(engine) == 2
    with engine.connect() as conn:
        assert [e.event_id for e in store.read_stream(conn, s)] == [e.event_id for e in batch]


def test_expected_version_none_appends_at_the_head(engine, store):
    s = stream()
    with engine.begin() as conn:
        store.append(conn, s, None, [ev(n=1)])
        store.append(conn, s, None, [ev(n=2), ev(n=3)])
    with engine.begin() as conn:
        stored = store.append(conn, s, None, [ev(n=4)])
    assert [e.version for e in stored] == [4]
    with engine.connect() as conn:
        assert [e.data["n"] for e in store.read_stream(conn, s)] == [1, 2, 3, 4]
        assert store.verify(conn) == []


def test_empty_append_writes_nothing(engine, store):
    with engine.begin() as conn:
        assert store.append(conn, stream(), 0, []) == []
    assert row_count(engine) == 0


def test_append_rolled_back_with_its_transaction_leaves_nothing(engine, store):
    s = stream()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        store.append(conn, s, 0, [ev()])
        raise RuntimeError("the command failed after appending")
    assert row_count(engine) == 0
    with engine.begin() as conn:
        assert [e.version for e in store.append(conn, s, 0, [ev()])] == [1]


# -- reading ----------------------------------------------------------------------------------


def test_events_read_back_in_version_order_with_data_and_metadata(engine, store, clock):
    s = stream()
    occurred = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    meta = make_meta(
        actor={"id": "tok-7f3a", "role": "inspector"},
        correlation_id="req-0001",
        causation_id="cmd-0001",
    )
    data = {
        "equipment": "电梯-0042",
        "floors": 18,
        "load_kg": 1050.5,
        "passed": True,
        "remarks": None,
        "checks": [{"item": "brakes", "ok": True}, {"item": "doors", "ok": False}],
    }
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent("InspectionScheduled", {"at": "2024-03-02"}, occurred_at=occurred),
                NewEvent("InspectionRecorded", data, schema_version=1),
            ],
            meta=meta,
        )
    clock.advance(seconds=5)
    with engine.begin() as conn:
        store.append(conn, s, 2, [NewEvent("InspectionClosed", {})])

    with engine.connect() as conn:
        read = store.read_stream(conn, s)
    assert [(e.version, e.type) for e in read] == [
        (1, "InspectionScheduled"),
        (2, "InspectionRecorded"),
        (3, "InspectionClosed"),
    ]
    assert read[1].data == data
    assert read[0].meta == meta == read[1].meta
    assert read[0].meta["actor"] == {"id": "tok-7f3a", "role": "inspector"}
    assert (read[0].meta["correlation_id"], read[0].meta["causation_id"]) == (
        "req-0001",
        "cmd-0001",
    )
    assert read[2].meta["actor"] == {"id": "system", "role": "system"}  # the default
    assert read[0].occurred_at == occurred
    assert read[1].occurred_at == T0  # defaults to the store clock
    assert read[0].recorded_at == read[1].recorded_at == T0
    assert read[2].recorded_at == T0 + timedelta(seconds=5)
    assert all(e.occurred_at.tzinfo is not None for e in read)
    positions = [e.position for e in read]
    assert positions == sorted(positions) and positions[0] > 0


def test_read_stream_after_a_version(engine, store):
    s = stream()
    with engine.begin() as conn:
        store.append(conn, s, 0, [ev(n=i) for i in range(1, 6)])
    with engine.connect() as conn:
        assert [e.version for e in store.read_stream(conn, s, after_version=3)] == [4, 5]
        assert store.read_stream(conn, s, after_version=5) == []


def test_read_stream_until_includes_the_instant_and_excludes_later_events(engine, store):
    s = stream()
    t = [T0 + timedelta(days=d) for d in range(4)]
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent("A", {"i": 0}, occurred_at=t[0]),
                NewEvent("B", {"i": 1}, occurred_at=t[1]),
                NewEvent("C", {"i": 2}, occurred_at=t[1] + timedelta(microseconds=1)),
                NewEvent("D", {"i": 3}, occurred_at=t[3]),
            ],
        )
    with engine.connect() as conn:
        assert [e.type for e in store.read_stream(conn, s, until=t[1])] == ["A", "B"]
        # The same instant written in Beijing time is the same as_of.
        assert [e.type for e in store.read_stream(conn, s, until=t[1].astimezone(BEIJING))] == [
            "A",
            "B",
        ]
        assert [e.type for e in store.read_stream(conn, s, until=t[2])] == ["A", "B", "C"]
        assert store.read_stream(conn, s, until=t[0] - timedelta(microseconds=1)) == []
        assert [e.type for e in store.read_stream(conn, s, after_version=1, until=t[3])] == [
            "B",
            "C",
            "D",
        ]


def test_read_all_after_a_position(engine, store):
    a, b = stream(), stream()
    with engine.begin() as conn:
        store.append(conn, a, 0, [ev(n=1)])
        store.append(conn, b, 0, [ev(n=2), ev(n=3)])
    with engine.begin() as conn:
        store.append(conn, a, 1, [ev(n=4)])
    with engine.connect() as conn:
        everything = store.read_all(conn)
        assert [e.data["n"] for e in everything] == [1, 2, 3, 4]
        assert [e.stream_id for e in everything] == [a, b, b, a]
        positions = [e.position for e in everything]
        assert positions == sorted(set(positions))
        after = store.read_all(conn, after=positions[1])
        assert [e.data["n"] for e in after] == [3, 4]
        assert [e.data["n"] for e in store.read_all(conn, after=positions[0], limit=2)] == [2, 3]
        assert store.read_all(conn, after=positions[-1]) == []
        assert [e.position for e in store.iter_all(conn, chunk=3)] == positions


# -- snapshots --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "due"),
    [
        (0, 1, False),
        (0, 2, False),
        (2, 3, True),  # reaches a multiple
        (0, 3, True),
        (3, 3, False),
        (3, 4, False),  # just past one: not again
        (3, 5, False),
        (5, 6, True),
        (4, 5, False),
        (6, 8, False),
        (4, 8, True),
        (1, 7, True),  # one append crossing a multiple without landing on it
    ],
)
def test_snapshot_due_when_a_multiple_of_n_is_crossed(old, new, due):
    store = EventStore("sqlite", SubjectKeys(os.urandom(32)), snapshot_every=3)
    assert store.snapshot_due(old, new) is due


def test_snapshots_can_be_switched_off():
    store = EventStore("sqlite", SubjectKeys(os.urandom(32)), snapshot_every=0)
    assert not store.snapshot_due(0, 1000)


def test_snapshot_save_and_load(engine, store):
    s, other = stream(), stream()
    with engine.connect() as conn:
        assert store.load_snapshot(conn, s, "licence") is None
    with engine.begin() as conn:
        store.save_snapshot(conn, s, 50, {"status": "issued", "holders": ["甲公司"]})
        store.save_snapshot(conn, other, 50, {"status": "other"})
    with engine.begin() as conn:
        store.save_snapshot(conn, s, 100, {"status": "suspended", "holders": ["甲公司"]})
    with engine.connect() as conn:
        snap = store.load_snapshot(conn, s, "licence")
        assert (snap.stream_id, snap.version, snap.schema_version) == (s, 100, 1)
        assert snap.state == {"status": "suspended", "holders": ["甲公司"]}
        assert store.load_snapshot(conn, other, "licence").state == {"status": "other"}
        assert conn.execute(select(func.count()).select_from(snapshots)).scalar_one() == 2


def test_old_snapshots_are_upcast_through_snapshot_kind(engine, master_key):
    up = Upcasters()

    @up.register("snapshot:licence", 1)
    def _v1_to_v2(state):
        state = dict(state)
        state["grade"] = state.pop("level")
        return state

    @up.register("LevelChanged", 1)  # an event upcaster must not touch snapshots
    def _not_for_snapshots(state):
        raise AssertionError("event upcaster applied to a snapshot")

    store = EventStore(engine.dialect.name, SubjectKeys(master_key), upcasters=up)
    s = stream()
    with engine.begin() as conn:
        store.save_snapshot(conn, s, 10, {"level": "A"}, schema_version=1)
    with engine.connect() as conn:
        snap = store.load_snapshot(conn, s, "licence")
        assert (snap.schema_version, snap.state) == (2, {"grade": "A"})
        # Another kind has no upcaster: read as stored.
        assert store.load_snapshot(conn, s, "unit").state == {"level": "A"}
        stored = conn.execute(select(snapshots).where(snapshots.c.stream_id == s)).one()
    assert (stored.schema_version, json.loads(stored.state)) == (1, {"level": "A"})


def test_personal_values_in_a_snapshot_are_encrypted_and_erasable(engine, store):
    s = stream()
    with engine.begin() as conn:
        store.save_snapshot(
            conn, s, 5, {"holder": Personal("person-1", "王小明"), "status": "issued"}
        )
    with engine.connect() as conn:
        raw = conn.execute(select(snapshots.c.state).where(snapshots.c.stream_id == s)).scalar()
        assert "王小明" not in raw
        assert store.load_snapshot(conn, s, "licence").state == {
            "holder": "王小明",
            "status": "issued",
        }
    with engine.begin() as conn:
        store.erase_subject(conn, "person-1")
    with engine.connect() as conn:
        assert store.load_snapshot(conn, s, "licence").state == {
            "holder": ERASED,
            "status": "issued",
        }


# -- upcasting --------------------------------------------------------------------------------


def test_old_events_are_upcast_on_read_and_never_rewritten(engine, master_key):
    up = Upcasters()

    @up.register("LicenceIssued", 1)
    def _v1_to_v2(data):
        data = dict(data)
        data["category"] = data.pop("kind")
        return data

    @up.register("LicenceIssued", 2)
    def _v2_to_v3(data):
        return {**data, "valid_years": data.get("valid_years", 4)}

    store = EventStore(engine.dialect.name, SubjectKeys(master_key), upcasters=up)
    s = stream()
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent("LicenceIssued", {"kind": "boiler"}, schema_version=1),
                NewEvent("LicenceIssued", {"category": "lift"}, schema_version=2),
                NewEvent("LicenceIssued", {"category": "crane", "valid_years": 2}, 3),
                NewEvent("LicenceSuspended", {"kind": "kept"}, schema_version=1),
            ],
        )
    with engine.connect() as conn:
        read = store.read_stream(conn, s)
        via_log = store.read_all(conn)
    expected = [
        (3, {"category": "boiler", "valid_years": 4}),
        (3, {"category": "lift", "valid_years": 4}),
        (3, {"category": "crane", "valid_years": 2}),
        (1, {"kind": "kept"}),
    ]
    assert [(e.schema_version, e.data) for e in read] == expected
    assert [(e.schema_version, e.data) for e in via_log] == expected
    stored = raw_row(engine, s, 1)
    assert (stored["schema_version"], json.loads(stored["data"])) == (1, {"kind": "boiler"})
    with engine.connect() as conn:
        assert store.verify(conn) == []


# -- hash chain -------------------------------------------------------------------------------


def _three_streams(engine, store) -> tuple[str, str, str]:
    a, b, c = stream(), stream(), stream()
    with engine.begin() as conn:
        store.append(conn, a, 0, [ev(n=i) for i in range(1, 5)])
        store.append(conn, b, 0, [ev(n=1, holder=Personal("p-1", "李四")), ev(n=2), ev(n=3)])
        store.append(conn, c, 0, [ev(n=1)])
    with engine.begin() as conn:
        store.append(conn, a, 4, [ev(n=5)])
    return a, b, c


def test_untouched_store_verifies_clean(engine, store):
    a, b, c = _three_streams(engine, store)
    with engine.connect() as conn:
        assert store.verify(conn) == []
        assert store.verify(conn, streams=[a, c]) == []


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"n":99}'),
        ("meta", '{"actor":{"id":"intruder","role":"admin"}}'),
        ("type", "InspectionWaived"),
        ("occurred_at", datetime(2020, 1, 1)),
        ("hash", "f" * 64),
    ],
)
def test_a_changed_row_is_named_exactly(engine, store, column, value):
    a, b, c = _three_streams(engine, store)
    target = raw_row(engine, a, 3)
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE events SET {column} = :v WHERE stream_id = :s AND version = 3"),
            {"v": value, "s": a},
        )
    with engine.connect() as conn:
        problems = store.verify(conn)
        assert store.verify(conn, streams=[b, c]) == []
    assert len(problems) == 1
    p = problems[0]
    assert (p["stream_id"], p["version"], p["event_id"], p["position"]) == (
        a,
        3,
        target["event_id"],
        target["position"],
    )
    assert "hash" in p["reason"]


def test_a_deleted_middle_row_is_a_version_gap(engine, store):
    a, b, c = _three_streams(engine, store)
    after_gap = raw_row(engine, b, 3)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE stream_id = :s AND version = 2"), {"s": b})
    with engine.connect() as conn:
        problems = store.verify(conn)
        assert store.verify(conn, streams=[a, c]) == []
    assert len(problems) == 1
    p = problems[0]
    assert (p["stream_id"], p["version"], p["event_id"]) == (b, 3, after_gap["event_id"])
    assert "version 3 where 2 was expected" in p["reason"]


def test_a_row_moved_to_another_stream_is_named_in_the_stream_it_joined(engine, store):
    a, b, c = _three_streams(engine, store)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET stream_id = :c, version = 2 WHERE stream_id = :a AND version = 5"
            ),
            {"a": a, "c": c},
        )
    with engine.connect() as conn:
        problems = store.verify(conn)
    # Stream a merely lost its last event, and a chain alone cannot tell a truncated stream
    # from a shorter one: only the stream the row joined is reported.
    assert {(p["stream_id"], p["version"]) for p in problems} == {(c, 2)}


# -- personal data ----------------------------------------------------------------------------


def test_personal_values_are_encrypted_at_rest_and_read_back_in_clear(engine, store):
    s = stream()
    id_number = "110101199003077777"
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent(
                    "OperatorCertified",
                    {
                        "name": Personal("person-9", "张三"),
                        "id_number": Personal("person-9", id_number),
                        "phones": [Personal("person-9", "13800138000")],
                        "certificate": "T-2024-118",
                    },
                )
            ],
        )
    raw = raw_row(engine, s, 1)
    for secret in ("张三", id_number, "13800138000"):
        assert secret not in raw["data"]
    assert "T-2024-118" in raw["data"]
    with engine.connect() as conn:
        (read,) = store.read_stream(conn, s)
        (envelope,) = store.read_stream(conn, s, decrypt=False)
    assert read.data == {
        "name": "张三",
        "id_number": id_number,
        "phones": ["13800138000"],
        "certificate": "T-2024-118",
    }
    assert envelope.data["name"] != "张三" and envelope.data["certificate"] == "T-2024-118"


def test_erased_subject_reads_as_erased_and_the_chain_still_verifies(engine, store):
    s = stream()
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent(
                    "OperatorCertified",
                    {
                        "name": Personal("person-1", "张三"),
                        "trainer": Personal("person-2", "李四"),
                        "certificate": "T-1",
                    },
                ),
                NewEvent("OperatorPhoneChanged", {"phone": Personal("person-1", "139")}),
            ],
        )
    with engine.begin() as conn:
        assert store.erase_subject(conn, "person-1") is True
        assert store.erase_subject(conn, "nobody") is False
    with engine.connect() as conn:
        read = store.read_stream(conn, s)
        assert read[0].data == {"name": ERASED, "trainer": "李四", "certificate": "T-1"}
        assert read[1].data == {"phone": ERASED}
        assert [e.data for e in store.read_all(conn)] == [e.data for e in read]
        assert store.verify(conn) == []


def test_erased_subject_written_again_gets_a_new_key_and_old_events_stay_erased(engine, store):
    s = stream()
    with engine.begin() as conn:
        store.append(conn, s, 0, [NewEvent("Named", {"name": Personal("person-1", "张三")})])
    with engine.connect() as conn:
        first_key = conn.execute(
            select(subject_keys.c.wrapped_key).where(subject_keys.c.subject_id == "person-1")
        ).scalar()
    with engine.begin() as conn:
        store.erase_subject(conn, "person-1")
    with engine.begin() as conn:
        store.append(conn, s, 1, [NewEvent("Named", {"name": Personal("person-1", "张三丰")})])
    with engine.connect() as conn:
        key_row = conn.execute(
            select(subject_keys).where(subject_keys.c.subject_id == "person-1")
        ).one()
        assert key_row.wrapped_key is not None and key_row.erased_at is None
        assert key_row.wrapped_key != first_key
        assert [e.data["name"] for e in store.read_stream(conn, s)] == [ERASED, "张三丰"]
        assert store.verify(conn) == []


# -- concurrency ------------------------------------------------------------------------------


def test_two_concurrent_appenders_at_the_same_version_exactly_one_wins(db_url, engine, store):
    """Two writers read version 1, then both append at it in overlapping transactions."""
    s = stream()
    with engine.begin() as conn:
        store.append(conn, s, 0, [ev(n=0)])
    results: dict[str, object] = {}
    if engine.dialect.name == "postgresql":
        lock_waits = _race_on_postgresql(engine, store, s, results)
        # The loser really waited on the winner's uncommitted row: the transactions overlapped.
        assert lock_waits >= 1
    else:
        _race_on_sqlite(db_url, store, s, results)

    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["ConcurrencyError", "list"], results
    (winner,) = [name for name, r in results.items() if isinstance(r, list)]
    with engine.connect() as conn:
        read = store.read_stream(conn, s)
        assert [e.version for e in read] == [1, 2]
        assert read[1].data == {"who": winner}
        assert store.verify(conn) == []


def _race_on_postgresql(engine, store, s, results) -> int:
    # psycopg2 yields to eventlet, so green threads on separate connections run real
    # overlapping PostgreSQL transactions; the loser blocks in the server on the unique index.
    both_read = Semaphore(0)
    go = Event()

    def writer(name: str) -> None:
        conn = engine.connect()
        try:
            with conn.begin():
                version = store.stream_version(conn, s)
                both_read.release()
                go.wait()
                try:
                    results[name] = store.append(conn, s, version, [ev(who=name)])
                except ConcurrencyError as exc:
                    results[name] = exc
                    raise
                eventlet.sleep(0.5)  # hold the row uncommitted while the other one waits
        except ConcurrencyError:
            pass
        finally:
            conn.close()

    threads = [eventlet.spawn(writer, name) for name in ("first", "second")]
    both_read.acquire()
    both_read.acquire()
    go.send()
    lock_waits = 0
    with engine.connect() as watch:
        for _ in range(40):
            eventlet.sleep(0.01)
            lock_waits = max(
                lock_waits,
                watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar(),
            )
            watch.rollback()
            if lock_waits:
                break
    for t in threads:
        t.wait()
    return lock_waits


def _race_on_sqlite(db_url, store, s, results) -> None:
    # SQLite blocks the whole process while it waits for the write lock, so the writers are
    # real OS threads, each with its own engine (as two processes would have).
    barrier = real_threading.Barrier(2)

    def writer(name: str) -> None:
        eng = make_engine(db_url, own_lock=True)
        try:
            with eng.connect() as conn:
                version = store.stream_version(conn, s)
                conn.rollback()
            barrier.wait()
            try:
                with eng.begin() as conn:
                    results[name] = store.append(conn, s, version, [ev(who=name)])
                    original("time").sleep(0.2)
            except ConcurrencyError as exc:
                results[name] = exc
        finally:
            eng.dispose()

    threads = [real_threading.Thread(target=writer, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


# -- append_many: bulk appends to many streams, each on its own ------------------------------


def test_append_many_writes_each_stream_on_its_own(engine, store):
    with engine.begin() as conn:
        store.append(conn, "bulk-old", 0, [ev(n=1)])
        retried = ev(n=9)
        store.append(conn, "bulk-retried", 0, [retried])
    with engine.begin() as conn:
        results = store.append_many(
            conn,
            [
                ("bulk-a", 0, [ev(n=1), ev(n=2)]),
                ("bulk-old", 0, [ev(n=2)]),  # stale: the stream is at 1
                ("bulk-b", None, [ev(n=1)]),
                ("bulk-retried", 0, [retried]),  # all ids stored: a no-op
                ("bulk-old-next", 0, [ev(n=1)]),
            ],
        )
    assert [len(r) if isinstance(r, list) else type(r).__name__ for r in results] == [
        2,
        "ConcurrencyError",
        1,
        0,
        1,
    ]
    with engine.connect() as conn:
        assert [e.version for e in store.read_stream(conn, "bulk-a")] == [1, 2]
        assert [e.data["n"] for e in store.read_stream(conn, "bulk-old")] == [1]
        assert len(store.read_stream(conn, "bulk-retried")) == 1
        assert store.verify(conn) == []


def test_append_many_refuses_a_stream_named_twice(engine, store):
    with engine.begin() as conn, pytest.raises(ValueError):
        store.append_many(conn, [("twice", 0, [ev()]), ("twice", 1, [ev()])])


def test_append_many_chains_onto_existing_heads(engine, store):
    with engine.begin() as conn:
        store.append(conn, "chained", 0, [ev(n=1), ev(n=2)])
    with engine.begin() as conn:
        [written] = store.append_many(conn, [("chained", 2, [ev(n=3)])])
    assert [e.version for e in written] == [3]
    with engine.connect() as conn:
        assert store.verify(conn, ["chained"]) == []


# -- the published form ------------------------------------------------------------------------


def test_message_json_is_to_message_with_the_data_as_stored(engine, master_key):
    """The relay publishes ``to_message_json``: the same JSON as ``to_message``, keys in the same
    order; the data goes in as stored only when it was neither decrypted nor upcast."""
    up = Upcasters()

    @up.register("Renamed", 1)
    def _v1(data):
        return {"name": data["old"]}

    store = EventStore(engine.dialect.name, SubjectKeys(master_key), upcasters=up)
    s = stream()
    data = {"名称": '电梯 "甲"\t', "n": [1, 2.5, None, True], "nested": {"b": 1, "a": "\u2028"}}
    with engine.begin() as conn:
        store.append(
            conn,
            s,
            0,
            [
                NewEvent("Noted", data),
                NewEvent("Renamed", {"old": "x"}, schema_version=1),
                NewEvent("Secret", {"who": Personal("person-1", "张三")}),
            ],
        )
    with engine.connect() as conn:
        published = store.read_all(conn, decrypt=False)
        decrypted = store.read_all(conn)
    assert [ev.stored_data is not None for ev in published] == [True, False, True]
    assert [ev.stored_data for ev in decrypted] == [None, None, None]
    for ev in published + decrypted:
        body = ev.to_message_json("svc")
        assert json.loads(body) == json.loads(json.dumps(ev.to_message("svc")))
        assert list(json.loads(body)) == list(ev.to_message("svc"))
    assert "张三" not in published[2].to_message_json("svc")
