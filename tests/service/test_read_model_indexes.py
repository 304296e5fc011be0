"""Every list and search of a read model has an index for its filter and its order.

On PostgreSQL, with thousands of rows in each table that grows with the city and what
autovacuum would have done (``VACUUM ANALYZE``: it may be off on a test machine), each read of
``READS`` runs as the service runs it, and every statement it sent is explained: no plan scans
a big table from end to end (``Seq Scan``); a list comes in its index's order (no sort of every
match); a deep page's cursor starts the index range (``Index Cond``) instead of filtering the
rows before it, so it costs what the first page costs. The public name search finds the same
records on SQLite and on PostgreSQL (ASCII letters in either case, the rest as written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from infra.bus.dependencies import UnitOfWork
from infra.clock import Clock
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.eventstore.db import bulk_insert
from infra.identifiers import uscc_check_character
from infra.repository import Repository
from services.blacklist import projections as blacklist_tables
from services.blacklist import reads as blacklist_reads
from services.blacklist.service import MIGRATIONS as BLACKLIST_MIGRATIONS
from services.insurance import projections as insurance_tables
from services.insurance import reads as insurance_reads
from services.insurance.service import MIGRATIONS as INSURANCE_MIGRATIONS
from services.licensing import projections as licensing_tables
from services.licensing.applications import Applications
from services.licensing.domain.licence.rules import DEFAULT_RULES
from services.licensing.licences import Licensing
from services.licensing.records import officers_listing, public_listing
from services.licensing.register import Register
from services.licensing.service import MIGRATIONS as LICENSING_MIGRATIONS

ROWS = 10000
NOW = datetime.fromisoformat("2024-06-03T09:00:00+08:00")
DISTRICTS = ["310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112"]
EMPTY_DISTRICT = "310151"  # no elevator is registered there
STATUSES = ["received", "accepted", "approved", "refused", "withdrawn"]
BIG_ONE = 7  # the applicant, holder, user and maintenance unit of a fifth of the rows
INSURERS = [f"9135020077604965{i:02d}" for i in range(4)]
BIG = {
    "licensing": {"applications", "licences", "equipment"},
    "insurance": {"equipment_register", "policies", "policy_equipment", "elevator_incidents"},
    "blacklist": {"blacklist_listings"},
}


def uscc(i: int) -> str:
    first17 = f"91310000{i:09d}"
    return first17 + uscc_check_character(first17)


def code(i: int) -> str:
    return f"3110{i % 100:02d}{i // 100:06d}2014{i:04d}"[:20]


# --- seeding: read-model rows as the projections write them ---------------------------------


def seed_licensing(conn) -> None:
    start = date(2023, 1, 1)
    bulk_insert(
        conn,
        licensing_tables.applications,
        [
            {
                "id": f"app-{i:06d}",
                "kind": "use_registration" if i % 3 else "installation",
                "bureau": DISTRICTS[i % len(DISTRICTS)],
                "status": STATUSES[i % len(STATUSES)],
                "applicant_uscc": uscc(BIG_ONE if i % 5 == 0 else i % 400),
                "applicant_name": f"Applicant {i % 400}",
                "district": DISTRICTS[i % len(DISTRICTS)],
                "in_ftz": False,
                "received_on": start + timedelta(days=i // 10),
                "intake_due": None,
                "decision_due": None,
                "certificate_due": None,
                "provisional": False,
                "clock_running": False,
                "late_after": start + timedelta(days=i // 10 + 20),
                "licence_no": None,
                "decided_on": None,
                "version": 1,
                "decided_late": False,
                "working_days_late": None,
            }
            for i in range(ROWS)
        ],
    )
    bulk_insert(
        conn,
        licensing_tables.licences,
        [
            {
                "licence_no": f"TS{i:08d}",
                "kind": "use_registration" if i % 4 else "maintenance",
                "bureau": DISTRICTS[i % len(DISTRICTS)],
                "status": "active" if i % 7 else "revoked",
                "holder_type": "organization" if i % 10 else "person",
                "holder_uscc": uscc(BIG_ONE if i % 5 == 0 else i % 500),
                "holder_name": None if i % 10 == 0 else f"上海{i % 500}号电梯 Lift Co {i % 500}",
                "holder_subject": None,
                "application_id": f"app-{i:06d}",
                "decision_no": f"D{i}",
                "decided_on": start,
                "valid_from": start,
                "valid_until": None,
                "scope": "[]",
                "level": None,
                "equipment_code": None,
                "renewal_pending": False,
                "next_check_on": start + timedelta(days=i),
                "version": 1,
                "supervised_by": DISTRICTS[i % len(DISTRICTS)],
            }
            for i in range(ROWS)
        ],
    )
    bulk_insert(
        conn,
        licensing_tables.equipment,
        [
            {
                "equipment_code": code(i),
                "district": DISTRICTS[i % len(DISTRICTS)],
                "in_ftz": False,
                "status": "registered" if i % 50 else "suspended",
                "registered_on": start,
                "version": 1,
                "maintenance_unit_uscc": uscc(BIG_ONE if i % 5 == 0 else i % 200),
                "user_uscc": uscc(BIG_ONE if i % 5 == 0 else 1000 + i % 300),
                "user_name": "User Co",
                "manufacture_year": 2014,
                "rated_speed_mps": 1.5,
                "rated_load_kg": 1000.0,
                "licence_no": None,
                "legacy_code": None,
            }
            for i in range(ROWS)
        ],
    )


def seed_insurance(conn) -> None:
    bulk_insert(
        conn,
        insurance_tables.equipment_register,
        [
            {
                "equipment_code": code(i),
                "district": DISTRICTS[i % len(DISTRICTS)],
                "in_ftz": False,
                "status": "registered",
                "registered_on": date(2020, 1, 1),
                "maintenance_unit_uscc": uscc(i % 200),
                "manufacture_year": 2014,
                "applied": 1,
                "legacy_code": None,
            }
            for i in range(ROWS)
        ],
    )
    n_policies = ROWS // 2
    bulk_insert(
        conn,
        insurance_tables.policies,
        [
            {
                "insurer": INSURERS[i % len(INSURERS)],
                "policy_no": f"P-{i:06d}",
                "revision": 1,
                "digest": "0" * 64,
                "status": "active",
                "cover": "liability",
                "premium": "93.00",
                "starts_on": date(2024, 1, 1) + timedelta(days=i % 180),
                "ends_on": date(2024, 6, 1) + timedelta(days=i % 365),
                "terms": '{"equipment_codes": []}',
                "version": 1,
                "reminded_for": None,
                "updated_at": datetime(2024, 1, 1),
            }
            for i in range(n_policies)
        ],
    )
    bulk_insert(
        conn,
        insurance_tables.policy_equipment,
        [
            {
                "insurer": INSURERS[i % len(INSURERS)],
                "policy_no": f"P-{i:06d}",
                "equipment_code": code(2 * i + j),
            }
            for i in range(n_policies)
            for j in range(2)
            if (2 * i + j) % 3  # a third of the elevators uncovered
        ],
    )
    bulk_insert(
        conn,
        insurance_tables.unit_grades,
        [{"uscc": uscc(i), "period": "2023", "grade": "ABCD"[i % 4]} for i in range(200)],
    )
    bulk_insert(
        conn,
        insurance_tables.elevator_incidents,
        [
            {
                "fact_id": f"q-{i:06d}",
                "equipment_code": code(i % (ROWS // 4)),
                "type": ("fault", "entrapment")[i % 2],
                "occurred_on": date(2022, 1, 1) + timedelta(days=i % 900),
            }
            for i in range(ROWS)
        ],
    )


def seed_blacklist(conn) -> None:
    """A blacklist far longer than any city's (17 units in 2014): the reads must not depend
    on it staying short. A unit of every fifth row is listed over and over."""
    bulk_insert(
        conn,
        blacklist_tables.blacklist_units,
        [
            {
                "uscc": uscc(i),
                "name": f"Lift Care {i} 电梯维保",
                "district": DISTRICTS[i % len(DISTRICTS)],
                "next_due_on": date(2025, 1, 1) + timedelta(days=i % 700),
                "version": 1,
            }
            for i in range(ROWS // 5)
        ],
    )
    bulk_insert(
        conn,
        blacklist_tables.blacklist_listings,
        [
            {
                "id": f"{uscc(BIG_ONE if i % 5 == 0 else i % (ROWS // 5))}-{i:05d}",
                "uscc": uscc(BIG_ONE if i % 5 == 0 else i % (ROWS // 5)),
                "name": f"Lift Care {i % (ROWS // 5)} 电梯维保",
                "district": DISTRICTS[i % len(DISTRICTS)],
                "list": "maintenance_quality",
                "cause": f"beyond_licence_scope:f-{i}",
                "reason": "maintenance work beyond the licence scope",
                "legal_basis": "credit rules",
                "authority": "SH",
                "decision_no": f"AUTO-{i}",
                "listed_on": date(2022, 1, 1) + timedelta(days=i % 900),
                "earliest_removal_on": date(2023, 1, 1) + timedelta(days=i % 900),
                "publication_ends_on": date(2025, 1, 1) + timedelta(days=i % 900),
                "status": ("listed", "removed")[i % 3 == 0],
                "repair_granted_on": None,
                "removed_on": date(2025, 1, 1) + timedelta(days=i % 900) if i % 3 == 0 else None,
                "removal_reason": "publication_ended" if i % 3 == 0 else None,
                "trigger_event_id": None,
            }
            for i in range(ROWS)
        ],
    )


class Backend:
    """A migrated service database on one backend, with a worker's unit of work."""

    def __init__(self, url: str, chain: tuple[str, Any]):
        self.engine = make_engine(url)
        migrate(self.engine, [chain])
        self.store = EventStore(self.engine.dialect.name, SubjectKeys(bytes(32)))
        self.uow = UnitOfWork(self.engine, self.store)

    def repo(self, kinds, models) -> Repository:
        return Repository(self.uow, kinds, models, make_meta({"id": "t1", "role": "officer"}))

    def close(self) -> None:
        self.uow.rollback()
        self.engine.dispose()


@pytest.fixture(scope="module")
def seeded(postgres) -> Iterator[dict[str, Backend]]:
    made = {
        "licensing": (postgres.create_database(), ("licensing_version", LICENSING_MIGRATIONS)),
        "insurance": (postgres.create_database(), ("insurance_version", INSURANCE_MIGRATIONS)),
        "blacklist": (postgres.create_database(), ("blacklist_version", BLACKLIST_MIGRATIONS)),
    }
    backends = {name: Backend(url, chain) for name, (url, chain) in made.items()}
    seeds = (
        ("licensing", seed_licensing),
        ("insurance", seed_insurance),
        ("blacklist", seed_blacklist),
    )
    for name, seed in seeds:
        with backends[name].engine.begin() as conn:
            seed(conn)
        with (
            backends[name].engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn
        ):
            # What autovacuum does (it may be off here): statistics, and the trigram index's
            # pending entries merged (the planner shuns an index whose pending list is long).
            conn.execute(text("VACUUM ANALYZE"))
    yield backends
    for backend in backends.values():
        backend.close()
    for url, _ in made.values():
        postgres.drop_database(url)


# --- the reads, as the services run them ----------------------------------------------------


def applications(b: Backend, filters: dict, after: list | None = None) -> Any:
    repo = b.repo(licensing_tables.KINDS, licensing_tables.READ_MODELS)
    return Applications(repo, NOW, None, None).list(filters, 51, after)


def licensing(b: Backend) -> Licensing:
    repo = b.repo(licensing_tables.KINDS, licensing_tables.READ_MODELS)
    return Licensing(repo, NOW, DEFAULT_RULES)


def register(b: Backend, filters: dict, after: list | None = None) -> Any:
    return Register(licensing(b)).list(filters, 51, after)


def officers(b: Backend, filters: dict, after: list | None = None) -> Any:
    return officers_listing(licensing(b).repo, filters, 51, after)


def public_blacklist(b: Backend, filters: dict, after: list | None = None) -> Any:
    return blacklist_reads.public_blacklist(b.uow.conn, filters, 51, after)


CLOCK = Clock(NOW)
DEEP_LISTING = f"{uscc(BIG_ONE)}-03000"
DEEP_APPLICATION = ["2023-12-01", "app-003340"]


def first_page(service: str, read: Callable[[Backend], Any]) -> tuple:
    """A list read in its index's order (no sort of its matches)."""
    return service, read, True, None


def deep_page(service: str, read: Callable[[Backend], Any], cursor: str) -> tuple:
    """A list read in index order whose cursor (shown as ``cursor`` in the plan) starts the
    index range: a deep page reads as few rows as the first."""
    return service, read, True, cursor


def search(service: str, read: Callable[[Backend], Any]) -> tuple:
    """A search or a count by an index (its few matches may be sorted)."""
    return service, read, False, None


# name -> (service, the read, read in index order, the cursor as the plan shows it): every list
# and search of a read model, a first page or a deep one.
READS: dict[str, tuple] = {
    "applications, all": first_page("licensing", lambda b: applications(b, {})),
    "applications, all, deep page": deep_page(
        "licensing", lambda b: applications(b, {}, DEEP_APPLICATION), "2023-12-01"
    ),
    "applications of a bureau, deep page": deep_page(
        "licensing",
        lambda b: applications(b, {"bureau": "310104"}, DEEP_APPLICATION),
        "2023-12-01",
    ),
    "applications of a bureau in a status, deep page": deep_page(
        "licensing",
        lambda b: applications(b, {"bureau": "310104", "status": "accepted"}, DEEP_APPLICATION),
        "2023-12-01",
    ),
    "applications in a status, deep page": deep_page(
        "licensing",
        lambda b: applications(b, {"status": "received"}, DEEP_APPLICATION),
        "2023-12-01",
    ),
    "applications of an applicant": search(
        "licensing", lambda b: applications(b, {"applicant": uscc(8)})
    ),
    "applications of a big applicant, deep page": deep_page(
        "licensing",
        lambda b: applications(b, {"applicant": uscc(BIG_ONE)}, DEEP_APPLICATION),
        "2023-12-01",
    ),
    "licences a bureau supervises, deep page": deep_page(
        "licensing", lambda b: officers(b, {"bureau": "310105"}, ["TS00003000"]), "TS00003000"
    ),
    "licences of a bureau, kind and status, deep page": deep_page(
        "licensing",
        lambda b: officers(
            b, {"bureau": "310105", "kind": "use_registration", "status": "active"}, ["TS00002000"]
        ),
        "TS00002000",
    ),
    "licences of a holder": search("licensing", lambda b: officers(b, {"holder": uscc(42)})),
    "licences of a big holder, deep page": deep_page(
        "licensing", lambda b: officers(b, {"holder": uscc(BIG_ONE)}, ["TS00003000"]), "TS00003000"
    ),
    "public licences, deep page": deep_page(
        "licensing", lambda b: public_listing(b.uow.conn, None, 51, ["TS00003000"]), "TS00003000"
    ),
    "public licences by credit code": search(
        "licensing", lambda b: public_listing(b.uow.conn, uscc(42), 51)
    ),
    "public licences of a big holder, deep page": deep_page(
        "licensing",
        lambda b: public_listing(b.uow.conn, uscc(BIG_ONE), 51, ["TS00003000"]),
        "TS00003000",
    ),
    "public licences of a kind, deep page": deep_page(
        "licensing",
        lambda b: public_listing(b.uow.conn, None, 51, ["TS00003000"], kind="maintenance"),
        "TS00003000",
    ),
    "public licences of a big holder and a kind, deep page": deep_page(
        "licensing",
        lambda b: public_listing(
            b.uow.conn, uscc(BIG_ONE), 51, ["TS00003000"], kind="use_registration"
        ),
        "TS00003000",
    ),
    "public licences by licence number": search(
        "licensing", lambda b: public_listing(b.uow.conn, None, 51, licence_no="TS00004242")
    ),
    "public licences by a name fragment": search(
        "licensing", lambda b: public_listing(b.uow.conn, "123号电梯 lift", 51)
    ),
    "register of a district, deep page": deep_page(
        "licensing", lambda b: register(b, {"district": "310106"}, [code(3000)]), code(3000)
    ),
    "register in a status": first_page("licensing", lambda b: register(b, {"status": "suspended"})),
    "register of a maintenance unit": search(
        "licensing", lambda b: register(b, {"maintenance_unit_uscc": uscc(9)})
    ),
    "register of a big maintenance unit, deep page": deep_page(
        "licensing",
        lambda b: register(b, {"maintenance_unit_uscc": uscc(BIG_ONE)}, [code(3000)]),
        code(3000),
    ),
    "register of a user": search("licensing", lambda b: register(b, {"user_uscc": uscc(1009)})),
    "register of a big user, deep page": deep_page(
        "licensing", lambda b: register(b, {"user_uscc": uscc(BIG_ONE)}, [code(3000)]), code(3000)
    ),
    "district coverage": search(
        "insurance",
        lambda b: insurance_reads.district_coverage(b.uow, CLOCK, "310104", "2024-05-01"),
    ),
    "district coverage of an empty district": search(
        "insurance",
        lambda b: insurance_reads.district_coverage(b.uow, CLOCK, EMPTY_DISTRICT, "2024-05-01"),
    ),
    "policies ending, deep page": deep_page(
        "insurance",
        lambda b: insurance_reads.policies_ending(
            b.uow, CLOCK, 90, None, 51, ["2024-07-20", INSURERS[1], "P-000049"]
        ),
        "2024-07-20",
    ),
    "policies ending of an insurer, deep page": deep_page(
        "insurance",
        lambda b: insurance_reads.policies_ending(
            b.uow, CLOCK, 90, INSURERS[1], 51, ["2024-07-20", INSURERS[1], "P-000049"]
        ),
        "2024-07-20",
    ),
    "a policy by its number alone": search(
        "insurance", lambda b: insurance_reads.get_policy(b.uow, "P-000123")
    ),
    "coverage of an elevator": search(
        "insurance",
        lambda b: insurance_reads.coverage(b.uow, CLOCK, code(5), "2024-05-01"),
    ),
    "premium factors of an elevator": search(
        "insurance", lambda b: insurance_reads.premium_factors(b.uow, CLOCK, code(5))
    ),
    "public blacklist, deep page": deep_page(
        "blacklist", lambda b: public_blacklist(b, {}, [DEEP_LISTING]), DEEP_LISTING
    ),
    "public blacklist, all, deep page": deep_page(
        "blacklist", lambda b: public_blacklist(b, {"status": "all"}, [DEEP_LISTING]), DEEP_LISTING
    ),
    "public blacklist of a district, deep page": deep_page(
        "blacklist",
        lambda b: public_blacklist(b, {"district": "310106"}, [DEEP_LISTING]),
        DEEP_LISTING,
    ),
    "public blacklist of a unit": search(
        "blacklist", lambda b: public_blacklist(b, {"uscc": uscc(42)})
    ),
    "public blacklist of a big unit, deep page": deep_page(
        "blacklist",
        lambda b: public_blacklist(b, {"uscc": uscc(BIG_ONE)}, [DEEP_LISTING]),
        DEEP_LISTING,
    ),
    "public blacklist by a name fragment": search(
        "blacklist", lambda b: public_blacklist(b, {"q": "Care 123 电梯"})
    ),
    "a unit's listings, current and past": search(
        "blacklist", lambda b: blacklist_reads.unit_listings(b.uow.conn, uscc(42))
    ),
    "whether a unit is listed now": search(
        "blacklist", lambda b: blacklist_reads.unit_listed(b.uow.conn, uscc(42))
    ),
}


def statements_of(backend: Backend, read: Callable[[Backend], Any]) -> list[tuple[str, Any]]:
    """The statements (and parameters) ``read`` sent to the database."""
    sent: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(backend.engine, "before_cursor_execute", record)
    try:
        read(backend)
    finally:
        event.remove(backend.engine, "before_cursor_execute", record)
    return sent


def plan_nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.parametrize("name", list(READS))
def test_a_read_model_read_uses_an_index_for_its_filter_and_order(seeded, name):
    service, read, in_order, cursor = READS[name]
    backend = seeded[service]
    sent = statements_of(backend, read)
    assert sent, "the read sent no statement"
    for statement, parameters in sent:
        explained = backend.uow.conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, parameters
        ).scalar_one()
        nodes = list(plan_nodes(explained[0]["Plan"]))
        shown = f"{statement}\n{parameters}\n{explained}"
        scans = [
            n["Relation Name"]
            for n in nodes
            if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG[service]
        ]
        assert not scans, f"sequential scan of {scans}\n{shown}"
        if in_order:
            assert not [n for n in nodes if n["Node Type"] == "Sort"], f"sorts\n{shown}"
        if cursor is not None:
            ranges = [n.get("Index Cond", "") for n in nodes]
            assert any(cursor in r for r in ranges), f"the cursor filters\n{shown}"


# --- the same name search on both backends --------------------------------------------------

NAMES = [
    "Otis Elevator Co",
    "OTIS LIFTS",
    "otis",
    "Élévateurs de Paris",
    "élévateurs du Nord",
    "上海三菱电梯有限公司",
    "三菱电梯",
    "50% Lifts_Co",
    "500 Lifts Co",
    "Back\\slash Lifts",
]
FRAGMENTS = ["otis", "OTIS", "Élé", "élé", "三菱电梯", "电梯有限", "50%", "s_C", "\\s", "lifts co"]


def ascii_folded(s: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in s)


@pytest.fixture
def licences_of(db_url) -> Iterator[Backend]:
    backend = Backend(db_url, ("licensing_version", LICENSING_MIGRATIONS))
    rows = []
    for i, holder in enumerate(NAMES):
        rows.append(
            {
                "licence_no": f"TS{i:08d}",
                "kind": "maintenance",
                "bureau": "SH",
                "status": "active",
                "holder_type": "organization",
                "holder_uscc": uscc(i),
                "holder_name": holder,
                "holder_subject": None,
                "application_id": f"app-{i}",
                "decision_no": f"D{i}",
                "decided_on": date(2024, 1, 1),
                "valid_from": date(2024, 1, 1),
                "valid_until": None,
                "scope": "[]",
                "level": None,
                "equipment_code": None,
                "renewal_pending": False,
                "next_check_on": None,
                "version": 1,
                "supervised_by": "SH",
            }
        )
    bulk_insert(backend.uow.conn, licensing_tables.licences, rows)
    yield backend
    backend.close()


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_a_name_fragment_finds_ascii_letters_in_either_case_and_the_rest_as_written(
    licences_of, fragment
):
    found = [r["name"] for r in public_listing(licences_of.uow.conn, fragment, 50)]
    expected = [n for n in NAMES if ascii_folded(fragment) in ascii_folded(n)]
    assert found == expected
