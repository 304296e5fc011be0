"""A cheap authenticated read through the gateway and RPC, next to the framework's limit.

Ours: ``GET /v1/delegations?limit=1`` with a stored bearer token: the gateway process looks the
token up in its database, checks the role, validates the query, calls ``licensing`` over RPC
(which reads its SQLite read model) and answers JSON, with logs and metrics on.
Limit: a bare nameko ``@http`` endpoint returning a constant, run as its own process the same
way (``python -m infra.runner service``), so it pays for nameko's worker model and eventlet's
WSGI server and nothing else.

Both are driven in the same run by one load process with ``SESP_BENCH_HTTP_CONCURRENCY``
(default 16) keep-alive connections for ``SESP_BENCH_HTTP_SECONDS`` (default 5 x scale)
after a warm-up; rounds alternate and the best counts. Rows: requests/s (ratio to the limit;
the target is at least 0.5) and p99 latency (ratio limit/ours, so higher is better in both).

``run() -> list[dict]`` returns the rows; ``python -m bench.gateway_bench`` prints them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nameko.web.handlers import http

from . import common

ROUNDS = int(os.environ.get("SESP_BENCH_ROUNDS", "2"))


def concurrency() -> int:
    return int(os.environ.get("SESP_BENCH_HTTP_CONCURRENCY", "16"))


def seconds() -> float:
    return float(os.environ.get("SESP_BENCH_HTTP_SECONDS") or 5 * common.scale())


class ConstantHttp:
    """Bench-only: the framework's limit, an ``@http`` endpoint that returns a constant."""

    name = "bench_constant_http"

    @http("GET", "/constant")
    def constant(self, request):
        return 200, '{"ok": true}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, headers: dict, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.2)


def _start(target: str, env: dict, log: Path) -> subprocess.Popen:
    # Databases in the bench's own data directory, whatever this shell points at.
    inherited = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "infra.runner", "service", target],
        cwd=common.ROOT,
        env={**inherited, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(
    url: str,
    token: str | None,
    conns: int,
    duration: float,
    extra_headers: dict | None = None,
    expect: int = 200,
) -> dict:
    """Run in a child: ``conns`` green keep-alive clients for ``duration`` seconds; an answer
    other than ``expect`` counts as an error."""
    import eventlet

    eventlet.monkey_patch()
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(extra_headers or {})
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    def client():
        nonlocal errors
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != expect:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            latencies.append(time.perf_counter() - started)
        conn.close()

    began = time.perf_counter()
    pool = eventlet.GreenPool(conns)
    for _ in range(conns):
        pool.spawn_n(client)
    pool.waitall()
    elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return {"rps": len(latencies) / elapsed, "p99_ms": p99 * 1000, "errors": errors}


def _load(url: str, token: str | None) -> dict:
    args = [url, token or "-", str(concurrency()), str(seconds())]
    return common.run_child("bench.gateway_bench", args, timeout=seconds() * 4 + 120)


def run() -> list[dict]:
    """Start the stack on a fresh vhost, measure both endpoints, return the rows."""
    from gateway.auth import CITY_ADMIN, TokenStore
    from gateway.db import open_database
    from infra.testing import Broker

    broker = Broker()
    vhost = broker.create_vhost()
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="sesp-bench-gw-") as tmp:
        data = Path(tmp)
        try:
            gw_port, limit_port = _free_port(), _free_port()
            base = {
                "SESP_AMQP_URI": broker.uri_for(vhost),
                "SESP_DATA_DIR": str(data),
                "SESP_DEMO": "0",
                "SESP_LOG_LEVEL": "WARNING",
            }
            gw_db = f"sqlite:///{data / 'gateway.db'}"
            engine = open_database(gw_db)
            token, _ = TokenStore(engine).create(role=CITY_ADMIN, name="bench", created_by="bench")
            engine.dispose()
            procs.append(_start("licensing", base, data / "licensing.log"))
            procs.append(
                _start(
                    "gateway",
                    {
                        **base,
                        "SESP_GATEWAY_PORT": str(gw_port),
                        "SESP_GATEWAY_DATABASE_URL": gw_db,
                        "SESP_ADMIN_TOKEN": "",
                    },
                    data / "gateway.log",
                )
            )
            procs.append(
                _start(
                    "bench.gateway_bench:ConstantHttp",
                    {**base, "SESP_GATEWAY_PORT": str(limit_port)},
                    data / "limit.log",
                )
            )
            ours = f"http://127.0.0.1:{gw_port}/v1/delegations?limit=1"
            limit = f"http://127.0.0.1:{limit_port}/constant"
            _wait_http(ours, {"Authorization": f"Bearer {token}"})
            _wait_http(limit, {})
            best: dict[str, dict] = {}
            for _ in range(ROUNDS):
                for name, url, tok in (("ours", ours, token), ("limit", limit, None)):
                    result = _load(url, tok)
                    if result["errors"]:
                        raise RuntimeError(f"{name}: {result['errors']} failed requests")
                    if name not in best or result["rps"] > best[name]["rps"]:
                        best[name] = result
        finally:
            for proc in procs:
                _stop(proc)
            broker.delete_vhost(vhost)
            broker.close()
    c = concurrency()
    rows = [
        common.Row.of(
            f"gateway: authenticated read via RPC, {c} connections",
            round(best["ours"]["rps"], 1),
            "requests/s",
            "bare nameko @http constant (limit)",
            round(best["limit"]["rps"], 1),
        ),
        common.Row.of(
            f"gateway: authenticated read via RPC, p99 at {c} connections",
            round(best["ours"]["p99_ms"], 2),
            "ms",
            "bare nameko @http constant p99 (limit)",
            round(best["limit"]["p99_ms"], 2),
        ),
    ]
    # For latency, lower is better: report limit/ours so that 1.0 means "as fast as the limit".
    latency = rows[1]
    latency.ratio = latency.baseline_value / latency.value if latency.value else float("nan")
    return [row.to_json() for row in rows]


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    """The shape ``bench.__main__`` uses for its sections."""
    out = [common.Row(**r) for r in run()]
    for row in out:
        log(f"  {row.name}: {row.value} {row.unit} vs {row.baseline_value} ({row.ratio:.2f}x)")
    return out, {}


if __name__ == "__main__":
    if len(sys.argv) == 5:
        url, token, conns, duration = sys.argv[1:]
        common.emit(measure(url, None if token == "-" else token, int(conns), float(duration)))
    else:
        print(json.dumps(run(), indent=2))
