"""Insurance over HTTP: the gateway in this process, the insurance and licensing services as
real processes, all on one test vhost."""

import csv
import os
import random
import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from infra.clock import today
from infra.identifiers import uscc_check_character
from infra.testing import wait_until
from services.insurance.sync_client import COLUMNS
from services.licensing.examples import new_equipment_code, use_registration

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


def fresh_insurer() -> str:
    first17 = "91310000" + "".join(random.choice("0123456789ABCDEFGH") for _ in range(9))
    return first17 + uscc_check_character(first17)


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
        {"policy_no": "H-B2", **policy(5, premium="93.001")},
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
        # One policy a batch: 62 batches, so a kill after the third lands well before the
        # end however fast the machine (with 13 batches of 5 it once finished first).
        "--batch-size",
        "1",
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
    assert done_before < 62, "the interruption must land before the end"

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1  # some rows were rejected
    out = second.stdout
    assert "62 policies from 122 rows" in out
    assert "rejected row 122 policy S-BAD-DATES [422]: ends_on" in out
    assert "rejected row 123 policy S-BAD-CODE [422]: equipment_codes.0 (row 123)" in out

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
    # answers with the first responses and nothing is applied again, and the summary says so
    # (it used to count the first run's answers as created again).
    os.remove(state)
    fourth = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert (
        "62 policies from 122 rows: 0 created, 0 superseded, 0 unchanged, "
        "60 applied by an earlier run, 2 rejected" in fourth.stdout
    ), fourth.stdout
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


def test_sync_client_reads_an_excel_export_from_chinese_windows_and_reports_rows(gw, tmp_path):
    """A GBK file with a blank line, a row cut short, rows of one policy that disagree and
    enumerations in capitals: no traceback, rows by their line, the field that is wrong."""
    token = gw.token("insurer", uscc=fresh_insurer())
    holders = f"{OWNER}|浦东电梯业主|Owner|0.7;{CARE}|上海电梯维保|MAINTENANCE|0.3"
    fixed = ["Liability", "1000000", "800000.00", "93.00", "2014-07-01", "2015-06-30", holders]
    lines = [
        ",".join(COLUMNS),  # line 1
        ",".join(["GBK-1", "1", "ACTIVE", *fixed, new_equipment_code()]),  # line 2
        "",  # line 3: blank
        ",".join(["GBK-1", "1", "active", *fixed, new_equipment_code()]),  # line 4
        ",".join(["GBK-2", "1", "active", *fixed]),  # line 5: no equipment_code
        ",".join(["GBK-3", "1", "active", *fixed, new_equipment_code()]),  # line 6
        ",".join(["GBK-3", "2", "active", *fixed, new_equipment_code()]),  # line 7
    ]
    export = tmp_path / "导出.csv"
    export.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    cmd = [sys.executable, "-m", "infra.cli", "insurer", "sync", str(export), "--url", gw.url]
    run = subprocess.run(
        [*cmd, "--token", token, "--no-progress"], capture_output=True, text=True, timeout=120
    )
    out = run.stdout
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "导出.csv is not UTF-8: read as GB18030" in out
    assert "3 policies from 5 rows: 1 created, 0 superseded, 0 unchanged, 2 rejected" in out, out
    assert "rejected row 5 policy GBK-2: equipment_code: missing in row 5" in out, out
    assert "rejected rows 6,7 policy GBK-3: revision: row 7 says '2', row 6 says '1'" in out
    view = gw.client.get("/v1/insurance/policies/GBK-1", headers=gw.headers(token)).json()
    assert view["policyholders"][0]["name"] == "浦东电梯业主"
    assert (view["cover"], view["limits"]["per_accident"]) == ("liability", "1000000.00")

    again = subprocess.run(
        [*cmd, "--token", token, "--no-progress"], capture_output=True, text=True, timeout=120
    )
    assert "0 created, 0 superseded, 0 unchanged, 1 applied by an earlier run" in again.stdout


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


# --- what an insurer may read -----------------------------------------------------------------


def get(gw, token, url, **headers):
    return gw.client.get(url, headers=gw.headers(token, **headers))


def test_an_insurer_reads_only_elevators_it_insures_or_quotes_and_only_its_own_policies(
    gw, stack, tokens
):
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, "310104")
    assert put(gw, tokens["a"], "SC-A", policy(0, codes=[code])).status_code == 201
    assert put(gw, tokens["b"], "SC-B", policy(0, codes=[code])).status_code == 201
    coverage = f"/v1/insurance/equipment/{code}/coverage?on=2014-12-01"
    factors = f"/v1/insurance/equipment/{code}/premium-factors"

    mine = get(gw, tokens["a"], coverage)
    assert mine.status_code == 200, mine.text
    assert mine.json()["covered"] is True and mine.json()["covered_by_another_insurer"] is True
    assert [p["policy_no"] for p in mine.json()["policies"]] == ["SC-A"]
    officer = get(gw, tokens["officer"], coverage).json()
    assert {p["policy_no"] for p in officer["policies"]} == {"SC-A", "SC-B"}

    stranger = gw.token("insurer", uscc=fresh_insurer())
    assert get(gw, stranger, coverage).status_code == 404
    wait_until(lambda: get(gw, tokens["a"], factors).status_code == 200, what="the registration")
    assert get(gw, stranger, factors).status_code == 404

    valid_until = (today() + timedelta(days=30)).isoformat()
    quote = gw.client.post(
        "/v1/insurance/quotes",
        json={"equipment_codes": [code], "valid_until": valid_until},
        headers=gw.headers(stranger),
    )
    assert quote.status_code == 201, quote.text
    assert (quote.json()["equipment_codes"], quote.json()["valid_until"]) == ([code], valid_until)
    quoted = get(gw, stranger, coverage).json()
    assert quoted["covered"] is True and quoted["covered_by_another_insurer"] is True
    assert quoted["policies"] == []  # no competitor's policy number or dates
    assert get(gw, stranger, factors).json()["equipment_code"] == code


def test_a_quote_names_valid_elevators_and_lasts_at_most_90_days(gw, tokens):
    def declare(body):
        return gw.client.post("/v1/insurance/quotes", json=body, headers=gw.headers(tokens["a"]))

    too_long = declare(
        {
            "equipment_codes": [new_equipment_code()],
            "valid_until": (today() + timedelta(days=91)).isoformat(),
        }
    )
    assert too_long.status_code == 422 and set(too_long.json()["errors"]) == {"valid_until"}
    bad_code = declare({"equipment_codes": ["3110"], "valid_until": today().isoformat()})
    assert bad_code.status_code == 422 and set(bad_code.json()["errors"]) == {"equipment_codes.0"}
    officer = gw.client.post(
        "/v1/insurance/quotes",
        json={"equipment_codes": [new_equipment_code()], "valid_until": today().isoformat()},
        headers=gw.headers(tokens["officer"]),
    )
    assert officer.status_code == 403


@pytest.mark.parametrize("code", ["311000009201400", "31100000920140000X", "9" * 18])
def test_an_invalid_equipment_code_is_422_on_equipment_code(gw, tokens, code):
    for token, what in ((tokens["officer"], "coverage"), (tokens["a"], "premium-factors")):
        r = get(gw, token, f"/v1/insurance/equipment/{code}/{what}")
        assert r.status_code == 422, r.text
        assert set(r.json()["errors"]) == {"equipment_code"}


def test_a_legacy_code_and_the_unit_code_match_each_other(gw, tokens):
    """A unit registered through its application with a legacy 20-digit code: a policy that
    names the legacy code matches it, and it reads covered under either code."""
    code = new_equipment_code()
    legacy = f"3100310104201403{random.randrange(10000):04d}"
    admin = gw.headers(gw.token("city_admin"))
    body = use_registration(fresh_insurer(), code, in_ftz=False, district="310104")
    body["subject"]["legacy_code"] = legacy
    app = gw.client.post("/v1/applications", json=body, headers=admin)
    assert app.status_code == 201, app.text
    base = f"/v1/applications/{app.json()['id']}"
    assert gw.client.post(f"{base}/accept", json={}, headers=admin).status_code == 200
    approved = gw.client.post(f"{base}/approve", json={"opinion": "ok"}, headers=admin)
    assert approved.status_code == 200, approved.text

    assert put(gw, tokens["a"], "LEG-1", policy(0, codes=[legacy])).status_code == 201

    def matched():
        view = get(gw, tokens["a"], "/v1/insurance/policies/LEG-1").json()
        return view["equipment"][0]["match"] == "registered" and view["equipment"][0]

    entry = wait_until(matched, what="the legacy code to match the registration")
    assert entry["registered_as"] == code
    for asked in (code, legacy):
        r = get(gw, tokens["officer"], f"/v1/insurance/equipment/{asked}/coverage?on=2014-12-01")
        assert r.json()["covered"] is True, (asked, r.text)


# --- pages, versions and tags -------------------------------------------------------------------


def test_the_list_of_policies_ending_comes_in_pages(gw):
    insurer = gw.token("insurer", uscc=fresh_insurer())
    starts = (today() - timedelta(days=300)).isoformat()
    for i in range(7):
        ends = (today() + timedelta(days=1 + i % 3)).isoformat()
        body = policy(0, starts_on=starts, ends_on=ends)
        assert put(gw, insurer, f"PG-{i}", body).status_code == 201
    seen, url = [], "/v1/insurance/policies?ending_within=5&limit=3"
    while True:
        page = get(gw, insurer, url)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 3
        seen += [p["policy_no"] for p in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        url = f"/v1/insurance/policies?ending_within=5&limit=3&cursor={cursor}"
    assert sorted(seen) == [f"PG-{i}" for i in range(7)] and len(seen) == 7
    forged = get(gw, insurer, "/v1/insurance/policies?ending_within=5&cursor=abc.def")
    assert forged.status_code == 422 and set(forged.json()["errors"]) == {"cursor"}
    too_many = get(gw, insurer, "/v1/insurance/policies?ending_within=5&limit=501")
    assert too_many.status_code == 422 and set(too_many.json()["errors"]) == {"limit"}


def test_a_push_with_if_match_naming_another_version_is_412_and_changes_nothing(gw, tokens):
    created = put(gw, tokens["a"], "IFM-1", policy(0))
    tag = created.headers["ETag"]
    assert tag.startswith('"1-')
    refused = put(gw, tokens["a"], "IFM-1", policy(0, revision=2), **{"If-Match": '"2"'})
    assert refused.status_code == 412, refused.text
    assert get(gw, tokens["a"], "/v1/insurance/policies/IFM-1").json()["revision"] == 1
    done = put(gw, tokens["a"], "IFM-1", policy(0, revision=2), **{"If-Match": tag})
    assert done.status_code == 200 and done.json()["version"] == 2
    assert done.headers["ETag"].startswith('"2-')
    late = put(gw, tokens["a"], "IFM-1", policy(0, revision=3), **{"If-Match": '"1"'})
    assert late.status_code == 412
    assert (
        put(gw, tokens["a"], "IFM-1", policy(0, revision=3), **{"If-Match": '"2"'}).status_code
        == 200
    )


def test_a_policy_read_carries_its_tag_and_answers_304_until_it_or_its_match_changes(
    gw, stack, tokens
):
    code = new_equipment_code()
    assert put(gw, tokens["a"], "TAG-1", policy(0, codes=[code])).status_code == 201
    url = "/v1/insurance/policies/TAG-1"
    first = get(gw, tokens["a"], url)
    tag = first.headers["ETag"]
    again = get(gw, tokens["a"], url, **{"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    # the elevator is registered: the body changes without a new version, and so does the tag
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, "310104")
    wait_until(
        lambda: get(gw, tokens["a"], url, **{"If-None-Match": tag}).status_code == 200,
        what="the registration to change the policy's representation",
    )
    matched = get(gw, tokens["a"], url, **{"If-None-Match": tag})
    assert matched.json()["equipment"][0]["match"] == "registered"
    assert matched.json()["version"] == 1 and matched.headers["ETag"] != tag


# --- what a push may hold -----------------------------------------------------------------------


def test_a_batch_item_whose_policy_number_is_not_text_is_refused_alone(gw, tokens):
    items = [
        {"policy_no": ["NT-1"], **policy(0)},
        {"policy_no": {"no": "NT-2"}, **policy(0)},
        {"policy_no": "NT-3", **policy(0)},
    ]
    r = gw.client.post(
        "/v1/insurance/policies:batch", json={"policies": items}, headers=gw.headers(tokens["a"])
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [422, 422, 201]
    assert [x["policy_no"] for x in results] == [None, None, "NT-3"]
    assert all(set(x["errors"]) == {"policy_no"} for x in results[:2])


@pytest.mark.parametrize("revision", [2**31, 2**63, 2**63 - 1, 0])
def test_a_revision_beyond_what_the_store_holds_is_422(gw, tokens, revision):
    r = put(gw, tokens["a"], "REV-1", policy(0, revision=revision))
    assert r.status_code == 422 and set(r.json()["errors"]) == {"revision"}, r.text


def test_an_identical_replay_written_otherwise_is_unchanged(gw, tokens):
    codes = [new_equipment_code(), new_equipment_code()]
    body = policy(0, codes=codes, premium="5000000")
    created = put(gw, tokens["a"], "CAN-1", body)
    assert created.status_code == 201 and created.json()["premium"] == "5000000.00"
    again = policy(0, codes=list(reversed(codes)), premium="5000000.00")
    again["policyholders"][1]["share"] = "0.3"
    replay = put(gw, tokens["a"], "CAN-1", again)
    assert replay.status_code == 200 and replay.json() == created.json()
