"""Reads as the city grows: each read at 4N elevators next to the same read at N.

For each size (N and 4N elevators; ``SESP_BENCH_ELEVATORS`` sets N, default 10,000 x scale)
two fresh PostgreSQL databases are loaded, not through HTTP:

- insurance, by bulk append: one ``licensing.EquipmentRegistered`` fact per elevator
  (``append_many``), policies naming two elevators each for two thirds of them (the sync use
  case, a thousand per call), then a rebuild of the read models from those events, timed;
- licensing, by bulk insert of read-model rows as the projections write them: applications,
  licences and register units, one of each per elevator.

Then ``VACUUM ANALYZE`` (what autovacuum would do; it may be off on a test machine). Each read
runs in five rounds per size after a warm-up, the sizes taking turns, each round the median of
``SESP_BENCH_SCALE_READS`` runs (default 30); the median round counts. The
answers do not grow with the city: the measured district keeps the same elevators at both
sizes, a page is 50 items, a deep page starts three quarters down its list, the name fragment
matches the same 20 holders. So a read at 4N should cost what it costs at N (ratio near 1),
and the rebuild at 4N about four times the one at N (shown next to 4x the N figure: near 1).

``python -m bench.scale`` prints the rows as JSON; ``python -m bench --only scale`` the table.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from typing import Any

from . import common

NOW = datetime.fromisoformat("2024-06-03T09:00:00+08:00")
DISTRICT, EMPTY = "310104", "310151"  # the measured district, and one with no elevator
OTHERS = ["310101", "310105", "310106", "310107", "310109", "310110", "310112", "310113"]
BUREAU = "310105"
INSURER = "91350200776049653A"
FRAGMENT, MATCHES = "Sentinel Lifts", 20
POLICY = {
    "revision": 1,
    "policyholders": [
        {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "0.70"},
        {"uscc": "91440101MA5CJQ4N59", "name": "Lift Care", "role": "maintenance", "share": "0.30"},
    ],
    "cover": "liability",
    "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
    "premium": "93.00",
    "status": "active",
}


def elevators() -> int:
    return int(os.environ.get("SESP_BENCH_ELEVATORS") or int(10_000 * common.scale()))


def repetitions() -> int:
    return int(os.environ.get("SESP_BENCH_SCALE_READS", "30"))


def code(i: int) -> str:
    # variety 3110, a maker, made in 2014, a sequence: 18 characters
    return f"3110{i // 100_000:05d}2014{i % 100_000:05d}"


def uscc(i: int) -> str:
    from infra.identifiers import uscc_check_character

    first17 = f"91310000{i:09d}"
    return first17 + uscc_check_character(first17)


def district_of(i: int, base: int) -> str:
    """The measured district holds the first tenth of N at both sizes; the rest spreads."""
    return DISTRICT if i < base // 10 else OTHERS[i % len(OTHERS)]


# -- insurance: events, then a rebuild --------------------------------------------------------


def load_insurance(url: str, n: int, base: int) -> float:
    """Append the register's facts and the policies; rebuild; the rebuild's seconds."""
    from infra.bus.dependencies import UnitOfWork
    from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, make_meta, migrate
    from infra.repository import Repository
    from services.insurance import sync
    from services.insurance.projections import KINDS, OBSERVED_PREFIX, READ_MODELS
    from services.insurance.service import MIGRATIONS

    engine = make_engine(url)
    migrate(engine, [("insurance_version", MIGRATIONS)])
    store = EventStore(engine.dialect.name, SubjectKeys(bytes(32)))
    step = 2000
    for start in range(0, n, step):
        appends: list[Any] = []
        for i in range(start, min(n, start + step)):
            data = {
                "equipment_code": code(i),
                "district": district_of(i, base),
                "in_ftz": False,
                "registered_on": "2020-01-01",
            }
            fact = NewEvent(OBSERVED_PREFIX + "EquipmentRegistered", data)
            appends.append((f"licensing:equipment-{code(i)}", None, [fact]))
        with engine.begin() as conn:
            store.append_many(conn, appends, make_meta())
    covered = [i for i in range(n) if i % 3]  # a third of the elevators uncovered
    pairs = [covered[k : k + 2] for k in range(0, len(covered), 2)]
    for start in range(0, len(pairs), 1000):
        uow = UnitOfWork(engine, store)
        repo = Repository(uow, KINDS, READ_MODELS, make_meta({"id": "bench", "role": "insurer"}))
        items = []
        for k in range(start, min(len(pairs), start + 1000)):
            item = copy.deepcopy(POLICY)
            item["policy_no"] = f"P-{k:07d}"
            item["equipment_codes"] = [code(i) for i in pairs[k]]
            item["starts_on"] = (date(2024, 1, 1) + timedelta(days=k % 150)).isoformat()
            item["ends_on"] = (date(2024, 6, 4) + timedelta(days=k % 365)).isoformat()
            items.append(item)
        sync.sync_policies(repo, NOW, INSURER, items)
        uow.commit()
    started = time.perf_counter()
    READ_MODELS.rebuild(engine, store, restart=True)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


# -- licensing: read-model rows ---------------------------------------------------------------


def load_licensing(url: str, n: int) -> None:
    from infra.eventstore import make_engine, migrate
    from infra.eventstore.db import bulk_insert
    from services.licensing import projections as t
    from services.licensing.service import MIGRATIONS

    engine = make_engine(url)
    migrate(engine, [("licensing_version", MIGRATIONS)])
    start = date(2020, 1, 1)
    bureaus = [BUREAU, *OTHERS]
    step = 5000
    with engine.begin() as conn:
        for lo in range(0, n, step):
            ids = range(lo, min(n, lo + step))
            bulk_insert(conn, t.applications, [_application(i, bureaus, start) for i in ids])
            bulk_insert(conn, t.licences, [_licence(i, bureaus, start) for i in ids])
            bulk_insert(conn, t.equipment, [_unit(i, start) for i in ids])
    engine.dispose()


def _application(i: int, bureaus: list[str], start: date) -> dict:
    return {
        "id": f"app-{i:08d}",
        "kind": "use_registration",
        "bureau": bureaus[i % len(bureaus)],
        "status": ["received", "accepted", "approved"][i % 3],
        "applicant_uscc": uscc(i % 5000),
        "applicant_name": f"Applicant {i % 5000}",
        "district": OTHERS[i % len(OTHERS)],
        "in_ftz": False,
        "received_on": start + timedelta(days=i % 1500),
        "intake_due": None,
        "decision_due": None,
        "certificate_due": None,
        "provisional": False,
        "clock_running": False,
        "late_after": None,
        "licence_no": None,
        "decided_on": None,
        "version": 1,
        "decided_late": False,
        "working_days_late": None,
    }


def _licence(i: int, bureaus: list[str], start: date) -> dict:
    name = f"{FRAGMENT} No. {i}" if i < MATCHES else f"上海{i}号电梯工程有限公司 Lift Co {i}"
    return {
        "licence_no": f"TS{i:09d}",
        "kind": "use_registration",
        "bureau": bureaus[i % len(bureaus)],
        "status": "active",
        "holder_type": "organization",
        "holder_uscc": uscc(i % 5000),
        "holder_name": name,
        "holder_subject": None,
        "application_id": f"app-{i:08d}",
        "decision_no": f"D{i}",
        "decided_on": start,
        "valid_from": start,
        "valid_until": None,
        "scope": "[]",
        "level": None,
        "equipment_code": code(i),
        "renewal_pending": False,
        "next_check_on": None,
        "version": 1,
        "supervised_by": bureaus[i % len(bureaus)],
    }


def _unit(i: int, start: date) -> dict:
    return {
        "equipment_code": code(i),
        "district": OTHERS[i % len(OTHERS)],
        "in_ftz": False,
        "status": "registered",
        "registered_on": start,
        "version": 1,
        "maintenance_unit_uscc": uscc(i % 300),
        "user_uscc": uscc(10_000 + i % 3000),
        "user_name": "User Co",
        "manufacture_year": 2014,
        "rated_speed_mps": 1.5,
        "rated_load_kg": 1000.0,
        "licence_no": None,
        "legacy_code": None,
    }


# -- the reads ------------------------------------------------------------------------------


def vacuum_analyze(url: str) -> None:
    from sqlalchemy import text

    from infra.eventstore import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def median_ms(read: Callable[[], Any]) -> float:
    times = []
    for _ in range(repetitions()):
        t0 = time.perf_counter()
        read()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def interleaved(small: dict[str, Callable], large: dict[str, Callable]) -> tuple[dict, dict]:
    """Each read's median at both sizes, the sizes taking turns in short rounds (a machine
    shared with other work slows both alike, not the one measured last)."""
    for reads in (small, large):
        for read in reads.values():
            read()  # warm-up: caches, plans
    samples: dict[str, tuple[list, list]] = {name: ([], []) for name in small}
    for _ in range(5):
        for name in small:
            samples[name][0].append(median_ms(small[name]))
            samples[name][1].append(median_ms(large[name]))
    return (
        {name: statistics.median(s) for name, (s, _) in samples.items()},
        {name: statistics.median(s) for name, (_, s) in samples.items()},
    )


def insurance_reads(url: str, n: int, opened: list) -> dict[str, Callable]:
    from infra.bus.dependencies import UnitOfWork
    from infra.clock import Clock
    from infra.eventstore import EventStore, SubjectKeys, make_engine
    from services.insurance import reads

    engine = make_engine(url)
    opened.append(engine)
    uow = UnitOfWork(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    clock = Clock(NOW)
    first = reads.policies_ending(uow, clock, 365, None, 51)
    # a deep page: three quarters down the list (its position, as a cursor carries it)
    walked = reads.policies_ending(uow, clock, 365, None, n, None)
    mark = walked[len(walked) * 3 // 4]
    after = [mark["ends_on"], mark["insurer"], mark["policy_no"]]
    assert len(first) == 51
    out: dict[str, Callable] = {
        "district coverage": lambda: reads.district_coverage(uow, clock, DISTRICT, "2024-05-01"),
        "district coverage, empty district": lambda: reads.district_coverage(
            uow, clock, EMPTY, "2024-05-01"
        ),
        "policies ending, first page": lambda: reads.policies_ending(uow, clock, 365, None, 51),
        "policies ending, deep page": lambda: reads.policies_ending(
            uow, clock, 365, None, 51, after
        ),
        "policy by its number": lambda: reads.get_policy(uow, "P-0000123"),
        "coverage of an elevator": lambda: reads.coverage(uow, clock, code(5), "2024-05-01"),
    }
    return out


def licensing_reads(url: str, n: int, opened: list) -> dict[str, Callable]:
    from infra.bus.dependencies import UnitOfWork
    from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta
    from infra.repository import Repository
    from services.licensing.applications import Applications
    from services.licensing.domain.licence.rules import DEFAULT_RULES
    from services.licensing.licences import Licensing
    from services.licensing.projections import KINDS, READ_MODELS
    from services.licensing.records import public_listing
    from services.licensing.register import Register

    engine = make_engine(url)
    opened.append(engine)
    uow = UnitOfWork(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    repo = Repository(uow, KINDS, READ_MODELS, make_meta({"id": "bench", "role": "officer"}))
    apps = Applications(repo, NOW, None, None)
    register = Register(Licensing(repo, NOW, DEFAULT_RULES))
    mine = {"bureau": BUREAU}
    # deep pages start three quarters down their lists
    bureau_ids = sorted(
        (_application(i, [BUREAU, *OTHERS], date(2020, 1, 1))["received_on"], f"app-{i:08d}")
        for i in range(0, n, len(OTHERS) + 1)
    )
    on, last = bureau_ids[len(bureau_ids) * 3 // 4]
    app_after = [on.isoformat(), last]
    district_codes = sorted(code(i) for i in range(n) if OTHERS[i % len(OTHERS)] == OTHERS[0])
    unit_after = [district_codes[len(district_codes) * 3 // 4]]
    licence_after = [f"TS{n * 3 // 4:09d}"]
    assert len(public_listing(uow.conn, FRAGMENT, 51)) == MATCHES
    out: dict[str, Callable] = {
        "applications of a bureau, first page": lambda: apps.list(mine, 51),
        "applications of a bureau, deep page": lambda: apps.list(mine, 51, app_after),
        "public licences by a name fragment": lambda: public_listing(uow.conn, FRAGMENT, 51),
        "public licences, deep page": lambda: public_listing(uow.conn, None, 51, licence_after),
        "register of a district, deep page": lambda: register.list(
            {"district": OTHERS[0]}, 51, unit_after
        ),
    }
    return out


def run() -> list[dict]:
    n = elevators()
    with ExitStack() as stack:
        loaded: list[tuple[dict[str, Callable], float]] = []
        opened: list[Any] = []
        stack.callback(lambda: [engine.dispose() for engine in opened])
        for size in (n, 4 * n):
            ins = stack.enter_context(common.fresh_pg_database("scale_ins"))
            lic = stack.enter_context(common.fresh_pg_database("scale_lic"))
            rebuild = load_insurance(ins, size, n)
            load_licensing(lic, size)
            vacuum_analyze(ins)
            vacuum_analyze(lic)
            reads = {**insurance_reads(ins, size, opened), **licensing_reads(lic, size, opened)}
            loaded.append((reads, rebuild))
        (small_reads, small_rebuild), (large_reads, large_rebuild) = loaded
        small, large = interleaved(small_reads, large_reads)
    rows = [
        common.Row.of(f"{name} at {4 * n:,}", large[name], "ms", f"at {n:,}", small[name]).to_json()
        for name in small
    ]
    rows.append(
        common.Row.of(
            f"insurance rebuild at {4 * n:,} elevators",
            large_rebuild,
            "s",
            f"4 x the one at {n:,}",
            4 * small_rebuild,
        ).to_json()
    )
    return rows


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    """The shape ``bench.__main__`` uses for its sections (measured in a child process)."""
    result = common.run_child("bench.scale", [], timeout=3600)
    out = [common.Row(**r) for r in result["rows"]]
    for row in out:
        log(f"  {row.name}: {row.value:.3g} {row.unit} vs {row.baseline_value:.3g}")
    targets = {r.name: "<= 1.5x" for r in out if r.unit == "ms"}
    return out, targets


if __name__ == "__main__":
    common.emit({"rows": run()})
    sys.exit(0)
