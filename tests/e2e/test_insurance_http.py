"""Insurance over HTTP: the gateway in this process, the insurance and licensing services as
real processes, all on one test vhost."""

import csv
import os
import signal
import subprocess
import sys

import pytest

from infra.testing import wait_until
from services.insurance.sync_client import COLUMNS

INSURER_A = "91350200776049653A"
INSURER_B = "913502000728319549"
OWNER = "9135021359498494XQ"
CARE = "91440101MA5CJQ4N59"


def policy(n: int, *, revision: int = 1, codes=None, **changes):
    body = {
        "revision": revision,
        "policyholders": [
            {"uscc": OWNER, "name": "Owner Co", "role": "owner", "share": "0.70"},
            {"uscc": CARE, "name": "Lift Care", "role": "maintenance", "share": "0.30"},
        ],
        "equipment_codes": codes or [f"3110{n:05d}2014{n:05d}"],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": "93.00",
        "starts_on": "2014-07-01",
        "ends_on": "2015-06-30",
        "status": "active",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def stack(module_stacks):
    """The services run on the real time (no clock file)."""
    return module_stacks(["insurance", "licensing"], gateway=True, clock=None)


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def tokens(gw):
    return {
        "a": gw.token("insurer", uscc=INSURER_A),
        "b": gw.token("insurer", uscc=INSURER_B),
        "officer": gw.token("bureau_officer", bureau="310104"),
        "unit": gw.token("maintenance_unit", uscc=CARE),
    }


def put(gw, token, no, body, **headers):
    return gw.client.put(
        f"/v1/insurance/policies/{no}", json=body, headers=gw.headers(token, **headers)
    )


def test_create_replay_stale_supersede_cancel(gw, tokens):
    created = put(gw, tokens["a"], "H-1", policy(1))
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["equipment"][0]["match"] == "pending"

    replay = put(gw, tokens["a"], "H-1", policy(1))
    assert replay.status_code == 200
    assert replay.json() == created.json()  # unchanged, same body

    newer = put(gw, tokens["a"], "H-1", policy(1, revision=2, premium="99.00"))
    assert newer.status_code == 200 and newer.json()["version"] == 2

    stale = put(gw, tokens["a"], "H-1", policy(1, revision=1))
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["type"].endswith("problem-stale") and "older" in stale.json()["detail"]

    cancelled = put(gw, tokens["a"], "H-1", policy(1, revision=3, status="cancelled"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_invalid_policy_is_422_with_field_paths_and_changes_nothing(gw, tokens):
    body = policy(2, ends_on="2014-01-01", extra="x")
    body["policyholders"][1]["uscc"] = "91440101MA5CJQ4N5X"
    r = put(gw, tokens["a"], "H-2", body)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {"ends_on", "extra", "policyholders.1.uscc"} <= set(errors)
    missing = gw.client.get("/v1/insurance/policies/H-2", headers=gw.headers(tokens["a"]))
    assert missing.status_code == 404


def test_batch_mixes_valid_invalid_and_stale(gw, tokens):
    assert put(gw, tokens["a"], "H-STALE", policy(3, revision=4)).status_code == 201
    items = [
        {"policy_no": "H-B1", **policy(4)},
        {"policy_no": "H-B2", **policy(5, premium="93")},
        {"policy_no": "H-STALE", **policy(3, revision=2)},
        {"policy_no": "H-B3", **policy(6)},
    ]
    r = gw.client.post(
        "/v1/insurance/policies:batch", json={"policies": items}, headers=gw.headers(tokens["a"])
    )
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 422, 409, 201]
    assert "premium" in r.json()["results"][1]["errors"]


def test_insurers_see_and_change_only_their_own_policies(gw, tokens):
    assert put(gw, tokens["a"], "H-OWN", policy(7)).status_code == 201
    other = gw.client.get("/v1/insurance/policies/H-OWN", headers=gw.headers(tokens["b"]))
    assert other.status_code == 404
    # B's PUT of the same number is B's own policy: A's stays as it was
    assert put(gw, tokens["b"], "H-OWN", policy(8, revision=9)).status_code == 201
    mine = gw.client.get("/v1/insurance/policies/H-OWN", headers=gw.headers(tokens["a"])).json()
    assert mine["revision"] == 1 and mine["insurer"] == INSURER_A
    # other roles may not push policies at all
    assert put(gw, tokens["unit"], "H-OWN", policy(7, revision=2)).status_code == 403
    assert put(gw, None, "H-OWN", policy(7, revision=2)).status_code == 401
    # an officer names the insurer when two use the number
    amb = gw.client.get("/v1/insurance/policies/H-OWN", headers=gw.headers(tokens["officer"]))
    assert amb.status_code == 422
    one = gw.client.get(
        f"/v1/insurance/policies/H-OWN?insurer={INSURER_B}", headers=gw.headers(tokens["officer"])
    )
    assert one.status_code == 200 and one.json()["insurer"] == INSURER_B


def test_coverage_and_public_ratio(gw, tokens):
    code = "311000009201400009"
    assert put(gw, tokens["a"], "H-COV", policy(9, codes=[code])).status_code == 201

    def cov(on):
        r = gw.client.get(
            f"/v1/insurance/equipment/{code}/coverage?on={on}",
            headers=gw.headers(tokens["officer"]),
        )
        assert r.status_code == 200, r.text
        return r.json()["covered"]

    assert (cov("2014-06-30"), cov("2014-07-01"), cov("2015-06-30"), cov("2015-07-01")) == (
        False,
        True,
        True,
        False,
    )
    public = gw.client.get("/v1/public/insurance/coverage?district=310109&on=2014-12-01")
    assert public.status_code == 200
    assert set(public.json()) >= {"district", "elevators", "covered", "ratio"}
    bad = gw.client.get("/v1/public/insurance/coverage?district=999")
    assert bad.status_code == 422 and "district" in bad.json()["errors"]


def _write_export(path, n_policies: int):
    """An insurer export: two elevators per policy, plus rows the API must reject."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)  # the columns the sync client reads
        holders = f"{OWNER}|Owner Co|owner|0.70;{CARE}|Lift Care|maintenance|0.30"
        for i in range(n_policies):
            for j in range(2):
                w.writerow(
                    [
                        f"S-{i:04d}",
                        1,
                        "active",
                        "liability",
                        "1000000.00",
                        "800000.00",
                        "93.00",
                        "2014-07-01",
                        "2015-06-30",
                        holders,
                        f"3110{i:05d}2014{j:05d}",
                    ]
                )
        w.writerow(
            [
                "S-BAD-DATES",
                1,
                "active",
                "liability",
                "1000000.00",
                "800000.00",
                "93.00",
                "2014-07-01",
                "2014-06-30",
                holders,
                "311000001201400001",
            ]
        )
        w.writerow(
            [
                "S-BAD-CODE",
                1,
                "active",
                "liability",
                "1000000.00",
                "800000.00",
                "93.00",
                "2014-07-01",
                "2015-06-30",
                holders,
                "3110000012099000001",
            ]
        )


def test_sync_client_interrupted_and_rerun_ends_with_exactly_the_file(gw, tmp_path):
    insurer = "91440101MA5CJQ4N59"  # a fresh insurer for this test
    token = gw.token("insurer", uscc=insurer)
    export = tmp_path / "export.csv"
    _write_export(export, 60)
    state = tmp_path / "export.csv.sync-state.json"
    cmd = [
        sys.executable,
        "-m",
        "infra.cli",
        "insurer",
        "sync",
        str(export),
        "--url",
        gw.url,
        "--token",
        token,
        "--batch-size",
        "5",
        "--no-progress",
    ]

    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )

    def batches_done():
        return len(state.read_text().splitlines()) - 1 if state.exists() else 0

    wait_until(lambda: batches_done() >= 3, timeout=60, what="three batches done")
    first.send_signal(signal.SIGKILL)  # interrupted mid-run
    first.wait(10)
    done_before = batches_done()
    assert done_before < 13, "the interruption must land before the end"

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1  # some rows were rejected
    out = second.stdout
    assert "62 policies from 122 rows" in out
    assert "rejected rows 122 policy S-BAD-DATES [422]: ends_on" in out
    assert "rejected rows 123 policy S-BAD-CODE [422]: equipment_codes.0" in out

    # The end state is exactly the file: every policy once, at version 1, with its elevators.
    h = {"Authorization": f"Bearer {token}"}
    for i in (0, 17, 59):
        p = gw.client.get(f"/v1/insurance/policies/S-{i:04d}", headers=h).json()
        assert p["version"] == 1
        assert [e["equipment_code"] for e in p["equipment"]] == [
            f"3110{i:05d}2014{j:05d}" for j in range(2)
        ]
    ending = gw.client.get("/v1/insurance/policies?ending_within=366", headers=h)
    # the clock is today's: these 2014 policies have ended, none is listed
    assert ending.status_code == 200

    third = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "already done" in third.stdout  # a rerun sends nothing again

    # Without the state file the same batches carry the same idempotency keys: the gateway
    # answers with the first responses and nothing is applied again.
    os.remove(state)
    fourth = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "60 created" in fourth.stdout, fourth.stdout
    # Other batches (other keys) reach the service: every policy is an unchanged replay.
    os.remove(state)
    fifth = subprocess.run(
        cmd[:-3] + ["--batch-size", "7", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "0 created, 0 superseded, 60 unchanged, 2 rejected" in fifth.stdout, fifth.stdout
    for i in (0, 59):
        p = gw.client.get(f"/v1/insurance/policies/S-{i:04d}", headers=h).json()
        assert p["version"] == 1  # nothing doubled


def test_public_reads_carry_an_etag_and_answer_304_when_unchanged(gw):
    url = "/v1/public/insurance/coverage?district=310110&on=2014-12-01"
    first = gw.client.get(url)
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public")
    again = gw.client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag
    other = gw.client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.json() == first.json()
