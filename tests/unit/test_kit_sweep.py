"""``infra.sweep.Sweep`` over an in-memory repository: bounded runs that never starve.

The fake stands in for the repository only (load many, save, save many, a savepoint); the
sweep's own logic (cursor, wrap-around, skipping, derived command ids) is what runs, one
aggregate at a time and in bulk alike (every test runs in both modes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from infra import domain
from infra.eventstore import ConcurrencyError
from infra.sweep import Sweep

NOW = datetime(2014, 10, 11, 1, 0, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Expire(domain.Command):
    pass


@dataclass(frozen=True, kw_only=True)
class Expired(domain.Event):
    """The item's time ran out."""


@dataclass
class Item(domain.Aggregate):
    key: str = ""
    expired: bool = False
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        if self.key in REFUSE:
            raise domain.Invalid("expires_on", "unreadable")
        return [Expired(at=now, actor=domain.SYSTEM_ACTOR)]

    def apply(self, event: domain.Event) -> None:
        self.expired = True
        self.version += 1


REFUSE: set[str] = set()


@dataclass
class FakeConn:
    def begin_nested(self):
        return contextlib.nullcontext()


@dataclass
class FakeRepository:
    """Items by key; ``stuck`` ones stay due with nothing to do, ``conflicts`` counts how
    many more saves of a key lose a race."""

    items: dict[str, Item]
    conflicts: dict[str, int] = field(default_factory=dict)
    conn: FakeConn = field(default_factory=FakeConn)
    read_models: None = None
    command_ids: list[str] = field(default_factory=list)

    def due(self, conn, after, limit, now=None) -> list[str]:
        keys = sorted(k for k, item in self.items.items() if not item.expired)
        return [k for k in keys if after is None or k > after][:limit]

    def load_many(self, cls, keys):
        return {k: dataclasses.replace(self.items[k]) for k in keys}

    def save(self, key, aggregate, events, event_ids=None, *, command_id=None):
        if self.conflicts.get(key, 0):
            self.conflicts[key] -= 1
            raise ConcurrencyError(f"item-{key}", aggregate.version, aggregate.version + 1)
        self.command_ids.append(command_id)
        for event in events:
            aggregate.apply(event)
        self.items[key] = aggregate
        return list(events)

    def save_many(self, changes, *, command_id=None, command_ids=None, event_ids=None):
        """Each change on its own, as the store's ``append_many`` reports them."""
        written: list = []
        for i, (key, aggregate, events) in enumerate(changes):
            try:
                cid = command_ids[i] if command_ids else command_id
                written.append(self.save(key, aggregate, events, command_id=cid))
            except ConcurrencyError as exc:
                written.append(exc)
        return written


# Every test runs with the sweep in both modes: one aggregate at a time, and in bulk.
MODE = {"bulk": False}


@pytest.fixture(autouse=True, params=[False, True], ids=["one-at-a-time", "bulk"])
def mode(request):
    MODE["bulk"] = request.param
    yield request.param
    MODE["bulk"] = False


def make(n_due: int, stuck: set[int]) -> tuple[FakeRepository, set[str], list[str]]:
    keys = [f"k{i:03d}" for i in range(n_due)]
    repo = FakeRepository({k: Item(k) for k in keys})
    return repo, {keys[i] for i in stuck}, keys


def sweep_for(repo: FakeRepository, stuck: set[str], visited: list[str], batch: int) -> Sweep:
    def command(item: Item, now: datetime):
        visited.append(item.key)
        return None if item.key in stuck else Expire(actor=domain.SYSTEM_ACTOR)

    return Sweep("expiry", Item, repo.due, command, batch=batch, bulk=MODE["bulk"])


@pytest.fixture(autouse=True)
def no_refusals():
    REFUSE.clear()
    yield
    REFUSE.clear()


LAYOUTS = [
    pytest.param(3, 10, set(range(4)), id="stuck-first"),
    pytest.param(3, 10, {0, 2, 4, 6, 8}, id="stuck-interleaved"),
    pytest.param(3, 9, {6, 7, 8}, id="stuck-last-batch-full"),
    pytest.param(4, 17, set(range(8)), id="stuck-two-whole-batches"),
    pytest.param(5, 23, set(range(23)), id="all-stuck"),
    pytest.param(1, 4, {0}, id="batch-of-one"),
]


@pytest.mark.parametrize(("batch", "n_due", "stuck_at"), LAYOUTS)
def test_every_due_aggregate_is_visited_within_ceil_due_over_batch_plus_one_runs(
    batch, n_due, stuck_at
):
    repo, stuck, keys = make(n_due, stuck_at)
    visited: list[str] = []
    sweep = sweep_for(repo, stuck, visited, batch)
    for _ in range(math.ceil(n_due / batch) + 1):
        sweep.run(repo, NOW)
    assert set(visited) == set(keys)
    assert {k for k, item in repo.items.items() if not item.expired} == stuck


@pytest.mark.parametrize(("batch", "n_due", "stuck_at"), LAYOUTS)
def test_no_run_loads_more_than_a_batch(batch, n_due, stuck_at):
    repo, stuck, _ = make(n_due, stuck_at)
    visited: list[str] = []
    sweep = sweep_for(repo, stuck, visited, batch)
    for _ in range(2 * math.ceil(n_due / batch) + 2):
        before = len(visited)
        sweep.run(repo, NOW)
        assert len(visited) - before <= batch


def test_stuck_aggregates_keep_being_revisited_after_the_walk_wraps():
    repo, stuck, keys = make(7, set(range(7)))
    visited: list[str] = []
    sweep = sweep_for(repo, stuck, visited, 3)
    for _ in range(6):
        sweep.run(repo, NOW)
    assert visited.count(keys[0]) == 2 and visited.count(keys[6]) == 2


def test_a_run_returns_how_many_aggregates_changed():
    repo, stuck, _ = make(5, {1})
    sweep = sweep_for(repo, stuck, [], 10)
    assert sweep.run(repo, NOW) == 4
    assert sweep.run(repo, NOW) == 0


def test_a_conflict_on_one_aggregate_is_skipped_without_stopping_the_rest():
    repo, stuck, keys = make(6, set())
    repo.conflicts[keys[2]] = 1  # loses one race, then goes through
    sweep = sweep_for(repo, stuck, [], 10)
    assert sweep.run(repo, NOW) == 5
    assert not repo.items[keys[2]].expired
    assert all(repo.items[k].expired for k in keys if k != keys[2])
    assert sweep.run(repo, NOW) == 1  # the next run sees it again
    assert repo.items[keys[2]].expired


def test_a_refused_command_on_one_aggregate_is_skipped_without_stopping_the_rest():
    repo, stuck, keys = make(6, set())
    REFUSE.add(keys[1])
    sweep = sweep_for(repo, stuck, [], 10)
    assert sweep.run(repo, NOW) == 5
    assert [k for k, item in repo.items.items() if not item.expired] == [keys[1]]


def test_sweep_events_derive_their_ids_from_the_sweep_the_key_and_the_version():
    repo, stuck, keys = make(2, set())
    sweep_for(repo, stuck, [], 10).run(repo, NOW)
    assert repo.command_ids == [domain.derived_id("sweep", "expiry", k, 0) for k in keys]


def test_a_dated_sweep_asks_for_what_is_due_at_the_time_it_runs():
    asked: list[datetime] = []
    repo, _, _ = make(3, set())

    def due(conn, after, limit, now):
        asked.append(now)
        return repo.due(conn, after, limit)

    sweep = Sweep("expiry", Item, due, lambda item, now: Expire(actor="system"), dated=True)
    sweep.run(repo, NOW)
    assert asked == [NOW]
