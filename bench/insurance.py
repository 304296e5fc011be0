"""Insurer sync through the gateway, next to the limit of the HTTP path.

Ours: the sync client (``services.insurance.sync_client``) pushes N policies (3 elevators
each) in batches of 1,000 through the real gateway into the real insurance service (its store
on PostgreSQL), every process as in production.
Limit: the same client and batches against a bare nameko ``@http`` endpoint that parses and
validates each policy with the same schemas and discards it.

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
from marshmallow import ValidationError
from nameko.web.handlers import http

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

        from services.insurance.schemas import flatten_errors, load_policy

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
            except ValidationError as exc:
                results.append(
                    {
                        "index": i,
                        "policy_no": item.get("policy_no"),
                        "status": 422,
                        "errors": flatten_errors(exc.messages),
                    }
                )
        return Response(json.dumps({"results": results}), mimetype="application/json")


# -- harness --------------------------------------------------------------------------------


def _write_export(path: Path, n: int) -> None:
    holders = "9135021359498494XQ|Owner Co|owner|0.70;91440101MA5CJQ4N59|Lift Care|maintenance|0.30"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "policy_no",
                "revision",
                "status",
                "cover",
                "per_accident",
                "per_person",
                "premium",
                "starts_on",
                "ends_on",
                "policyholders",
                "equipment_code",
            ]
        )
        for i in range(n):
            for j in range(3):
                # variety 31xx, a maker, made in 2014, a sequence: three distinct elevators
                code = f"31{i % 100:02d}{i // 100 % 100000:05d}2014{(i * 3 + j) % 100000:05d}"
                w.writerow(
                    [
                        f"B-{i:07d}",
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


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    n = policies()
    tmp = Path(tempfile.mkdtemp(prefix="sesp-bench-ins-"))
    export = tmp / "export.csv"
    _write_export(export, n)
    log(f"  {n} policies, {3 * n} elevators")
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    mgmt = httpx.Client(base_url="http://127.0.0.1:15672/api", auth=("guest", "guest"))
    mgmt.put(f"/vhosts/{vhost}").raise_for_status()
    mgmt.put(
        f"/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
    ).raise_for_status()
    amqp = common.amqp_uri().rstrip("/") + "/" + vhost
    procs: list[subprocess.Popen] = []
    try:
        # the limit
        port = 18000 + os.getpid() % 1000
        procs.append(
            _start(
                "bench.insurance:SyncLimit",
                {"SESP_AMQP_URI": amqp, "SESP_GATEWAY_PORT": str(port)},
                tmp / "limit.log",
            )
        )
        _wait_http(f"http://127.0.0.1:{port}/")
        limit_s, limit_n = _sync(export, f"http://127.0.0.1:{port}", "unused")
        procs.pop().terminate()
        limit_rate = limit_n / limit_s
        log(f"  limit: {limit_rate:.0f} policies/s")

        # the real path
        with common.fresh_pg_database("insurance") as ins_db:
            env = {
                "SESP_AMQP_URI": amqp,
                "SESP_DATA_DIR": str(tmp),
                "SESP_GATEWAY_PORT": str(port + 1),
                "SESP_ADMIN_TOKEN": ADMIN,
                "SESP_INSURANCE_DATABASE_URL": ins_db,
                "SESP_DEMO": "0",
            }
            procs.append(_start("insurance", env, tmp / "insurance.log"))
            procs.append(_start("gateway", env, tmp / "gateway.log"))
            url = f"http://127.0.0.1:{port + 1}"
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
            ours_s, ours_n = _sync(export, url, token)
            ours_rate = ours_n / ours_s
            log(f"  through the gateway: {ours_rate:.0f} policies/s")
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
            procs.clear()
    finally:
        for p in procs:
            p.kill()
        mgmt.delete(f"/vhosts/{vhost}")
    row = common.Row.of(
        f"insurer sync, {n} policies x 3 elevators, via gateway + insurance",
        ours_rate,
        "policies/s",
        "same client to a parse+validate+discard @http",
        limit_rate,
    )
    return [row], {row.name: ">= 0.5x"}
