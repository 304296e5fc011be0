"""A year of maintenance records through the gateway, every unit scored after it, and the
credit service's memory while it takes them; each figure next to its peer in the same run.

Set-up (not timed): the credit service (``python -m infra.runner service maintenance_credit``)
on a fresh PostgreSQL database, and a gateway process, on a fresh vhost. N elevators
(``SESP_BENCH_INGEST_ELEVATORS``, default 5,000 x scale) maintained by units of
``SESP_BENCH_CREDIT_UNIT_ELEVATORS`` (5,000) each, learnt as the service learns them from
licensing's events: each unit's ``LicenceIssued`` through ``intake.observe``, the elevators'
``EquipmentRegistered`` as the events ``intake`` records of them, saved in bulk straight into
the service's store (its relay publishes them before the clock starts). One token per unit
(role ``maintenance_unit``).

Ingest: 24 half-monthly visits of every elevator, 15 days apart from 6 January 2015 (one in
20 elevators is visited 3 days late once, so the year leaves missed windows to score). Each
half-month the service's clock (``SESP_CLOCK_FILE``) moves to that visit's day + 3 and every
unit posts that half-month's records of its elevators with its own token, ``POST
/v1/maintenance-records:batch``, 5,000 at most a batch, one keep-alive connection, one batch
after another. The product counts a window as missed 3 days after it ends, so records come
within that: the missed-maintenance sweep (the service's own timer, every minute) never finds
a window waiting for a record still in flight. Timed from the first request until the
outbox relay has published every event (``relay_status`` on the service's database says 0
behind). Peer: the same client posting the same batches to the same gateway process on a
bench-only route (``DiscardGateway``) that authenticates the unit, parses the JSON and loads
it with the same schema (``MaintenanceBatchIn``), checks each record with the schema the
service checks it with (``MaintenanceRecordIn``), then discards them: no RPC.

Scoring: once the year is over (the sweep has recorded every missed window, the clock on 2
January 2016), ``POST /v1/credit/evaluations`` for 2015, what the city runs to score every
unit (every unit's facts, elevators and appeals read and folded, the grades published), next
to one SQL aggregate over the same facts (the year's ``credit_facts`` counted by unit and type).

Memory: the peak resident set of the credit service's process (``VmHWM``, reset by writing 5
to ``/proc/<pid>/clear_refs`` as the ingest starts) during the ingest of N, and during a
second, separate ingest of 4N elevators on a fresh database (``SESP_BENCH_INGEST_4N=0`` skips
it: the full-city run).

``python -m bench --only ingest`` prints the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from gateway.auth import CITY_ADMIN, MAINTENANCE_UNIT
from gateway.call import Call
from gateway.routes.credit import TAG, BatchOutcome
from gateway.routing import route
from gateway.service import GatewayService
from infra.errors import Invalid
from infra.schemas import load
from services.maintenance_credit.schemas import MAX_RECORDS, MaintenanceBatchIn, MaintenanceRecordIn

from . import common
from .gateway_bench import _free_port, _start, _stop, _wait_http

YEAR = 2015
FIRST_VISIT = date(YEAR, 1, 6)
VISITS = 24
INTERVAL = timedelta(days=15)  # MAINTENANCE_INTERVAL_DAYS
SLACK = timedelta(days=3)  # RECORD_GRACE_DAYS: the clock stands this far after a visit's day
LATE_EVERY = 20  # one elevator in 20 is visited SLACK late once: a missed window
BATCH_PATH = "/v1/maintenance-records:batch"
DISCARD_PATH = "/v1/bench/maintenance-records:batch"  # ":batch": the same 5 MiB body limit


def elevators() -> int:
    return int(os.environ.get("SESP_BENCH_INGEST_ELEVATORS") or int(5_000 * common.scale()))


def unit_elevators() -> int:
    return int(os.environ.get("SESP_BENCH_CREDIT_UNIT_ELEVATORS", "5000"))


def with_4n() -> bool:
    return os.environ.get("SESP_BENCH_INGEST_4N", "1") != "0"


class DiscardRoutes:
    @route(
        "POST",
        DISCARD_PATH,
        roles=[MAINTENANCE_UNIT],
        tag=TAG,
        summary="Bench only: the batch route's gateway half, the records then discarded",
        body=MaintenanceBatchIn,
        responses={200: BatchOutcome},
        errors=(422,),
    )
    def discard_maintenance(self, call: Call):
        record, rejected = MaintenanceRecordIn(), []
        for index, item in enumerate(call.body["records"]):
            try:
                load(record, item, "record")  # each record's check, as the service makes it
            except Invalid as exc:
                rejected.append({"index": index, "record_id": None, "errors": exc.errors})
        accepted = len(call.body["records"]) - len(rejected)
        return 200, {"accepted": accepted, "duplicates": 0, "rejected": rejected}


class DiscardGateway(DiscardRoutes, GatewayService):
    """The gateway with one more route: what ``POST /v1/maintenance-records:batch`` does
    before its RPC (the caller authenticated, the body parsed and loaded with the batch
    schema), then each record checked with the record schema as the service checks it, and
    nothing more."""

    name = "gateway"


# --- the year's records ---------------------------------------------------------------------


def code_of(i: int) -> str:
    """The i-th elevator's 18-digit code (class 3, made in 2012)."""
    return f"3110{10_000 + i // 100_000:05d}2012{i % 100_000:05d}"


def late_visit(i: int) -> int | None:
    """The visit (1-22) at which elevator i comes late, if it does."""
    return 1 + (i // LATE_EVERY) % (VISITS - 2) if i % LATE_EVERY == 0 else None


def visit_day(h: int) -> date:
    return FIRST_VISIT + h * INTERVAL


def clock_at(day: date) -> str:
    return f"{day.isoformat()}T09:00:00+08:00"


@dataclass
class City:
    n: int
    units: list[str] = field(default_factory=list)  # credit codes
    members: list[range] = field(default_factory=list)  # each unit's elevator indexes

    @classmethod
    def of(cls, n: int) -> City:
        import random

        from services.licensing.examples import new_uscc

        rng = random.Random(2015)
        size = max(1, min(unit_elevators(), n))
        city = cls(n)
        for start in range(0, n, size):
            city.units.append(new_uscc(rng))
            city.members.append(range(start, min(start + size, n)))
        return city

    def batches(self, h: int) -> Iterator[tuple[int, list[dict]]]:
        """(unit index, records) of every batch of visit ``h``."""
        day = visit_day(h).isoformat()
        late = (visit_day(h) + SLACK).isoformat()
        for u, members in enumerate(self.members):
            for start in range(0, len(members), MAX_RECORDS):
                yield (
                    u,
                    [
                        {
                            "record_id": f"{code_of(i)}-{h:02d}",
                            "equipment_code": code_of(i),
                            "performed_on": late if late_visit(i) == h else day,
                            "type": "half_monthly",
                        }
                        for i in members[start : start + MAX_RECORDS]
                    ],
                )


CONCURRENTLY = "changed concurrently; send again"


def post_year(
    base: str, path: str, city: City, tokens: list[str], on_visit: Callable[[int], None]
) -> tuple[float, int, int]:
    """Post the year's batches in order on one keep-alive connection; (seconds, records, sent
    again). A record refused because its elevator changed concurrently (the service's
    missed-maintenance sweep saved it meanwhile) is sent again, as the API tells a client."""
    import httpx

    sent = again = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        for h in range(VISITS):
            on_visit(h)
            for u, records in city.batches(h):
                headers = {
                    "Authorization": f"Bearer {tokens[u]}",
                    "Content-Type": "application/json",
                }
                sent += len(records)
                while records:
                    body = json.dumps({"records": records}).encode()
                    response = client.post(path, content=body, headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
                    rejected = response.json()["rejected"]
                    if any(CONCURRENTLY not in str(r["errors"]) for r in rejected):
                        raise RuntimeError(f"{path}: {len(rejected)} rejected: {rejected[:3]}")
                    records = [records[r["index"]] for r in rejected]
                    again += len(records)
        return time.perf_counter() - started, sent, again


# --- the stack ------------------------------------------------------------------------------


@dataclass
class Running:
    db_url: str
    gateway: str
    clock: Path
    service: subprocess.Popen
    tokens: list[str]
    admin: str

    def set_clock(self, day: date) -> None:
        from infra.testing import write_clock

        write_clock(self.clock, clock_at(day))

    def behind(self, engine) -> int:
        from infra.bus.relay_status import relay_status

        with engine.connect() as conn:
            return relay_status(conn)["behind"]

    def wait_published(self, engine, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.behind(engine):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the relay did not publish everything within {timeout:.0f} s")
            time.sleep(0.05)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.service.pid}/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        for line in Path(f"/proc/{self.service.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")


@contextmanager
def stack(city: City, label: str) -> Iterator[Running]:
    """The credit service on a fresh database and the discarding gateway, on a fresh vhost;
    the city's units and elevators learnt."""
    from gateway.auth import TokenStore
    from gateway.db import open_database
    from infra.testing import Broker, write_clock

    from .credit import Bench

    broker = Broker()
    vhost = broker.create_vhost()
    procs: list[subprocess.Popen] = []
    with (
        tempfile.TemporaryDirectory(prefix=f"sesp-bench-{label}-") as tmp,
        common.fresh_pg_database(label) as db_url,
    ):
        data = Path(tmp)
        try:
            clock = data / "clock"
            write_clock(clock, clock_at(FIRST_VISIT))
            base = {
                "SESP_AMQP_URI": broker.uri_for(vhost),
                "SESP_DATA_DIR": str(data),
                "SESP_DEMO": "0",
                "SESP_LOG_LEVEL": "WARNING",
            }
            gw_db = f"sqlite:///{data / 'gateway.db'}"
            engine = open_database(gw_db)
            store = TokenStore(engine)
            tokens = [
                store.create(role=MAINTENANCE_UNIT, uscc=uscc, name=uscc, created_by="bench")[0]
                for uscc in city.units
            ]
            admin, _ = store.create(role=CITY_ADMIN, name="bench", created_by="bench")
            engine.dispose()
            service = _start(
                "maintenance_credit",
                {
                    **base,
                    "SESP_MAINTENANCE_CREDIT_DATABASE_URL": db_url,
                    "SESP_CLOCK_FILE": str(clock),
                },
                data / "credit.log",
            )
            procs.append(service)
            gw_port = _free_port()
            procs.append(
                _start(
                    "bench.credit_ingest:DiscardGateway",
                    {
                        **base,
                        "SESP_GATEWAY_PORT": str(gw_port),
                        "SESP_GATEWAY_DATABASE_URL": gw_db,
                        "SESP_ADMIN_TOKEN": "",
                        "SESP_RPC_TIMEOUT": "600",
                    },
                    data / "gateway.log",
                )
            )
            gateway = f"http://127.0.0.1:{gw_port}"
            _wait_http(
                f"{gateway}/v1/credit/rulesets",
                {"Authorization": f"Bearer {admin}"},
                timeout=120,
            )
            bench = Bench(db_url)
            for uscc, members in zip(city.units, city.members, strict=True):
                bench.observe([code_of(i) for i in members], FIRST_VISIT, uscc, bulk=True)
            running = Running(db_url, gateway, clock, service, tokens, admin)
            running.wait_published(bench.engine, timeout=600)
            bench.engine.dispose()
            yield running
        finally:
            for proc in procs:
                _stop(proc)
            broker.delete_vhost(vhost)
            broker.close()


@dataclass
class Ingest:
    records: int
    seconds: float  # first request to every event published
    answered: float  # first request to the last answer
    peak_mib: float
    sent_again: int  # records refused as changed concurrently, then sent again


def ingest(run: Running, city: City) -> Ingest:
    from infra.eventstore import make_engine

    engine = make_engine(run.db_url)
    try:
        run.reset_peak()
        started = time.perf_counter()
        answered, sent, again = post_year(
            run.gateway,
            BATCH_PATH,
            city,
            run.tokens,
            lambda h: run.set_clock(visit_day(h) + SLACK),
        )
        run.wait_published(engine, timeout=3600)
        seconds = time.perf_counter() - started
        return Ingest(sent, seconds, answered, run.peak_mib(), again)
    finally:
        engine.dispose()


def score_every_unit(run: Running) -> tuple[float, float, float, dict]:
    """Once the year is over: (seconds of scoring every unit as an evaluation does, seconds of
    the SQL aggregate, seconds of publishing the evaluation over HTTP, its answer)."""
    import httpx
    from sqlalchemy import text

    from services.maintenance_credit.evaluations import _grades

    from .credit import Bench

    bench = Bench(run.db_url)
    _, missed = bench.sweep(visit_day(VISITS - 1) + SLACK)  # every window the year missed
    scoring = aggregate = float("inf")
    for _ in range(3):
        uow = bench.worker()
        started = time.perf_counter()
        grades = _grades(bench.repo(uow), str(YEAR))
        scoring = min(scoring, time.perf_counter() - started)
        uow.rollback()
        with bench.engine.connect() as conn:
            started = time.perf_counter()
            facts = conn.execute(
                text(
                    "SELECT unit_uscc, type, count(*) FROM credit_facts "
                    "WHERE occurred_on BETWEEN :start AND :end GROUP BY unit_uscc, type"
                ),
                {"start": date(YEAR, 1, 1), "end": date(YEAR, 12, 31)},
            ).all()
            aggregate = min(aggregate, time.perf_counter() - started)
    bench.engine.dispose()
    run.set_clock(date(YEAR + 1, 1, 2))
    started = time.perf_counter()
    response = httpx.post(
        f"{run.gateway}/v1/credit/evaluations",
        json={"period": str(YEAR)},
        headers={"Authorization": f"Bearer {run.admin}"},
        timeout=3600,
    )
    published = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"evaluation: {response.status_code} {response.text[:500]}")
    answer = response.json()
    if answer["units"] != len(grades):
        raise RuntimeError(f"the evaluation scored {answer['units']} units, not {len(grades)}")
    answer["facts"] = sum(row[2] for row in facts)
    answer["swept"] = missed
    return scoring, aggregate, published, answer


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    n = elevators()
    city = City.of(n)
    out: list[common.Row] = []
    targets: dict[str, str] = {}
    log(f"  {n:,} elevators, {len(city.units)} units, {VISITS * n:,} records")
    with stack(city, "ingest") as run:
        discard, sent, _ = post_year(run.gateway, DISCARD_PATH, city, run.tokens, lambda h: None)
        log(f"  discarding route: {sent:,} records in {discard:.1f} s")
        got = ingest(run, city)
        log(
            f"  ingest: {got.records:,} records answered in {got.answered:.1f} s, published "
            f"in {got.seconds:.1f} s ({got.sent_again} sent again); credit process peak "
            f"{got.peak_mib:.0f} MiB"
        )
        scoring, aggregate, published, answer = score_every_unit(run)
        log(
            f"  {answer['units']} units scored ({answer['facts']:,} facts, grades "
            f"{answer['grades']}) in {scoring:.3f} s; SQL aggregate {aggregate * 1000:.1f} ms; "
            f"the evaluation published via the gateway in {published:.2f} s"
        )
    name = f"credit: records via the gateway, {n:,} elevators x {VISITS}, until published"
    out.append(
        common.Row.of(
            name,
            round(got.records / got.seconds, 1),
            "records/s",
            "the same batches to a parse+validate+discard route",
            round(sent / discard, 1),
        )
    )
    targets[name] = ">= 0.5x"
    name = f"credit: every unit scored after the year ({answer['units']} units, as evaluated)"
    out.append(
        common.Row.of(
            name,
            round(scoring, 4),
            "s",
            "one SQL aggregate of the same facts by unit and type",
            round(aggregate, 4),
        )
    )
    out[-1].ratio = aggregate / scoring if scoring else float("nan")  # time: peer/ours
    targets[name] = ">= 0.5x"
    if with_4n():
        big = City.of(4 * n)
        with stack(big, "ingest4n") as run:
            got4 = ingest(run, big)
        log(
            f"  ingest of 4N: {got4.records:,} records published in {got4.seconds:.1f} s; "
            f"credit process peak {got4.peak_mib:.0f} MiB"
        )
        name = f"credit: service peak RSS ingesting {4 * n:,} elevators (4N)"
        out.append(
            common.Row.of(
                name, round(got4.peak_mib, 1), "MiB", f"at {n:,} (N)", round(got.peak_mib, 1)
            )
        )
        targets[name] = "about 1x (flat)"
    else:
        out.append(
            common.Row.of(
                f"credit: service peak RSS ingesting {n:,} elevators",
                round(got.peak_mib, 1),
                "MiB",
                "-",
                float("nan"),
            )
        )
    return out, targets


if __name__ == "__main__":
    got, _ = rows(print)
    print(json.dumps([r.to_json() for r in got]))
