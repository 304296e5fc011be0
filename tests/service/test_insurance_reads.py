"""What insurers push and read, on a real store (SQLite and PostgreSQL): canonical replays,
legacy register codes, the scope of an insurer's reads, quotes, pages and versions.

No broker: the use cases run on a unit of work of their own, as a worker's would; the
register's facts are stored and projected the way the service's subscriber does it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import inspect as sa_inspect

from infra.bus.dependencies import UnitOfWork
from infra.clock import Clock
from infra.errors import Invalid, NotFound, PreconditionFailed
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, make_meta, migrate
from infra.repository import Repository
from services.insurance import quotes, reads, sync
from services.insurance.projections import KINDS, OBSERVED_PREFIX, READ_MODELS
from services.insurance.service import MIGRATIONS

INSURER, RIVAL = "91350200776049653A", "913502000728319549"
A, B = "311012345201400001", "311012345201400002"
LEGACY = "31003101152014030001"  # the Shanghai registration code of A, registered under both
NOW = datetime.fromisoformat("2014-12-01T09:00:00+08:00")
POLICY = {
    "policy_no": "PA-1",
    "revision": 1,
    "policyholders": [
        {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "0.70"},
        {"uscc": "91440101MA5CJQ4N59", "name": "Lift Care", "role": "maintenance", "share": "0.30"},
    ],
    "equipment_codes": [A, B],
    "cover": "liability",
    "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
    "premium": "93.00",
    "starts_on": "2014-07-01",
    "ends_on": "2015-06-30",
    "status": "active",
}


def pushed(**changes) -> dict:
    return {**copy.deepcopy(POLICY), **changes}


class Worker:
    """A worker's unit of work: ``repo`` for commands, ``commit`` to end it."""

    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)
        self.clock = Clock(NOW)

    def repo(self, request_id: str = "req-1") -> Repository:
        meta = make_meta({"id": "t1", "role": "insurer"}, request_id)
        return Repository(self.uow, KINDS, READ_MODELS, meta)

    def sync(self, *items: dict, insurer: str = INSURER) -> list[dict]:
        results = sync.sync_policies(self.repo(), NOW, insurer, list(items))
        self.commit()
        return results

    def register(self, code: str, legacy: str | None = None, district: str = "310104") -> None:
        """Licensing's EquipmentRegistered, as the subscriber stores and projects it."""
        data = {"equipment_code": code, "district": district, "in_ftz": False}
        data["registered_on"] = "2014-11-01"
        if legacy:
            data["legacy_code"] = legacy
        stored = self.uow.append(
            f"licensing:equipment-{code}",
            None,
            [NewEvent(OBSERVED_PREFIX + "EquipmentRegistered", data)],
            make_meta(),
        )
        for ev in stored:
            READ_MODELS.project_fact(self.uow.conn, ev)
        self.commit()

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def view(self, policy_no: str = "PA-1") -> dict:
        return reads.get_policy(self.uow, policy_no, INSURER)

    def coverage(self, code: str, on: str = "2014-12-01", insurer: str | None = None) -> dict:
        return reads.coverage(self.uow, self.clock, code, on, insurer)


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("insurance_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    yield w
    w.uow.rollback()
    engine.dispose()


# --- the same content, written otherwise ------------------------------------------------------


def test_a_replay_with_reordered_elevators_and_shares_written_otherwise_is_unchanged(worker):
    worker.sync(pushed())
    again = pushed(equipment_codes=[B, A])
    again["policyholders"][0]["share"] = "0.7"
    again["policyholders"][1]["share"] = "0.3"
    [result] = worker.sync(again)
    assert (result["status"], result["outcome"], result["version"]) == (200, "unchanged", 1)


def test_money_without_decimals_is_kept_with_two(worker):
    body = pushed(premium="93", limits={"per_accident": "5000000", "per_person": "800000.0"})
    [created] = worker.sync(body)
    assert created["status"] == 201
    view = worker.view()
    assert view["premium"] == "93.00"
    assert view["limits"] == {"per_accident": "5000000.00", "per_person": "800000.00"}
    [replay] = worker.sync(pushed(premium="93.00", limits=view["limits"]))
    assert replay["outcome"] == "unchanged"


# --- legacy register codes --------------------------------------------------------------------


def test_a_policy_naming_the_legacy_code_matches_the_registered_elevator(worker):
    worker.sync(pushed(equipment_codes=[LEGACY]))
    assert worker.view()["equipment"] == [{"equipment_code": LEGACY, "match": "pending"}]
    worker.register(A, legacy=LEGACY)
    [entry] = worker.view()["equipment"]
    assert (entry["match"], entry["registered_as"]) == ("registered", A)
    # covered under either code
    assert worker.coverage(A)["covered"] is True
    assert worker.coverage(LEGACY)["covered"] is True


def test_a_policy_naming_the_code_covers_the_elevator_asked_for_by_its_legacy_code(worker):
    worker.register(A, legacy=LEGACY, district="310151")
    worker.sync(pushed(equipment_codes=[A]))
    assert worker.view()["equipment"] == [{"equipment_code": A, "match": "registered"}]
    assert worker.coverage(LEGACY)["covered"] is True
    district = reads.district_coverage(worker.uow, worker.clock, "310151", "2014-12-01")
    assert (district["elevators"], district["covered"]) == (1, 1)


def test_the_district_counts_an_elevator_covered_under_its_legacy_code(worker):
    worker.register(A, legacy=LEGACY, district="310151")
    worker.register(B, district="310151")
    worker.sync(pushed(equipment_codes=[LEGACY]))
    district = reads.district_coverage(worker.uow, worker.clock, "310151", "2014-12-01")
    assert (district["elevators"], district["covered"], district["ratio"]) == (2, 1, 0.5)


def test_premium_factors_of_an_elevator_asked_for_by_its_legacy_code(worker):
    worker.register(A, legacy=LEGACY)
    worker.sync(pushed(equipment_codes=[A]))
    factors = reads.premium_factors(worker.uow, worker.clock, LEGACY, INSURER)
    assert (factors["equipment_code"], factors["age_years"]) == (A, 0)


# --- what an insurer may read -----------------------------------------------------------------


def test_an_insurer_reads_only_its_own_policies_on_an_elevator_it_insures(worker):
    worker.sync(pushed(policy_no="MINE"))
    worker.sync(pushed(policy_no="THEIRS"), insurer=RIVAL)
    mine = worker.coverage(A, insurer=INSURER)
    assert mine["covered"] is True and mine["covered_by_another_insurer"] is True
    assert [p["policy_no"] for p in mine["policies"]] == ["MINE"]
    # officers see every policy
    assert {p["policy_no"] for p in worker.coverage(A)["policies"]} == {"MINE", "THEIRS"}


def test_an_insurer_cannot_read_an_elevator_it_neither_insures_nor_quotes(worker):
    worker.register(A)
    worker.sync(pushed(equipment_codes=[A]), insurer=RIVAL)
    with pytest.raises(NotFound):
        worker.coverage(A, insurer=INSURER)
    with pytest.raises(NotFound):
        reads.premium_factors(worker.uow, worker.clock, A, INSURER)


def test_a_declared_quote_opens_the_elevator_until_it_expires(worker):
    worker.register(A, legacy=LEGACY)
    worker.sync(pushed(equipment_codes=[A]), insurer=RIVAL)
    quote = quotes.declare(worker.repo(), NOW, INSURER, [LEGACY], "2014-12-31")
    worker.commit()
    assert quote["valid_until"] == "2014-12-31" and quote["equipment_codes"] == [LEGACY]
    seen = worker.coverage(A, insurer=INSURER)
    assert seen["covered"] is True and seen["covered_by_another_insurer"] is True
    assert seen["policies"] == []  # the rival's policy number stays hidden
    assert reads.premium_factors(worker.uow, worker.clock, A, INSURER)["equipment_code"] == A
    worker.clock = Clock(datetime.fromisoformat("2015-01-01T09:00:00+08:00"))
    with pytest.raises(NotFound):
        worker.coverage(A, insurer=INSURER)


@pytest.mark.parametrize(
    "valid_until",
    ["2014-11-30", "2015-03-02"],  # yesterday; over 90 days ahead
)
def test_a_quote_is_valid_from_today_for_at_most_90_days(worker, valid_until):
    with pytest.raises(Invalid) as refused:
        quotes.declare(worker.repo(), NOW, INSURER, [A], valid_until)
    assert set(refused.value.errors) == {"valid_until"}


def test_a_quote_retried_by_the_same_request_is_recorded_once(worker):
    first = quotes.declare(worker.repo("req-q"), NOW, INSURER, [A], "2014-12-31")
    again = quotes.declare(worker.repo("req-q"), NOW, INSURER, [A], "2014-12-31")
    assert first == again and first["version"] == 1


# --- pages and versions -----------------------------------------------------------------------


def test_policies_ending_come_in_pages_that_miss_and_repeat_nothing(worker):
    worker.sync(
        *(pushed(policy_no=f"PE-{i:02d}", ends_on=f"2014-12-{10 + i % 3}") for i in range(7))
    )
    seen, after = [], None
    while True:
        # a page of 3 asks for 4: the fourth says there is more
        page = reads.policies_ending(worker.uow, worker.clock, 30, INSURER, limit=4, after=after)
        seen += [p["policy_no"] for p in page[:3]]
        if len(page) <= 3:
            break
        last = page[2]
        after = [last["ends_on"], last["insurer"], last["policy_no"]]
    assert sorted(seen) == [f"PE-{i:02d}" for i in range(7)] and len(seen) == 7


def test_a_push_with_another_expected_version_is_refused_and_changes_nothing(worker):
    worker.sync(pushed())
    with pytest.raises(PreconditionFailed):
        sync.sync_policy(worker.repo(), NOW, INSURER, pushed(revision=2), expected_version=2)
    worker.commit()
    assert worker.view()["revision"] == 1
    done = sync.sync_policy(worker.repo(), NOW, INSURER, pushed(revision=2), expected_version=1)
    assert (done["status"], done["version"]) == (200, 2)


def test_an_item_whose_policy_number_is_not_text_is_refused_alone(worker):
    results = worker.sync(pushed(policy_no=["PA-1"]), pushed(policy_no="PA-2"))
    assert [r["status"] for r in results] == [422, 201]
    assert results[0]["policy_no"] is None and "policy_no" in results[0]["errors"]


def test_the_highest_revision_is_what_the_column_holds(worker):
    column = {c["name"]: c for c in sa_inspect(worker.engine).get_columns("policies")}
    assert str(column["revision"]["type"]).upper() == "INTEGER"  # 32 bits on PostgreSQL
    [top] = worker.sync(pushed(revision=2**31 - 1))
    assert top["status"] == 201 and worker.view()["revision"] == 2**31 - 1
    [over] = worker.sync(pushed(policy_no="PA-2", revision=2**31))
    assert over["status"] == 422 and set(over["errors"]) == {"revision"}
