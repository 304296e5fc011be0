"""Insurance through real service processes over RPC (HTTP tests go through the gateway)."""

import copy
import os
import random
import subprocess
import sys

import pytest

from infra.errors import Invalid, NotFound, Stale, register_remote_errors
from infra.identifiers import uscc_check_character
from infra.testing import wait_until

INSURER = "91350200776049653A"
OTHER_INSURER = "913502000728319549"
ELEVATOR = "311012345201400001"
LATE_ELEVATOR = "311012345201400002"
DISTRICT = "310151"
CLOCK = "2014-12-01T09:00:00+08:00"
SERVICES = ["licensing", "insurance"]

register_remote_errors()  # remote NotFound arrives as infra.errors.NotFound

POLICY = {
    "policy_no": "PA-2014-0001",
    "revision": 1,
    "policyholders": [
        {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "0.70"},
        {"uscc": "91440101MA5CJQ4N59", "name": "Lift Care", "role": "maintenance", "share": "0.30"},
    ],
    "equipment_codes": [ELEVATOR, LATE_ELEVATOR],
    "cover": "liability",
    "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
    "premium": "93.00",
    "starts_on": "2014-07-01",
    "ends_on": "2015-06-30",
    "status": "active",
}


def policy(**changes):
    p = copy.deepcopy(POLICY)
    p["equipment_codes"] = [ELEVATOR, LATE_ELEVATOR]
    p.update(changes)
    return p


@pytest.fixture(scope="module")
def shared_stack(module_stacks):
    """One pair of service processes for the module (tests keep apart by unique ids)."""
    return module_stacks(SERVICES, clock=CLOCK)


@pytest.fixture(scope="module")
def rpc(shared_stack):
    """A proxy to the module's shared processes."""
    with shared_stack.rpc() as proxy:
        yield proxy


@pytest.fixture
def own_stack(stacks):
    """Processes of this test alone: for tests that move the clock."""
    return stacks(SERVICES, clock=CLOCK)


def _fresh_uscc(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    first17 = "91310000" + "".join(rng.choice(alphabet) for _ in range(9))
    return first17 + uscc_check_character(first17)


@pytest.fixture(autouse=True)
def unique_ids(monkeypatch):
    """A fresh insurer and fresh elevators for every test (the processes are shared)."""
    rng = random.Random()
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "INSURER", _fresh_uscc(rng))
    monkeypatch.setattr(module, "OTHER_INSURER", _fresh_uscc(rng))
    maker = rng.randrange(100000)
    monkeypatch.setattr(module, "ELEVATOR", f"3110{maker:05d}201400001")
    monkeypatch.setattr(module, "LATE_ELEVATOR", f"3110{maker:05d}201400002")


def test_policy_sync_create_replay_stale_supersede_cancel(rpc):
    [created] = rpc.insurance.sync_policies(INSURER, [policy()])
    assert (created["status"], created["outcome"], created["version"]) == (201, "created", 1)

    [replayed] = rpc.insurance.sync_policies(INSURER, [policy()])
    assert (replayed["status"], replayed["outcome"], replayed["version"]) == (200, "unchanged", 1)

    [superseded] = rpc.insurance.sync_policies(INSURER, [policy(revision=3, premium="99.00")])
    assert (superseded["status"], superseded["version"]) == (200, 2)

    [stale] = rpc.insurance.sync_policies(INSURER, [policy(revision=2)])
    assert stale["status"] == 409 and "older" in stale["detail"]

    [same_rev_other] = rpc.insurance.sync_policies(INSURER, [policy(revision=3, premium="1.00")])
    assert same_rev_other["status"] == 409

    [cancelled] = rpc.insurance.sync_policies(INSURER, [policy(revision=4, status="cancelled")])
    assert cancelled["status"] == 200
    view = rpc.insurance.get_policy("PA-2014-0001", INSURER)
    assert (view["status"], view["revision"], view["premium"]) == ("cancelled", 4, "93.00")


def test_an_elevator_dropped_by_a_cancelling_revision_stays_uncovered(rpc):
    rpc.insurance.sync_policies(INSURER, [policy()])
    rpc.insurance.sync_policies(
        INSURER, [policy(revision=2, status="cancelled", equipment_codes=[ELEVATOR])]
    )
    # active again, naming only the elevator the cancelling revision kept
    rpc.insurance.sync_policies(INSURER, [policy(revision=3, equipment_codes=[ELEVATOR])])
    assert rpc.insurance.coverage(ELEVATOR, "2014-12-01")["covered"] is True
    assert rpc.insurance.coverage(LATE_ELEVATOR, "2014-12-01")["covered"] is False


def test_one_pushed_policy_refused_raises_its_kernel_error(rpc):
    rpc.insurance.sync_policy(INSURER, policy(revision=2))
    with pytest.raises(Stale, match="older"):
        rpc.insurance.sync_policy(INSURER, policy(revision=1))
    with pytest.raises(Invalid) as invalid:
        rpc.insurance.sync_policy(INSURER, policy(revision=3, ends_on="2014-01-01"))
    assert set(invalid.value.errors) == {"ends_on"}


def test_batch_mixing_valid_invalid_and_stale_policies(rpc):
    rpc.insurance.sync_policies(INSURER, [policy(policy_no="P-STALE", revision=5)])
    bad = policy(policy_no="P-BAD", ends_on="2014-01-01")
    bad["policyholders"][0]["share"] = "0.50"
    results = rpc.insurance.sync_policies(
        INSURER,
        [
            policy(policy_no="P-GOOD-1"),
            bad,
            policy(policy_no="P-STALE", revision=4),
            policy(policy_no="P-GOOD-2", equipment_codes=["3110123452099000019"]),
            policy(policy_no="P-GOOD-3"),
        ],
    )
    assert [r["status"] for r in results] == [201, 422, 409, 422, 201]
    assert set(results[1]["errors"]) == {"policyholders", "ends_on"}
    assert "equipment_codes.0" in results[3]["errors"]
    with pytest.raises(NotFound):
        rpc.insurance.get_policy("P-BAD", INSURER)


def test_an_insurer_cannot_read_another_insurers_policy(rpc):
    rpc.insurance.sync_policies(INSURER, [policy()])
    with pytest.raises(NotFound):
        rpc.insurance.get_policy("PA-2014-0001", OTHER_INSURER)


def test_policy_before_registration_becomes_matched_when_it_lands(rpc):
    rpc.licensing.register_equipment(ELEVATOR, "310104")
    wait_until(lambda: _registered(rpc, ELEVATOR), what="first registration to reach insurance")
    rpc.insurance.sync_policies(INSURER, [policy()])
    matches = {
        e["equipment_code"]: e["match"]
        for e in rpc.insurance.get_policy("PA-2014-0001", INSURER)["equipment"]
    }
    assert matches == {ELEVATOR: "registered", LATE_ELEVATOR: "pending"}

    rpc.licensing.register_equipment(LATE_ELEVATOR, "310104")
    wait_until(
        lambda: all(
            e["match"] == "registered"
            for e in rpc.insurance.get_policy("PA-2014-0001", INSURER)["equipment"]
        ),
        what="the pending elevator to be matched",
    )


def test_coverage_before_inside_and_after_the_period(rpc):
    rpc.insurance.sync_policies(INSURER, [policy()])
    assert rpc.insurance.coverage(ELEVATOR, "2014-06-30")["covered"] is False
    inside = rpc.insurance.coverage(ELEVATOR, "2014-07-01")
    assert inside["covered"] is True and inside["policies"][0]["policy_no"] == "PA-2014-0001"
    assert rpc.insurance.coverage(ELEVATOR, "2015-06-30")["covered"] is True
    assert rpc.insurance.coverage(ELEVATOR, "2015-07-01")["covered"] is False


def test_district_coverage_ratio(rpc):
    before = rpc.insurance.district_coverage(DISTRICT, "2014-12-01")
    codes = [ELEVATOR, LATE_ELEVATOR, ELEVATOR[:-1] + "3", ELEVATOR[:-1] + "4"]
    for code in codes:
        rpc.licensing.register_equipment(code, DISTRICT)
    wait_until(lambda: all(_registered(rpc, c) for c in codes), what="4 elevators")
    rpc.insurance.sync_policies(INSURER, [policy()])
    cov = rpc.insurance.district_coverage(DISTRICT, "2014-12-01")
    # other tests share the processes: compare with the district before this test
    assert cov["elevators"] - before["elevators"] == 4
    assert cov["covered"] - before["covered"] == 2
    assert cov["ratio"] == round(cov["covered"] / cov["elevators"], 4)


def test_reminder_three_days_before_the_end_then_lapse(own_stack):
    with own_stack.rpc() as rpc:
        rpc.insurance.sync_policies(INSURER, [policy()])
        own_stack.set_clock("2015-06-26T09:00:00+08:00")  # four days before the end: nothing yet
        assert rpc.insurance.sweep_now() == {"reminded": 0, "lapsed": 0}
        own_stack.set_clock("2015-06-27T09:00:00+08:00")  # three days before
        assert rpc.insurance.sweep_now() == {"reminded": 1, "lapsed": 0}
        assert rpc.insurance.sweep_now() == {"reminded": 0, "lapsed": 0}  # idempotent
        assert [p["policy_no"] for p in rpc.insurance.policies_ending(3)] == ["PA-2014-0001"]
        own_stack.set_clock("2015-06-30T23:00:00+08:00")  # last day: still covered
        assert rpc.insurance.sweep_now()["lapsed"] == 0
        own_stack.set_clock("2015-07-01T09:00:00+08:00")
        assert rpc.insurance.sweep_now() == {"reminded": 0, "lapsed": 1}
        assert rpc.insurance.get_policy("PA-2014-0001", INSURER)["status"] == "lapsed"
        # the period it covered stays covered for an accident investigation
        assert rpc.insurance.coverage(ELEVATOR, "2015-01-15")["covered"] is True


def test_premium_factors_before_any_credit_event(rpc):
    rpc.licensing.register_equipment(ELEVATOR, "310104")
    wait_until(lambda: _registered(rpc, ELEVATOR), what="registration")
    factors = rpc.insurance.premium_factors(ELEVATOR)
    assert factors["age_years"] == 0  # made in 2014, clock in 2014
    assert factors["credit_grade"] is None  # no final grade published
    assert (factors["faults_12m"], factors["entrapments_12m"]) == (0, 0)


def test_replay_rebuilds_the_same_read_models(own_stack):
    with own_stack.rpc() as rpc:
        rpc.licensing.register_equipment(ELEVATOR, "310104")
        wait_until(lambda: _registered(rpc, ELEVATOR), what="registration")
        rpc.insurance.sync_policies(INSURER, [policy(), policy(policy_no="P-2", revision=2)])
        rpc.insurance.sync_policies(INSURER, [policy(revision=2, equipment_codes=[ELEVATOR])])
        rpc.insurance.declare_quote(OTHER_INSURER, [LATE_ELEVATOR], "2014-12-31")
        own_stack.set_clock("2015-07-01T09:00:00+08:00")
        rpc.insurance.sweep_now()
        live = rpc.insurance.read_model_digest()
        assert set(live) >= {"quotes", "equipment_register", "policies"}
        assert rpc.insurance.replay()["events"] >= 6
        assert rpc.insurance.read_model_digest() == live


def test_bulk_sync_on_postgresql_replays_to_the_same_read_models(stacks):
    """A batch is written in bulk (events, policies, elevators: one statement each), unlike a
    replay, which folds event by event: both must give the same rows. On PostgreSQL, where
    the bulk statements take their own path."""
    stack = stacks(SERVICES, db="postgresql", clock=CLOCK)
    with stack.rpc() as rpc:
        holder = {"uscc": "9135021359498494XQ", "name": '电梯业主 "甲"\t', "role": "owner"}
        batch = [
            policy(policy_no=f"PG-{i}", equipment_codes=[f"31101234520140{i:04d}"])
            for i in range(30)
        ]
        batch[0]["policyholders"] = [{**holder, "share": "1"}]
        # the same policy twice in one batch: a later round supersedes the first
        batch.append(policy(policy_no="PG-0", revision=2, equipment_codes=[ELEVATOR]))
        results = rpc.insurance.sync_policies(INSURER, batch)
        assert [r["status"] for r in results] == [201] * 30 + [200]
        view = rpc.insurance.get_policy("PG-0", INSURER)
        assert (view["revision"], view["version"]) == (2, 2)
        again = rpc.insurance.sync_policies(INSURER, batch[1:])
        assert {r["outcome"] for r in again} == {"unchanged"}
        live = rpc.insurance.read_model_digest()
        assert rpc.insurance.replay()["events"] == 31
        assert rpc.insurance.read_model_digest() == live


def _registered(rpc, code):
    try:
        return rpc.insurance.equipment(code)
    except Exception:
        return None


def test_sesp_replay_rebuilds_a_running_service(own_stack):
    with own_stack.rpc() as rpc:
        rpc.insurance.sync_policies(INSURER, [policy(), policy(policy_no="P-9", revision=3)])
        out = subprocess.run(
            [sys.executable, "-m", "infra.cli", "replay", "insurance"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **own_stack.env},
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "rebuilt read models equal the live ones" in out.stdout
