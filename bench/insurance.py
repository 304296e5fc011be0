"""Insurer sync through the gateway, next to the limit of the HTTP path.

Ours: the sync client (``services.insurance.sync_client``) pushes N policies (3 elevators
each) in batches of 1,000 through the real gateway into the real insurance service (its store
on PostgreSQL), every process as in production.
Limit: the same client and batches against a bare nameko ``@http`` endpoint that parses and
validates each policy with the same schemas and discards it.

Both run ``SESP_BENCH_ROUNDS`` times (at least 2), interleaved in alternating order, each
round with its own policy numbers (so every round of ours creates N new policies), and each
keeps its best round. Before a round starts, the insurance service's outbox relay has published
every event of the previous one, so neither side measures the other's leftovers. A second row
times ours until the relay has published all N events as well (the sync's own figure stops
when the last batch is answered; the relay may still be publishing then).

``SESP_BENCH_POLICIES`` sets N (default 20,000 x scale; the issue's full figure is 100,000
policies covering 300,000 elevators).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from nameko.web.handlers import http

from services.insurance.sync_client import COLUMNS

from . import common

INSURER = "91350200776049653A"
ADMIN = "bench-admin-" + uuid.uuid4().hex


def policies() -> int:
    return int(os.environ.get("SESP_BENCH_POLICIES") or int(20_000 * common.scale()))


# -- the limit: parse + validate + discard --------------------------------------------------


class SyncLimit:
    """Bench-only: the HTTP path with the same schemas and nothing behind it."""

    name = "sync_limit"

    @http("POST", "/v1/insurance/policies:batch")
    def batch(self, request):
        from werkzeug.wrappers import Response

        from infra.errors import Invalid
        from services.insurance.schemas import load_policy

        body = json.loads(request.get_data())
        results = []
        for i, item in enumerate(body["policies"]):
            try:
                load_policy(item, with_policy_no=True)
                results.append(
                    {
                        "index": i,
                        "policy_no": item.get("policy_no"),
                        "status": 201,
                        "outcome": "created",
                        "version": 1,
                    }
                )
            except Invalid as exc:
                results.append(
                    {
                        "index": i,
                        "policy_no": item.get("policy_no"),
                        "status": exc.status,
                        "detail": exc.detail,
                        "errors": exc.errors,
                    }
                )
        return Response(json.dumps({"results": results}), mimetype="application/json")


# -- harness --------------------------------------------------------------------------------


def _write_export(path: Path, n: int, prefix: str = "B") -> None:
    holders = "9135021359498494XQ|Owner Co|owner|0.70;91440101MA5CJQ4N59|Lift Care|maintenance|0.30"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)  # the columns the sync client reads
        for i in range(n):
            for j in range(3):
                # variety 31xx, a maker, made in 2014, a sequence: three distinct elevators
                code = f"31{i % 100:02d}{i // 100 % 100000:05d}2014{(i * 3 + j) % 100000:05d}"
                w.writerow(
                    [
                        f"{prefix}-{i:07d}",
                        1,
                        "active",
                        "liability",
                        "1000000.00",
                        "800000.00",
                        "93.00",
                        "2014-07-01",
                        "2015-06-30",
                        holders,
                        code,
                    ]
                )


def _start(target: str, env: dict, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.runner", "service", target],
        env={**os.environ, **env},
        cwd=common.ROOT,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _sync(export: Path, url: str, token: str) -> tuple[float, int]:
    from services.insurance.sync_client import sync_file

    state = export.with_name(export.name + ".sync-state.json")
    state.unlink(missing_ok=True)
    t0 = time.perf_counter()
    summary = sync_file(export, url, token, batch_size=1000, progress=False)
    elapsed = time.perf_counter() - t0
    if summary.rejected:
        raise RuntimeError(f"bench policies were rejected: {summary.rejected[:2]}")
    return elapsed, summary.created + summary.superseded + summary.unchanged


class _Outbox:
    """How far the insurance service's relay has got, read from its database."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_size=1)

    def unpublished(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT (SELECT coalesce(max(position), 0) FROM events)"
                    " - coalesce((SELECT position FROM relay_state WHERE name = 'outbox'), 0)"
                )
            ).scalar_one()

    def wait_published(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.unpublished() > 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the insurance relay did not publish every event")
            time.sleep(0.05)

    def close(self) -> None:
        self.engine.dispose()


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    n = policies()
    rounds = max(2, int(os.environ.get("SESP_BENCH_ROUNDS", "2")))
    tmp = Path(tempfile.mkdtemp(prefix="sesp-bench-ins-"))
    exports = []
    for r in range(rounds):
        exports.append(tmp / f"export-{r}.csv")
        _write_export(exports[-1], n, prefix=f"B{r}")
    log(f"  {n} policies, {3 * n} elevators, {rounds} rounds")
    # A vhost of its own, through the management API when it is enabled, else with
    # rabbitmqctl (a fresh install has no management plugin), as the tests make theirs.
    from infra.testing import Broker

    broker = Broker(common.amqp_uri())
    vhost = broker.create_vhost()
    amqp = broker.uri_for(vhost)
    procs: list[subprocess.Popen] = []
    limit_rates: list[float] = []
    ours_rates: list[float] = []
    published_rates: list[float] = []
    port = 18000 + os.getpid() % 1000
    try:
        with common.fresh_pg_database("insurance") as ins_db:
            env = {
                "SESP_AMQP_URI": amqp,
                "SESP_DATA_DIR": str(tmp),
                "SESP_ADMIN_TOKEN": ADMIN,
                "SESP_INSURANCE_DATABASE_URL": ins_db,
                "SESP_DEMO": "0",
            }
            procs.append(
                _start(
                    "bench.insurance:SyncLimit",
                    {**env, "SESP_GATEWAY_PORT": str(port)},
                    tmp / "limit.log",
                )
            )
            procs.append(_start("insurance", env, tmp / "insurance.log"))
            procs.append(
                _start("gateway", {**env, "SESP_GATEWAY_PORT": str(port + 1)}, tmp / "gateway.log")
            )
            limit_url, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
            _wait_http(limit_url + "/")
            _wait_http(url + "/healthz")
            r = httpx.post(
                url + "/v1/admin/tokens",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"role": "insurer", "uscc": INSURER, "name": "bench insurer"},
                timeout=30,
            )
            r.raise_for_status()
            token = r.json()["token"]
            deadline = time.monotonic() + 60
            while True:  # wait for the insurance service to answer through the gateway
                probe = httpx.get(
                    url + "/v1/insurance/policies?ending_within=1",
                    timeout=10,
                    headers={"Authorization": f"Bearer {token}"},
                )
                if probe.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"insurance did not answer: {probe.text}")
                time.sleep(0.5)
            outbox = _Outbox(ins_db)
            try:
                for r_ in range(rounds):
                    export = exports[r_]
                    for side in ("limit", "ours") if r_ % 2 == 0 else ("ours", "limit"):
                        outbox.wait_published()  # the previous round's events are out
                        if side == "limit":
                            limit_s, limit_n = _sync(export, limit_url, "unused")
                            limit_rates.append(limit_n / limit_s)
                            log(f"  round {r_ + 1} limit: {limit_rates[-1]:.0f} policies/s")
                            continue
                        t0 = time.perf_counter()
                        ours_s, ours_n = _sync(export, url, token)
                        left = outbox.unpublished()
                        outbox.wait_published()
                        published_s = time.perf_counter() - t0
                        ours_rates.append(ours_n / ours_s)
                        published_rates.append(ours_n / published_s)
                        log(
                            f"  round {r_ + 1} through the gateway: {ours_rates[-1]:.0f}"
                            f" policies/s ({left} events still to publish at the end,"
                            f" all published after {published_s:.2f} s:"
                            f" {published_rates[-1]:.0f} policies/s)"
                        )
            finally:
                outbox.close()
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()  # measured already: a slow stop is no reason to lose the run
            procs.clear()
    finally:
        for p in procs:
            p.kill()
        broker.delete_vhost(vhost)
        broker.close()
    limit_rate = max(limit_rates)
    name = f"insurer sync, {n} policies x 3 elevators, via gateway + insurance"
    row = common.Row.of(
        name,
        max(ours_rates),
        "policies/s",
        "same client to a parse+validate+discard @http",
        limit_rate,
    )
    published = common.Row.of(
        name + ", until every event is published",
        max(published_rates),
        "policies/s",
        "same client to a parse+validate+discard @http",
        limit_rate,
    )
    return [row, published], {row.name: ">= 0.5x"}
