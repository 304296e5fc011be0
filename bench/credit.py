"""Maintenance credit on PostgreSQL, each figure next to the bare store doing the same writes
or reads in the same run.

One unit maintaining N elevators (``SESP_BENCH_CREDIT_ELEVATORS``, default 2,000 x scale),
learnt from licensing's events as the subscriber records them. Then, each round (best of
``SESP_BENCH_ROUNDS``, at least 2) on fresh record ids:

- a batch of 5,000 maintenance records (the use case: validation per record, the
  elevators' contracts checked, duplicates looked up, events appended, read models written)
  next to ``append_many`` of the same 5,000 events to the same streams with no check and no
  read model;
- the missed-maintenance sweep recording one window for each of the N elevators (bulk, 500 a
  run) next to ``append_many`` of the same N events;
- a unit's score over those facts (the GET of its credit detail) next to reading its fact
  rows alone.

``python -m bench --only credit`` prints the rows.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from . import common

UNIT = "91350200776049653A"
BATCH = 5000


def elevators() -> int:
    return int(os.environ.get("SESP_BENCH_CREDIT_ELEVATORS") or int(2_000 * common.scale()))


def rounds() -> int:
    return max(2, int(os.environ.get("SESP_BENCH_ROUNDS", "2")))


def _moment(day: date) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T09:00:00+08:00")


def _registered(event, unit: str, on: date):
    """The ``ElevatorRegistered`` that ``intake`` records of licensing's ``EquipmentRegistered``."""
    from infra.domain import SYSTEM_ACTOR
    from services.maintenance_credit.domain import ElevatorRegistered

    return ElevatorRegistered(
        at=event.occurred_at,
        actor=SYSTEM_ACTOR,
        equipment_code=event.data["equipment_code"],
        district=event.data["district"],
        maintenance_unit_uscc=unit,
        registered_on=on,
    )


class Bench:
    def __init__(self, url: str):
        from infra.eventstore import EventStore, SubjectKeys, make_engine, migrate
        from services.maintenance_credit.service import MIGRATIONS, SNAPSHOT_EVERY

        self.engine = make_engine(url)
        migrate(self.engine, [("maintenance_credit_version", MIGRATIONS)])
        self.store = EventStore("postgresql", SubjectKeys(bytes(32)), snapshot_every=SNAPSHOT_EVERY)

    def worker(self):
        from infra.bus.dependencies import UnitOfWork

        return UnitOfWork(self.engine, self.store)

    def repo(self, uow):
        from infra.eventstore import make_meta
        from infra.repository import Repository
        from services.maintenance_credit.projections import KINDS, READ_MODELS

        return Repository(uow, KINDS, READ_MODELS, make_meta({"id": "bench", "role": "system"}))

    def observe(self, codes: list[str], on: date, unit: str = UNIT, bulk: bool = False) -> None:
        """``unit`` licensed for elevator maintenance and ``codes`` registered as maintained by
        it, from licensing's events as the subscriber records them (``intake.observe``, one
        event at a time). ``bulk``: the elevators' events are those ``intake`` records, saved
        5,000 at a time (``save_many``), as setting up a city is quicker that way."""
        from infra.bus.incoming import IncomingEvent
        from infra.domain import derived_id
        from services.licensing.examples import maintenance_licence_issued
        from services.maintenance_credit import intake
        from services.maintenance_credit.domain import Elevator

        def incoming(kind: str, stream: str, data: dict) -> IncomingEvent:
            return IncomingEvent(
                service="licensing",
                event_id=str(uuid.uuid4()),
                stream_id=stream,
                version=1,
                position=0,
                type=kind,
                schema_version=1,
                data=data,
                meta={},
                occurred_at=_moment(on),
            )

        uow = self.worker()
        repo = self.repo(uow)
        licence = maintenance_licence_issued(
            unit,
            f"TS-BENCH-{unit}",
            name=f"Bench Lift Care {unit[-6:]}",
            on=on.isoformat(),
            valid_until=None,
        )
        intake.observe(repo, incoming("LicenceIssued", f"licence-TS-BENCH-{unit}", licence))
        step = BATCH if bulk else max(len(codes), 1)
        for start in range(0, len(codes), step):
            events = [
                incoming(
                    "EquipmentRegistered",
                    f"equipment-{code}",
                    {
                        "equipment_code": code,
                        "district": "310104",
                        "in_ftz": False,
                        "registered_on": on.isoformat(),
                        "maintenance_unit_uscc": unit,
                    },
                )
                for code in codes[start : start + step]
            ]
            if bulk:
                repo.save_many(
                    [
                        (e.data["equipment_code"], Elevator(), [_registered(e, unit, on)])
                        for e in events
                    ],
                    event_ids=[[derived_id("observed", e.service, e.event_id)] for e in events],
                )
            else:
                for event in events:
                    intake.observe(repo, event)
            uow.commit()
            uow = self.worker()
            repo = self.repo(uow)
        uow.commit()

    def records(self, codes: list[str], tag: str, on: date) -> float:
        from services.maintenance_credit import records

        batch = [
            {
                "record_id": f"{tag}-{i}",
                "equipment_code": codes[i % len(codes)],
                "performed_on": on.isoformat(),
                "type": "half_monthly",
            }
            for i in range(BATCH)
        ]
        uow = self.worker()
        started = time.perf_counter()
        result = records.record_maintenance(self.repo(uow), _moment(on), UNIT, {"records": batch})
        uow.commit()
        elapsed = time.perf_counter() - started
        assert result["accepted"] == BATCH, result["rejected"][:3]
        return elapsed

    def bare_append(self, counts: dict[str, int], kind: str, data: dict) -> float:
        """``append_many`` of ``counts[code]`` events to a stream per code, no check, no read
        model."""
        from infra.eventstore import NewEvent, make_meta

        appends: list[tuple[str, int | None, list[Any]]] = [
            (
                f"bench-{code}-{uuid.uuid4().hex[:8]}",
                0,
                [NewEvent(kind, dict(data)) for _ in range(count)],
            )
            for code, count in counts.items()
        ]
        uow = self.worker()
        started = time.perf_counter()
        self.store.append_many(uow.conn, appends, make_meta())
        uow.commit()
        return time.perf_counter() - started

    def sweep(self, today: date) -> tuple[float, int]:
        from services.maintenance_credit.sweeps import MISSED_MAINTENANCE

        started, changed = time.perf_counter(), 0
        while True:
            uow = self.worker()
            n = MISSED_MAINTENANCE.run(self.repo(uow), _moment(today))
            uow.commit()
            changed += n
            if not n:
                return time.perf_counter() - started, changed

    def score(self, day: date) -> tuple[float, float, int]:
        from sqlalchemy import select

        from services.maintenance_credit.projections import credit_facts
        from services.maintenance_credit.scores import unit_score

        with self.engine.connect() as conn:
            started = time.perf_counter()
            result = unit_score(conn, UNIT, day, day)
            ours = time.perf_counter() - started
            started = time.perf_counter()
            rows = conn.execute(
                select(credit_facts).where(
                    credit_facts.c.unit_uscc == UNIT,
                    credit_facts.c.occurred_on >= day.replace(month=1, day=1),
                    credit_facts.c.occurred_on <= day,
                )
            ).all()
            bare = time.perf_counter() - started
        assert len(rows) >= len(result.deductions)
        return ours, bare, len(result.deductions)


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    n = elevators()
    codes = [f"3101123452014{i:05d}" for i in range(n)]
    start = date(2016, 1, 1)
    out: list[common.Row] = []
    with common.fresh_pg_database("credit") as url:
        bench = Bench(url)
        t0 = time.perf_counter()
        bench.observe(codes, start)
        log(f"  {n} elevators learnt from licensing's events in {time.perf_counter() - t0:.1f} s")
        ours, bare = [], []
        for r in range(rounds()):
            ours.append(bench.records(codes, f"r{r}", start + timedelta(days=1 + r)))
            bare.append(
                bench.bare_append(
                    dict(Counter(codes[i % n] for i in range(BATCH))),
                    "MaintenanceRecorded",
                    {"record_id": "x", "unit_uscc": UNIT, "performed_on": "2016-01-02"},
                )
            )
        out.append(
            common.Row.of(
                f"credit: a batch of {BATCH:,} maintenance records",
                min(ours),
                "s",
                f"append_many of the same {BATCH:,} events, no check",
                min(bare),
            )
        )
        # every elevator last maintained in the first rounds' days: one window each is due
        today = start + timedelta(days=1 + rounds() + 15 + 4)
        swept, changed = bench.sweep(today)
        bare_missed = bench.bare_append(
            dict.fromkeys(codes, 1),
            "MaintenanceMissed",
            {"unit_uscc": UNIT, "due_on": "2016-01-16"},
        )
        out.append(
            common.Row.of(
                f"credit: missed-maintenance sweep, {changed:,} elevators one window each",
                swept,
                "s",
                f"append_many of the same {changed:,} events",
                bare_missed,
            )
        )
        ours_score, bare_read, deductions = bench.score(today)
        out.append(
            common.Row.of(
                f"credit: a unit's score, {n:,} elevators, {deductions:,} deductions",
                ours_score,
                "s",
                "reading its fact rows alone",
                bare_read,
            )
        )
        bench.engine.dispose()
    return out, {}


if __name__ == "__main__":
    import json

    got, _ = rows(print)
    print(json.dumps([r.to_json() for r in got]))
