"""A service built from the kit alone (``tests/kit_example/noticeboard``), registered like any
other, run in a real nameko container on a fresh vhost of the real broker, on SQLite and on
PostgreSQL, and driven over real RPC: the executable proof of ``docs/adding-a-service.md``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import eventlet
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from infra import domain, errors, registry
from infra.bus.relay_status import park
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine
from infra.eventstore.schema import events
from infra.eventstore.schema import metadata as store_metadata
from infra.settings import nameko_config
from infra.testing import env, wait_until
from tests.kit_example.noticeboard import SERVICE
from tests.kit_example.noticeboard.projections import READ_MODELS, notices
from tests.schema_compare import declared_on, describe, differences

TODAY = date(2030, 1, 10)
FAR = (TODAY + timedelta(days=400)).isoformat()  # no sweep of these tests reaches it
VERSION_TABLES = ["sesp_kernel", "noticeboard_version"]


class Noticeboard:
    """The running service: its container, config, database and clock."""

    def __init__(self, config: dict, url: str, clock_file):
        self.config, self.url, self.clock_file = config, url, clock_file
        self.engine = make_engine(url)

    def set_today(self, day: date) -> None:
        self.clock_file.write_text(f"{day.isoformat()}T09:00:00+08:00")

    @contextmanager
    def rpc(self) -> Iterator:
        with ClusterRpcProxy(self.config, timeout=30) as proxy:
            yield proxy.noticeboard

    def rows(self, board: str) -> list[dict]:
        query = sa.select(notices).where(notices.c.board == board).order_by(notices.c.number)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def noticeboard(request, broker, tmp_path_factory) -> Iterator[Noticeboard]:
    """The registered service, started from its spec on a fresh vhost and database."""
    tmp = tmp_path_factory.mktemp("noticeboard")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp / 'noticeboard.db'}", None
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database()
        drop = postgres.drop_database
    vhost = broker.create_vhost()
    clock = tmp / "clock"
    registry.register(SERVICE)
    config = {
        **nameko_config("noticeboard"),
        "AMQP_URI": broker.uri_for(vhost),
        "SESP_DATABASE_URL": url,
    }
    try:
        with env(SESP_DATA_DIR=str(tmp), SESP_CLOCK_FILE=str(clock)):
            service = Noticeboard(config, url, clock)
            service.set_today(TODAY)
            container = ServiceContainer(registry.spec("noticeboard").service_class(), config)
            container.start()
            try:
                yield service
            finally:
                with eventlet.Timeout(30):
                    container.stop()
                service.engine.dispose()
    finally:
        registry.unregister("noticeboard")
        broker.delete_vhost(vhost)
        if drop is not None:
            drop(url)


def board_name() -> str:
    return f"lobby-{uuid.uuid4().hex[:8]}"


def pin(board: str, title: str = "Lift 3 out of order", expires_on: str = FAR) -> dict:
    return {"board": board, "title": title, "expires_on": expires_on}


def refusal(call, *args, **kwargs) -> errors.DomainError:
    with pytest.raises(errors.DomainError) as err:
        call(*args, **kwargs)
    return err.value


# --- registered, started, answering ---------------------------------------------------------


def test_the_service_is_registered_and_answers(noticeboard):
    assert "noticeboard" in registry.names()
    with noticeboard.rpc() as rpc:
        # The store, password hidden, so that `sesp` can say which one a command reached.
        store = noticeboard.engine.url.render_as_string(hide_password=True)
        assert rpc.ping() == {"service": "noticeboard", "ok": True, "store": store}


def test_its_migrations_create_exactly_its_declared_tables(noticeboard, request):
    built = describe(noticeboard.engine, exclude=VERSION_TABLES)
    assert set(built) - set(store_metadata.tables) == {"notices"}
    if noticeboard.engine.dialect.name == "sqlite":
        url = f"sqlite:///{noticeboard.clock_file.parent / uuid.uuid4().hex}.db"
        drop = None
    else:
        postgres = request.getfixturevalue("postgres")
        url, drop = postgres.create_database(), postgres.drop_database
    try:
        declared = declared_on(lambda: url, store_metadata, READ_MODELS.metadata)
    finally:
        if drop is not None:
            drop(url)
    assert differences(built, declared) == []


# --- commands -------------------------------------------------------------------------------


def test_a_pinned_notice_is_recorded_and_projected(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        assert rpc.pin(pin(board)) == {"board": board, "version": 1, "pinned": 1}
        assert rpc.pin(pin(board, "Fire drill Friday")) == {
            "board": board,
            "version": 2,
            "pinned": 2,
        }
    assert [(r["number"], r["title"], r["pinned"]) for r in noticeboard.rows(board)] == [
        (1, "Lift 3 out of order", True),
        (2, "Fire drill Friday", True),
    ]


def test_read_stream_returns_the_boards_events(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        rpc.pin(pin(board))
        rpc.unpin({"board": board, "number": 1})
        messages = rpc.read_stream(f"board-{board}")
        assert rpc.read_stream(f"board-{board}", 1) == messages[1:]
    assert [(m["version"], m["type"]) for m in messages] == [
        (1, "NoticePinned"),
        (2, "NoticeUnpinned"),
    ]
    assert messages[0]["data"]["notice"] == {
        "number": 1,
        "title": "Lift 3 out of order",
        "expires_on": FAR,
        "pinned": True,
    }
    assert messages[1]["data"]["reason"] == "withdrawn"
    assert all(m["service"] == "noticeboard" for m in messages)


def test_a_schema_refusal_comes_back_as_invalid_with_field_paths(noticeboard):
    with noticeboard.rpc() as rpc:
        err = refusal(rpc.pin, {"board": board_name(), "title": "", "color": "red"})
    assert type(err) is errors.Invalid
    assert set(err.errors) == {"title", "expires_on", "color"}


def test_a_rule_refusal_comes_back_as_invalid_on_its_field(noticeboard):
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    with noticeboard.rpc() as rpc:
        err = refusal(rpc.pin, pin(board_name(), expires_on=yesterday))
    assert type(err) is errors.Invalid
    assert err.errors == {"expires_on": ["must not be in the past"]}


def test_an_unknown_board_or_notice_comes_back_as_not_found(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        assert type(refusal(rpc.unpin, {"board": board, "number": 1})) is errors.NotFound
        rpc.pin(pin(board))
        assert type(refusal(rpc.unpin, {"board": board, "number": 2})) is errors.NotFound


def test_unpinning_twice_comes_back_as_conflict(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        rpc.pin(pin(board))
        rpc.unpin({"board": board, "number": 1})
        err = refusal(rpc.unpin, {"board": board, "number": 1})
    assert type(err) is errors.Conflict
    assert err.detail == "notice 1 is unpinned already"


# --- commands are applied once --------------------------------------------------------------


def test_a_retried_command_with_the_same_command_id_appends_nothing(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        first = rpc.pin(pin(board), command_id="c-1")
        again = rpc.pin(pin(board), command_id="c-1")
        events = rpc.read_stream(f"board-{board}")
        other = rpc.pin(pin(board), command_id="c-2")
    assert first == again == {"board": board, "version": 1, "pinned": 1}
    assert [m["version"] for m in events] == [1]
    assert events[0]["event_id"] == domain.derived_id("command", "c-1", f"board-{board}", 0)
    assert other["version"] == 2  # another command id is another command


def test_a_retry_its_own_effect_would_refuse_is_no_refusal(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        rpc.pin(pin(board))
        assert rpc.unpin({"board": board, "number": 1}, command_id="u-1")["version"] == 2
        assert rpc.unpin({"board": board, "number": 1}, command_id="u-1")["version"] == 2
        # A different command is refused by the same state.
        err = refusal(rpc.unpin, {"board": board, "number": 1}, command_id="u-2")
        assert type(err) is errors.Conflict
        assert len(rpc.read_stream(f"board-{board}")) == 2


# --- time-driven rules ----------------------------------------------------------------------


def test_the_sweep_unpins_expired_notices_once(noticeboard):
    boards = sorted(board_name() for _ in range(3))
    ends = TODAY + timedelta(days=5)
    with noticeboard.rpc() as rpc:
        for board in boards:
            rpc.pin(pin(board, "Boiler inspection", ends.isoformat()))
            rpc.pin(pin(board, "Keep this one"))
        assert rpc.sweep_now() == {"unpinned": 0}
        noticeboard.set_today(ends + timedelta(days=1))
        try:
            assert rpc.sweep_now() == {"unpinned": 3}
            assert rpc.sweep_now() == {"unpinned": 0}
        finally:
            noticeboard.set_today(TODAY)
        streams = [rpc.read_stream(f"board-{b}") for b in boards]
    for board, stream in zip(boards, streams, strict=True):
        assert [r["pinned"] for r in noticeboard.rows(board)] == [False, True]
        assert stream[-1]["type"] == "NoticeUnpinned"
        assert stream[-1]["data"]["reason"] == "expired"
        assert stream[-1]["meta"]["actor"]["id"] == "system"


# --- its outbox relay cannot stop silently -------------------------------------------------


def test_a_poison_event_shows_in_relay_status_until_it_is_parked(noticeboard):
    store = EventStore(noticeboard.engine.dialect.name, SubjectKeys(b"k" * 32))
    with noticeboard.rpc() as rpc:
        rpc.pin(pin(board_name()))
        wait_until(lambda: rpc.relay_status()["behind"] == 0, what="published")
        with noticeboard.engine.begin() as conn:  # committed unreadable: a bad migration, a bug
            (bad,) = store.append(conn, f"junk-{uuid.uuid4().hex}", 0, [NewEvent("Junk", {})])
            conn.execute(
                sa.update(events).where(events.c.event_id == bad.event_id).values(data="{")
            )
        rpc.pin(pin(board_name()))  # a healthy event behind it
        wait_until(lambda: rpc.relay_status()["stuck_event"] is not None, what="stuck")
        stuck = rpc.relay_status()
        assert stuck["service"] == "noticeboard" and stuck["active_here"] is True
        assert stuck["stuck_event"]["event_id"] == bad.event_id
        assert stuck["stuck_event"]["type"] == "Junk"
        assert stuck["behind"] == 2 and stuck["lag_seconds"] > 0
        assert "unreadable" in stuck["error"] and stuck["failures"] >= 1

        with noticeboard.engine.begin() as conn:  # what `sesp relay skip` does
            park(conn, bad.event_id, "junk from a test")
        wait_until(lambda: rpc.relay_status()["behind"] == 0, what="the rest published")
        after = rpc.relay_status()
    assert (after["error"], after["stuck_event"], after["parked"]) == (None, None, 1)
    with noticeboard.engine.begin() as conn:  # the module's later tests read a sound store
        conn.execute(sa.delete(events).where(events.c.event_id == bad.event_id))


# --- read models are disposable -------------------------------------------------------------


def test_replay_rebuilds_read_models_equal_to_the_live_ones(noticeboard):
    board = board_name()
    with noticeboard.rpc() as rpc:
        for title in ("Water off Tuesday", "Lift 1 serviced", "AGM"):
            rpc.pin(pin(board, title))
        rpc.unpin({"board": board, "number": 2})
        live = rpc.read_model_digest()
        with noticeboard.engine.begin() as conn:  # lose and damage rows behind its back
            conn.execute(sa.delete(notices).where(notices.c.number == 1))
            conn.execute(sa.update(notices).values(title="tampered"))
        assert rpc.read_model_digest() != live
        with noticeboard.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(sa.table("events")))
            n_events = stored.scalar_one()
        assert rpc.replay() == {"events": n_events}
        assert rpc.read_model_digest() == live
        progress = rpc.replay_progress()
    assert progress["running"] is False and progress["done"] == progress["total"] == n_events
    assert [r["title"] for r in noticeboard.rows(board)] == [
        "Water off Tuesday",
        "Lift 1 serviced",
        "AGM",
    ]
