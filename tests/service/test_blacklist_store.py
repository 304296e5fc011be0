"""The blacklist on a real store (SQLite and PostgreSQL): automatic listings from the credit
service's events (named from licensing's), manual listings, credit repair, the removal sweep,
the public reads, and a rebuild equal to the live read models.

No broker: the use cases run on a unit of work of their own, as a worker's would; the other
services' events arrive as the subscriber hands them over.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from infra import errors
from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.repository import Repository
from services.blacklist import intake, listings, reads
from services.blacklist.domain import Terms
from services.blacklist.projections import KINDS, READ_MODELS
from services.blacklist.service import MIGRATIONS, REMOVAL
from services.licensing.examples import maintenance_licence_issued

UNIT, OTHER = "91350200776049653A", "913502000728319549"
USCCS = [UNIT, OTHER, "9135021359498494XQ", "91440101MA5CJQ4N59", "91310115MA1FL0001N"]
TERMS = Terms()


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T09:00:00+08:00")


def incoming(service: str, kind: str, stream: str, data: dict, on: str) -> IncomingEvent:
    return IncomingEvent(
        service=service,
        event_id=str(uuid.uuid4()),
        stream_id=stream,
        version=1,
        position=0,
        type=kind,
        schema_version=1,
        data={"at": at(on).isoformat(), "actor": "system", **data},
        meta={},
        occurred_at=at(on),
    )


def licence_issued(
    uscc: str, name: str, bureau: str = "310104", district: str | None = None
) -> IncomingEvent:
    no = f"TS-{uscc[-4:]}"
    data = maintenance_licence_issued(uscc, no, name=name, bureau=bureau, district=district)
    return incoming("licensing", "LicenceIssued", f"licence-{no}", data, "2016-01-01")


def grade_finalized(uscc: str, grade: str, period: str = "2016", on: str = "2017-02-01"):
    data = {"uscc": uscc, "period": period, "demerits": "45", "grade": grade, "vetoed": False}
    return incoming("maintenance_credit", "GradeFinalized", f"standing-{uscc}", data, on)


def triggered(uscc: str, reason: str, fact_id: str | None, on: str):
    data = {"uscc": uscc, "reason": reason, "fact_id": fact_id, "occurred_on": on}
    return incoming("maintenance_credit", "BlacklistTriggered", f"standing-{uscc}", data, on)


class Worker:
    """A worker's unit of work, with the service's clock set to ``today``."""

    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)
        self.today = "2017-02-01"

    @property
    def now(self) -> datetime:
        return at(self.today)

    def repo(self, role: str = "city_admin") -> Repository:
        meta = make_meta({"id": "t1", "role": role}, str(uuid.uuid4()))
        return Repository(self.uow, KINDS, READ_MODELS, meta)

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def observe(self, *events: IncomingEvent) -> list[bool]:
        out = []
        for ev in events:
            repo = self.repo("system")
            if ev.service == "licensing":
                out.append(intake.observe_licensing(repo, ev, TERMS))
            else:
                out.append(intake.observe_credit(repo, ev, TERMS))
        self.commit()
        return out

    def call(self, fn, *args, **kw):
        try:
            result = fn(self.repo(kw.pop("role", "city_admin")), self.now, *args, **kw)
        except Exception:
            self.uow.rollback()
            self.uow = UnitOfWork(self.engine, self.store)
            raise
        self.commit()
        return result

    def sweep(self) -> int:
        n = REMOVAL.run(self.repo("system"), self.now)
        self.commit()
        return n

    def public(self, **filters) -> list[dict]:
        return reads.public_blacklist(self.uow.conn, filters, 51)


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("blacklist_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    REMOVAL.cursor = None
    yield w
    w.uow.rollback()
    engine.dispose()


def manual(uscc: str = OTHER, decision_no: str = "沪市监罚〔2017〕3号", **more) -> dict:
    return {
        "uscc": uscc,
        "name": "浦东电梯维保有限公司",
        "district": "310115",
        "reason": "forged maintenance records",
        "legal_basis": "Special Equipment Safety Law art. 88",
        "decision_no": decision_no,
        **more,
    }


def test_a_final_grade_d_lists_the_unit_once_naming_the_event(worker):
    worker.observe(licence_issued(UNIT, "Huangpu Lift Care"))
    final_d = grade_finalized(UNIT, "D")
    assert worker.observe(final_d, final_d, grade_finalized(OTHER, "C")) == [True, False, False]
    # the credit service's own trigger of the same final grade lists nothing more
    assert worker.observe(triggered(UNIT, "final_grade_d", None, "2017-02-01")) == [False]
    (listing,) = worker.public()
    assert listing["id"] == f"{UNIT}-1"
    assert (listing["name"], listing["district"]) == ("Huangpu Lift Care", "310104")
    assert listing["trigger_event_id"] == final_d.event_id
    assert (listing["list"], listing["status"], listing["authority"]) == (
        "maintenance_quality",
        "listed",
        "SH",
    )
    assert (
        listing["listed_on"],
        listing["earliest_removal_on"],
        listing["publication_ends_on"],
    ) == (
        "2017-02-01",
        "2018-02-01",
        "2020-02-01",
    )


def test_the_blacklist_triggers_list_once_per_cause(worker):
    events = [
        triggered(UNIT, "beyond_licence_scope", "fact-1", "2017-01-10"),
        triggered(UNIT, "beyond_licence_scope", "fact-1", "2017-01-10"),
        triggered(UNIT, "beyond_licence_scope", "fact-2", "2017-01-20"),
        triggered(UNIT, "first_pass_rate_below_60", "insp-1", "2017-01-25"),
        triggered(UNIT, "first_pass_rate_below_60", "insp-7", "2017-03-25"),
    ]
    assert worker.observe(*events) == [True, False, True, True, False]
    rows = worker.public(uscc=UNIT)
    assert [r["reason"] for r in rows] == [
        "maintenance work beyond the licence scope",
        "maintenance work beyond the licence scope",
        "first-pass inspection rate under 60 %",
    ]
    # each later bad record restarted the first listing's management period
    assert rows[0]["earliest_removal_on"] == "2018-01-25"


def test_a_contract_breaking_event_is_skipped(worker):
    bad = incoming(
        "maintenance_credit", "GradeFinalized", f"standing-{UNIT}", {"uscc": UNIT}, "2017-01-01"
    )
    assert worker.observe(bad) == [False]
    assert worker.public(status="all") == []


def test_a_manual_listing_once_per_decision(worker):
    first = worker.call(listings.list_manually, TERMS, manual(), None)
    assert first["created"] is True and first["list"] == "serious_violation"
    again = worker.call(listings.list_manually, TERMS, manual(), None)
    assert again["created"] is False and again["id"] == first["id"]
    with pytest.raises(errors.Invalid) as refused:
        worker.call(listings.list_manually, TERMS, manual(listed_on="2099-01-01"), None)
    assert "listed_on" in refused.value.errors
    with pytest.raises(errors.Invalid) as refused:
        worker.call(listings.list_manually, TERMS, manual(uscc="91350200776049653B"), None)
    assert "uscc" in refused.value.errors


def test_partial_name_in_chinese_or_latin_letters_and_district(worker):
    worker.observe(licence_issued(UNIT, "Huangpu Lift Care", "310101"), grade_finalized(UNIT, "D"))
    worker.call(listings.list_manually, TERMS, manual(), None)
    assert [r["uscc"] for r in worker.public(q="lift")] == [UNIT]
    assert [r["uscc"] for r in worker.public(q="电梯")] == [OTHER]
    assert [r["uscc"] for r in worker.public(district="310115")] == [OTHER]
    assert [r["uscc"] for r in worker.public()] == [OTHER, UNIT]  # id order
    assert worker.public(status="removed") == []


def test_a_unit_licensed_by_the_city_bureau_is_listed_in_its_own_district(worker):
    # The city bureau is no district's: the district comes from the licence's holder, where
    # licensing records the application's place; events from before that use their bureau's.
    third = USCCS[2]
    worker.observe(
        licence_issued(UNIT, "Huangpu Lift Care", "SH", district="310101"),
        licence_issued(OTHER, "Pudong Lift Care", "FTZ"),
        licence_issued(third, "City Lift Care", "SH"),
    )
    worker.observe(*(grade_finalized(u, "D") for u in (UNIT, OTHER, third)))
    districts = {r["uscc"]: r["district"] for r in worker.public()}
    assert districts == {UNIT: "310101", OTHER: "310115", third: None}
    assert [r["uscc"] for r in worker.public(district="310101")] == [UNIT]


def test_repair_granted_removes_at_the_end_of_the_management_period(worker):
    worker.observe(grade_finalized(UNIT, "D", on="2017-02-01"))
    listing_id = f"{UNIT}-1"
    with pytest.raises(errors.Forbidden):
        worker.call(listings.apply_for_repair, listing_id, {"rectification": "x"}, OTHER, None)
    app = worker.call(
        listings.apply_for_repair, listing_id, {"rectification": "retrained staff"}, UNIT, None
    )
    assert (app["id"], app["status"]) == (f"{listing_id}-R1", "pending")
    with pytest.raises(errors.Conflict):  # not re-inspected yet
        worker.call(listings.decide_repair, app["id"], {"outcome": "granted", "reason": "ok"}, None)
    worker.call(listings.record_reinspection, app["id"], {"passed": True, "findings": "ok"}, None)
    decided = worker.call(
        listings.decide_repair, app["id"], {"outcome": "granted", "reason": "rectified"}, None
    )
    assert decided["status"] == "granted" and decided["listing"]["status"] == "listed"
    worker.today = "2018-01-31"
    assert worker.sweep() == 0
    worker.today = "2018-02-01"
    assert worker.sweep() == 1
    assert worker.sweep() == 0
    view = reads.unit_listings(worker.uow.conn, UNIT)
    (removed,) = view["listings"]
    assert view["listed"] is False
    assert (removed["status"], removed["removed_on"], removed["removal_reason"]) == (
        "removed",
        "2018-02-01",
        "credit_repaired",
    )
    assert worker.public() == [] and len(worker.public(status="removed")) == 1


def test_publication_ends_by_the_sweep_on_its_date(worker):
    worker.observe(triggered(UNIT, "beyond_licence_scope", "fact-1", "2017-02-01"))
    worker.today = "2020-01-31"
    assert worker.sweep() == 0
    worker.today = "2020-02-01"
    assert worker.sweep() == 1
    (row,) = worker.public(status="all")
    assert (row["removed_on"], row["removal_reason"]) == ("2020-02-01", "publication_ended")


def test_the_csv_pages_hold_every_public_listing_as_the_json_list_does(worker):
    worker.observe(*(licence_issued(u, f"Lift Care {i}") for i, u in enumerate(USCCS)))
    worker.observe(
        *(triggered(u, "beyond_licence_scope", f"fact-{u}", "2017-02-01") for u in USCCS)
    )
    worker.call(listings.list_manually, TERMS, manual(), None)
    worker.today = "2020-02-01"
    assert worker.sweep() == len(USCCS)  # publication ended: removal fields in both
    worker.call(listings.list_manually, TERMS, manual(UNIT, "沪市监罚〔2020〕9号"), None)
    text, after, pages = "", None, 0
    while True:  # pages of two: the cursor carries across every boundary
        page = reads.public_blacklist_csv(worker.uow.conn, {"status": "all"}, after, page=2)
        text, after, pages = text + page["text"], page["after"], pages + 1
        if not after:
            break
    header = ",".join(reads.CSV_FIELDS) + "\r\n"
    rows = list(csv.DictReader(io.StringIO(header + text)))
    expected = worker.public(status="all")
    assert pages == len(expected) // 2 + 1 and len(expected) == len(USCCS) + 2
    assert rows == [{k: str(x.get(k) or "") for k in reads.CSV_FIELDS} for x in expected]
    listed = reads.public_blacklist_csv(worker.uow.conn, {"status": "listed"}, None)
    (line,) = listed["text"].splitlines()  # the listing of 2020 alone is still listed
    assert listed["after"] is None and "〔2020〕9号" in line and line.endswith(",listed,,")


def test_unit_listings_not_found_and_invalid(worker):
    with pytest.raises(errors.NotFound):
        reads.unit_listings(worker.uow.conn, UNIT)
    with pytest.raises(errors.Invalid):
        reads.unit_listings(worker.uow.conn, "not-a-code")
    with pytest.raises(errors.NotFound):
        worker.call(listings.apply_for_repair, f"{UNIT}-1", {"rectification": "x"}, UNIT, None)


def test_a_rebuild_equals_the_live_read_models(worker):
    worker.observe(licence_issued(UNIT, "Huangpu Lift Care"), grade_finalized(UNIT, "D"))
    worker.call(listings.list_manually, TERMS, manual(), None)
    app = worker.call(listings.apply_for_repair, f"{UNIT}-1", {"rectification": "x"}, UNIT, None)
    worker.call(listings.record_reinspection, app["id"], {"passed": False, "findings": "no"}, None)
    live = READ_MODELS.digest(worker.uow.conn)
    worker.commit()
    READ_MODELS.rebuild(worker.engine, worker.store)
    assert READ_MODELS.digest(worker.uow.conn) == live


@pytest.mark.parametrize(
    ("fragment", "found"),
    [
        ("otis", ["Otis Elevator Co"]),
        ("OTIS", ["Otis Elevator Co"]),
        ("Élé", ["Élévateurs de Paris"]),
        ("élé", []),  # only ASCII letters fold, on both backends
        ("三菱电梯", ["上海三菱电梯有限公司"]),
        ("50%", ["50% Lifts"]),
        ("0_L", []),
    ],
)
def test_a_name_fragment_finds_the_same_on_both_backends(worker, fragment, found):
    names = [
        "Otis Elevator Co",
        "Élévateurs de Paris",
        "上海三菱电梯有限公司",
        "50% Lifts",
        "500 Lifts",
    ]
    for i, name in enumerate(names):
        body = manual(uscc=USCCS[i])
        body.update(name=name, decision_no=f"D-{i}")
        worker.call(listings.list_manually, TERMS, body, None)
    assert sorted(r["name"] for r in worker.public(q=fragment)) == sorted(found)
