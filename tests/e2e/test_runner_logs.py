"""``python -m infra.runner all`` as a new operator runs it (``make run``), read from its output:
stderr is one JSON object per line from every process; a policy push to a service nobody
subscribes to yet is not an error (once per event type, and counted in ``/metrics``); a refusal
is one INFO line with its request id; start-up prints no broker chatter; a crashed service is
reported in JSON too; Ctrl-C (SIGINT to the whole process group, as a terminal sends it) says
"stopping…", ends every process and prints no traceback.

The demo data as a newcomer finds it over the HTTP API: last year's final grades A to D, the
blacklist with the final D's automatic listing and the city bureau's serious-violation
listing, an overturned appeal, complaints in every status; and the platform at real time
once the demo has loaded its past.

One run of the real processes on a fresh vhost and data directory, with demo data loading.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from infra import registry
from infra.clock import CHINA_STANDARD_TIME
from infra.demo import history_start
from infra.testing import ROOT, free_port, wait_until

ADMIN = "sesp_dev_" + "logs" * 8
INSURER = "91350200776049653A"
POLICIES = 600  # two batches of the relay, each of them returned by the broker
# Liveness bounds, not timing thresholds: a run that takes longer is stuck, not slow.
START_BOUND = 90
DEMO_BOUND = 300  # the demo's past: a year and more of facts through the services
STOP_BOUND = 15


def policy(n: int) -> dict:
    return {
        "policy_no": f"LOG-{n:05d}",
        "revision": 1,
        "policyholders": [
            {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "1.00"}
        ],
        "equipment_codes": [f"3110{n:05d}2014{n:05d}"],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": "93.00",
        "starts_on": "2014-07-01",
        "ends_on": "2015-06-30",
        "status": "active",
    }


def gauge(client: httpx.Client, name: str, service: str) -> float | None:
    text = client.get("/metrics").text
    found = re.search(rf'^{name}{{service="{service}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


@pytest.fixture(scope="module")
def run(amqp_uri_module, tmp_path_factory):
    """Start the runner, use it as an operator would, stop it with Ctrl-C; hand over what it
    printed and what the test saw meanwhile."""
    data = tmp_path_factory.mktemp("data")
    port = free_port()
    env = {
        **os.environ,
        "SESP_DATA_DIR": str(data),
        "SESP_GATEWAY_PORT": str(port),
        "SESP_AMQP_URI": amqp_uri_module,
        "SESP_ADMIN_TOKEN": ADMIN,
        "SESP_DEMO": "1",
        "SESP_LOG_LEVEL": "INFO",
    }
    env.pop("SESP_CLOCK_FILE", None)
    out, err = data / "stdout.log", data / "stderr.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.runner", "all"],
            env=env,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, as at a terminal
        )
    seen: dict = {}
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(lambda: _ready(client), START_BOUND, what="the gateway ready")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        made = client.post(
            "/v1/admin/tokens",
            headers=admin,
            json={"role": "insurer", "uscc": INSURER, "name": "log test insurer"},
        )
        assert made.status_code == 201, made.text
        insurer = {"Authorization": f"Bearer {made.json()['token']}"}
        for start in range(0, POLICIES, 300):
            pushed = client.post(
                "/v1/insurance/policies:batch",
                headers=insurer,
                json={"policies": [policy(n) for n in range(start, start + 300)]},
            )
            assert pushed.status_code == 200, pushed.text
        for request_id, path, status in (
            ("log-404", "/v1/insurance/policies/NOPE-1", 404),
            ("log-422", "/v1/delegations?cursor=not-ours", 422),
        ):
            got = client.get(path, headers={**admin, "X-Request-ID": request_id})
            assert got.status_code == status, got.text
        wait_until(
            lambda: gauge(client, "sesp_relay_lag_events", "insurance") == 0,
            60,
            what="insurance's relay to publish the pushed policies' events",
        )
        seen["unroutable"] = gauge(client, "sesp_relay_unroutable_events", "insurance")
        # Demo data: every loader's summary, once (a loader that waits for another service's
        # events gets that service's refusals as such, and retries only itself).
        loaders = [spec.name for spec in registry.services() if spec.demo]
        wait_until(
            lambda: all(f'"demo data: {name} ' in err.read_text() for name in loaders),
            DEMO_BOUND,
            what="demo data loaded",
        )
        seen["demo"] = demo_outcome(client, admin, data)
        # A service that crashes: the runner says so (in JSON) and restarts it; Ctrl-C comes
        # during the back-off or just after, and must not wait for it.
        os.kill(child_running(proc.pid, "blacklist"), signal.SIGKILL)
        wait_until(lambda: "blacklist exited" in err.read_text(), 20, what="the runner's line")
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            seen["exit"] = proc.wait(STOP_BOUND)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            seen["exit"] = "did not stop"
    seen["stdout"] = out.read_text(errors="replace")
    seen["stderr"] = err.read_text(errors="replace")
    return seen


def demo_outcome(client: httpx.Client, admin: dict, data: Path) -> dict:
    """What the demo data shows over the API, and a command at real time after it."""
    out: dict = {"clock": (data / "demo-clock").read_text()}
    out["credit"] = client.get("/v1/public/credit", params={"limit": 100}).json()["items"]
    out["blacklist"] = client.get("/v1/public/blacklist").json()["items"]
    period = history_start(datetime.now(CHINA_STANDARD_TIME).date()).year
    out["deductions"] = [
        d
        for unit in out["credit"]
        for d in client.get(
            f"/v1/credit/units/{unit['uscc']}",
            params={"as_of": f"{period}-12-31"},
            headers=admin,
        ).json()["deductions"]
    ]
    out["now"] = [
        client.get(f"/v1/credit/units/{unit['uscc']}/history", headers=admin).json()["current"]
        for unit in out["credit"][:1]
    ]
    d_units = [x["uscc"] for x in out["credit"] if x["grade"] == "D"]
    if d_units:
        out["site"] = client.get("/", params={"q": d_units[0], "lang": "en"}).text
    complaints = client.get("/v1/complaints", headers=admin).json()["items"]
    if complaints:
        made = client.post(
            "/v1/public/complaints",
            json={
                "equipment_code": complaints[0]["equipment_code"],
                "what": "The light in the car flickers.",
                "occurred_at": (datetime.now(CHINA_STANDARD_TIME) - timedelta(hours=1)).isoformat(),
            },
        )
        assert made.status_code == 201, made.text
        out["made"] = made.json()["reference"]
    out["complaints"] = client.get("/v1/complaints", headers=admin).json()["items"]
    return out


@pytest.fixture(scope="module")
def amqp_uri_module(broker):
    vhost = broker.create_vhost()
    yield broker.uri_for(vhost)
    broker.delete_vhost(vhost)


def child_running(parent: int, service: str) -> int:
    """The pid of the runner's child that runs ``service``."""
    with open(f"/proc/{parent}/task/{parent}/children") as f:
        pids = [int(p) for p in f.read().split()]
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[-2:-1] == [service.encode()]:
                return pid
    raise AssertionError(f"no child runs {service}")


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def records(run) -> list[dict]:
    return [json.loads(line) for line in run["stderr"].splitlines() if line.startswith("{")]


def test_ctrl_c_says_stopping_ends_everything_and_prints_no_traceback(run):
    assert run["exit"] == 0, run["stdout"] + run["stderr"][-3000:]
    assert "SESP is stopping…" in run["stdout"]
    assert run["stdout"].rstrip().endswith("SESP stopped.")
    assert "Traceback" not in run["stdout"] + run["stderr"]


def test_stderr_is_one_json_object_per_line_from_every_process(run, records):
    lines = run["stderr"].splitlines()
    assert lines and len(records) == len(lines), [x for x in lines if not x.startswith("{")][:5]
    services = {r["service"] for r in records}
    assert {"demo", "gateway", "licensing", "insurance"} <= services
    stopped = {r["service"] for r in records if r["msg"].endswith("stopping…")}
    assert {"gateway", "licensing", "insurance"} <= stopped
    [crashed] = [r for r in records if r["service"] == "runner"]
    assert crashed["level"] == "warning" and crashed["msg"].startswith("blacklist exited with -9")
    assert "Received method" not in run["stderr"]  # py-amqp's chatter at start-up
    loaded = [r["msg"] for r in records if r["msg"].startswith("demo data: ")]
    assert len(loaded) == 1 + len([spec for spec in registry.services() if spec.demo]), loaded


def test_events_nobody_subscribes_to_are_no_error_said_once_and_counted(run, records):
    assert run["unroutable"] is not None and run["unroutable"] >= POLICIES
    assert not [r["msg"] for r in records if r["level"] in ("error", "critical")]
    said = [r for r in records if r["service"] == "insurance" and "nothing subscribes" in r["msg"]]
    # once per type: PolicyEnrolled, and PolicyLapsed should insurance's sweep have lapsed the
    # pushed policies (they ended in 2015) while the demo loaded
    types = [re.findall(r"nothing subscribes to (\w+) events", r["msg"]) for r in said]
    assert ["PolicyEnrolled"] in types and len(types) == len({tuple(t) for t in types}), types
    assert {r["level"] for r in said} == {"info"}


@pytest.mark.parametrize(("request_id", "status"), [("log-404", 404), ("log-422", 422)])
def test_a_refusal_is_one_info_line_with_its_request_id(records, request_id, status):
    mine = [r for r in records if r.get("request_id") == request_id or request_id in r["msg"]]
    assert len(mine) == 1, mine
    assert mine[0]["level"] == "info" and mine[0]["status"] == status and "exc" not in mine[0]
    assert not [r for r in records if "(expected)" in r["msg"]]


# --- the demo data ----------------------------------------------------------------------------


def last_year() -> str:
    return str(history_start(datetime.now(CHINA_STANDARD_TIME).date()).year)


def test_the_demo_publishes_last_years_final_grades_a_to_d(run):
    credit = run["demo"]["credit"]
    assert {x["grade"] for x in credit} >= {"A", "B", "C", "D"}, credit
    assert {x["period"] for x in credit} == {last_year()}
    assert [x for x in credit if x["grade"] == "D"][0]["vetoed"] is True
    # the public site finds the units' final grades
    d_unit = next(x for x in credit if x["grade"] == "D")
    assert d_unit["name"] in run["demo"]["site"] and last_year() in run["demo"]["site"]


def test_the_demo_lists_the_final_d_unit_and_a_serious_violation_publicly(run):
    listings = run["demo"]["blacklist"]
    d_units = {x["uscc"] for x in run["demo"]["credit"] if x["grade"] == "D"}
    automatic = [x for x in listings if x["list"] == "maintenance_quality"]
    assert {x["uscc"] for x in automatic} == d_units
    assert automatic[0]["reason"].endswith(f"for {last_year()}")
    manual = [x for x in listings if x["list"] == "serious_violation"]
    assert len(manual) == 1 and manual[0]["authority"] == "SH", listings
    assert manual[0]["listed_on"] < datetime.now(CHINA_STANDARD_TIME).date().isoformat()


def test_the_demo_has_a_deduction_reversed_on_appeal_and_missed_maintenance(run):
    rules = {(d["rule"], d["status"]) for d in run["demo"]["deductions"]}
    assert ("late_entrapment_arrival", "reversed") in rules
    assert ("missed_maintenance", "active") in rules


def test_the_demo_has_complaints_verified_dismissed_and_received(run):
    statuses = [c["status"] for c in run["demo"]["complaints"]]
    assert {"verified", "dismissed", "received"} <= set(statuses), statuses


def test_after_the_demo_the_platform_runs_at_real_time(run):
    today = datetime.now(CHINA_STANDARD_TIME).date().isoformat()
    assert run["demo"]["clock"] == ""  # emptied: every process reads real time
    assert [x["as_of"] for x in run["demo"]["now"]] == [today]
    [made] = [c for c in run["demo"]["complaints"] if c["reference"] == run["demo"]["made"]]
    received = datetime.fromisoformat(made["received_at"]).astimezone(CHINA_STANDARD_TIME)
    assert received.date().isoformat() == today
