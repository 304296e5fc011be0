"""Credit demo data, loaded by ``infra.demo`` after licensing's (the registry names both
loaders).

The demo's past (``load_history``, with the demo's clock, ``infra.demo.DemoClock``): from the
day the units were licensed (2 January of the evaluated year, last year) up to today, the
half-monthly maintenance of every demo elevator through the batch command, a few windows
missed (the sweep records them), each unit's quality events of the evaluated year (a clean
unit, one with complaints, one late to entrapments and failing inspections, one with a
liability accident, two lighter ones: grades A, B, C, D), a passenger's complaint verified
and one dismissed. Early in the next year the city publishes the evaluation, two units
appeal a deduction each (one overturned, one upheld), and once the objection period is over
the evaluation is finalized: the final D lists its unit on the public blacklist (the
blacklist service hears of it). In March the sixth unit is found to have forged maintenance
records.

At real time (``load_demo``): quality events of the current period for each unit, with the
same four profiles (the current grades A, B, C, D), light records for the others, and a
complaint still to be decided. Event ids and command ids are fixed: loading again changes
nothing.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from infra.clock import CHINA_STANDARD_TIME, Clock

# What happens to the n-th demo unit (by credit code), as quality events: (type, details,
# how many). Units beyond the profiles get a light random record.
PROFILES: list[list[tuple[str, dict, int]]] = [
    [],
    [("complaint_verified", {}, 6), ("duty_phone_unanswered", {}, 1)],
    [
        ("entrapment", {"arrival_minutes": 45, "area": "central"}, 2),
        ("inspection_result", {"passed": True, "first_attempt": True}, 8),
        ("inspection_result", {"passed": False, "first_attempt": True}, 2),
        ("complaint_verified", {}, 2),
    ],
    [("accident", {"liability": True}, 1), ("complaint_verified", {}, 1)],
]
ABOUT_AN_ELEVATOR = {"entrapment", "inspection_result", "fault"}
DEMO_ELEVATOR = "311000000201400001"


def _units(credit: Any, wait_seconds: float = 60) -> list[dict]:
    """The units the credit service has learnt of from licensing (it catches up on start):
    once there are some and a second brings no more."""
    deadline, seen = time.monotonic() + wait_seconds, -1
    while True:
        units = credit.list_units(500)
        if (units and len(units) == seen) or time.monotonic() > deadline:
            return units
        seen = len(units)
        time.sleep(1)


def load_demo(rpc: Any, seed: int = 2014) -> dict[str, Any]:
    """The current period's facts, at real time (see the module)."""
    credit = rpc.maintenance_credit
    now = Clock().now().astimezone(CHINA_STANDARD_TIME)
    # Facts of this period, up to today.
    days_so_far = now.timetuple().tm_yday - 1
    rng = random.Random(seed)
    recorded = 0
    units = _units(credit)
    grades = []
    for n, unit in enumerate(units):
        profile = (
            PROFILES[n] if n < len(PROFILES) else [("complaint_verified", {}, rng.randint(0, 3))]
        )
        i = 0
        for kind, details, count in profile:
            for _ in range(count):
                i += 1
                day = now - timedelta(days=(i * 3) % (days_so_far + 1), hours=1)
                body = {
                    "event_id": f"demo-{unit['uscc']}-{i}",
                    "unit_uscc": unit["uscc"],
                    "type": kind,
                    "occurred_at": day.isoformat(),
                    "details": details,
                }
                if kind in ABOUT_AN_ELEVATOR:
                    body["equipment_code"] = DEMO_ELEVATOR
                recorded += credit.record_quality_event(body)["status"] == 201
        grades.append(credit.unit_credit(unit["uscc"])["grade"])
    return {
        "units": len(units),
        "quality_events": recorded,
        "grades": "".join(sorted(grades)),
        "complaints": _received_complaint(rpc, now),
    }


def _complaint(credit: Any, n: int, code: str, what: str, occurred: datetime, **kw) -> str:
    body = {"equipment_code": code, "what": what, "occurred_at": occurred.isoformat(), **kw}
    return credit.submit_complaint(body, command_id=f"demo-complaint-{n}")["reference"]


def _received_complaint(rpc: Any, now: datetime) -> int:
    """A passenger's complaint of yesterday, not decided yet (with a contact, which only the
    officers read)."""
    page = rpc.licensing.list_equipment({}, 3)
    if not page:
        return 0
    _complaint(
        rpc.maintenance_credit,
        3,
        page[-1]["equipment_code"],
        "The doors close too fast and hit my child's pram.",
        now - timedelta(days=1),
        contact="phone 021-5550-0133 (evenings)",
    )
    return 1


# --- the demo's past --------------------------------------------------------------------------

CADENCE_DAYS = 14  # every elevator maintained every 14 days (the rule: at least every 15)
AT = clock_time(10)  # the platform's clock stands at 10:00 on each day the history acts
# The evaluated year of the n-th demo unit (by credit code): quality events (type, details,
# how many), the maintenance windows it misses, and its appeal (rule, outcome, grounds).
HISTORY: list[dict[str, Any]] = [
    {"events": [("inspection_result", {"passed": True, "first_attempt": True}, 6)], "misses": 1},
    {
        "events": [("complaint_verified", {}, 4), ("duty_phone_unanswered", {}, 1)],
        "misses": 2,
        "appeal": (
            "duty_phone_unanswered",
            "upheld",
            "The duty phone was diverted to a mobile that night; the call log shows it rang.",
            "The call log shows 14 rings and no answer: the diversion does not excuse it.",
        ),
    },
    {
        "events": [
            ("entrapment", {"arrival_minutes": 45, "area": "central"}, 3),
            ("inspection_result", {"passed": True, "first_attempt": True}, 8),
            ("inspection_result", {"passed": False, "first_attempt": True}, 2),
            ("complaint_verified", {}, 1),
        ],
        "misses": 0,
        "appeal": (
            "late_entrapment_arrival",
            "overturned",
            "The technician reached the site in 25 minutes; the call centre logged the arrival "
            "when the report was written.",
            "The building's gate log confirms arrival 25 minutes after the call.",
        ),
    },
    {"events": [("accident", {"liability": True}, 1), ("complaint_verified", {}, 1)], "misses": 3},
    {
        "events": [
            ("complaint_verified", {}, 1),
            ("inspection_result", {"passed": True, "first_attempt": True}, 4),
        ],
        "misses": 1,
    },
    {
        "events": [
            ("entrapment", {"arrival_minutes": 75, "area": "outer"}, 1),
            ("complaint_verified", {}, 2),
        ],
        "misses": 0,
    },
]
FORGED = "forged_record"  # the sixth unit's fact in March of the next year


def _maintained(lic: Any) -> dict[str, list[str]]:
    """The codes of the elevators each unit maintains, from licensing's register."""
    out: dict[str, list[str]] = defaultdict(list)
    after = None
    while page := lic.list_equipment({}, 500, after):
        for eq in page:
            if eq.get("maintenance_unit_uscc"):
                out[eq["maintenance_unit_uscc"]].append(eq["equipment_code"])
        after = [page[-1]["equipment_code"]]
    return dict(out)


def _knows_contracts(credit: Any, maintained: dict[str, list[str]]) -> bool:
    try:
        return all(
            credit.unit_credit(uscc)["elevators"] == len(codes)
            for uscc, codes in maintained.items()
        )
    except Exception:  # a unit licensing has not told it of yet
        return False


def _wait(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo history: {what} within {seconds:.0f} s")
        time.sleep(0.5)


def _maintain(credit: Any, batches: dict[str, list[dict]]) -> int:
    """Record each unit's batch (the units' batches at once); send again what a concurrent
    sweep made the service refuse."""
    accepted = 0
    for _ in range(20):
        replies = {
            uscc: credit.record_maintenance.call_async(uscc, {"records": records})
            for uscc, records in batches.items()
            if records
        }
        again: dict[str, list[dict]] = {}
        for uscc, reply in replies.items():
            result = reply.result()
            accepted += result["accepted"] + result["duplicates"]
            if result["rejected"]:
                refused = {r["index"] for r in result["rejected"]}
                again[uscc] = [rec for i, rec in enumerate(batches[uscc]) if i in refused]
        if not again:
            return accepted
        batches = again
        time.sleep(0.2)
    raise RuntimeError(f"demo history: maintenance records refused: {again}")


def load_history(rpc: Any, clock: Any) -> dict[str, Any]:
    """The demo's past: see the module. Needs the demo's clock (skipped at real time)."""
    if not clock.movable:
        return {"skipped": "no clock of its own"}
    credit, lic = rpc.maintenance_credit, rpc.licensing
    period = clock.start.year
    first = clock.now().date()
    today = datetime.now(CHINA_STANDARD_TIME).date()
    maintained = _maintained(lic)
    _wait(lambda: _knows_contracts(credit, maintained), "the credit service learns the contracts")
    usccs = sorted(maintained)
    plan: dict[date, list[Callable[[datetime], None]]] = defaultdict(list)
    done: dict[str, Any] = defaultdict(int)

    # Maintenance every CADENCE_DAYS days up to today, less the windows each unit misses
    # (one elevator skips one visit: one window missed, in the evaluated year).
    skips = {
        (usccs[n], maintained[usccs[n]][i], 3 + 5 * i + n)
        for n, profile in enumerate(HISTORY[: len(usccs)])
        for i in range(profile["misses"])
    }

    def maintain(k: int, day: date) -> Callable[[datetime], None]:
        def act(now: datetime) -> None:
            batches = {
                uscc: [
                    {
                        "record_id": f"demo-{code}-{day.isoformat()}",
                        "equipment_code": code,
                        "performed_on": day.isoformat(),
                        "type": "half_monthly",
                    }
                    for code in maintained[uscc]
                    if (uscc, code, k) not in skips
                ]
                for uscc in usccs
            }
            done["maintenance_records"] += _maintain(credit, batches)
            if k % 4 == 3:  # the service's timer sweeps too, every minute of real time
                credit.sweep_now()

        return act

    k = 0
    while (day := first + timedelta(days=CADENCE_DAYS * k)) <= today:
        plan[day].append(maintain(k, day))
        k += 1

    def fact(uscc: str, i: int, kind: str, details: dict, code: str) -> Callable:
        def act(now: datetime) -> None:
            body = {
                "event_id": f"demo-{period}-{uscc}-{i}",
                "unit_uscc": uscc,
                "type": kind,
                "occurred_at": (now - timedelta(hours=2)).isoformat(),
                "details": details,
            }
            if kind in ABOUT_AN_ELEVATOR:
                body["equipment_code"] = code
            done["quality_events"] += credit.record_quality_event(body)["status"] == 201

        return act

    for n, uscc in enumerate(usccs[: len(HISTORY)]):
        i = 0
        for kind, details, count in HISTORY[n]["events"]:
            for _ in range(count):
                day = first + timedelta(days=10 + (37 * i + 11 * n) % 330)
                code = maintained[uscc][i % len(maintained[uscc])]
                plan[day].append(fact(uscc, i, kind, details, code))
                i += 1

    # Passengers' complaints: one verified (a fact against the unit), one dismissed.
    def complain(n: int, uscc: str, what: str, outcome: str, reason: str) -> None:
        received = date(period, 5, 20) if outcome == "verified" else date(period, 9, 9)
        reference: list[str] = []

        def submit(now: datetime) -> None:
            code = maintained[uscc][5]
            reference.append(_complaint(credit, n, code, what, now - timedelta(hours=16)))

        def decide(now: datetime) -> None:
            credit.decide_complaint(
                reference[0],
                {"outcome": outcome, "reason": reason},
                None,
                command_id=f"demo-complaint-{n}-decision",
            )
            done["complaints"] += 1

        plan[received].append(submit)
        plan[received + timedelta(days=7)].append(decide)

    complain(
        1,
        usccs[1 % len(usccs)],
        "The car stopped between the 3rd and 4th floors twice this week; nobody answered the "
        "alarm button.",
        "verified",
        "The maintenance log shows the door operator was not adjusted at the last visit; "
        "confirmed on site.",
    )
    complain(
        2,
        usccs[0],
        "The lift was out of service all morning.",
        "dismissed",
        "The lift was stopped for its scheduled half-monthly maintenance, with a notice posted "
        "in the lobby.",
    )

    # The evaluation of the year: published, appealed, decided, finalized.
    evaluation = str(period)
    appeals: list[tuple[str, str, str]] = []

    def publish(now: datetime) -> None:
        while credit.sweep_now()["missed"]:  # every window of the year missed is recorded
            pass
        view = credit.publish_evaluation(
            {"period": evaluation}, command_id=f"demo-evaluation-{evaluation}"
        )
        until = date.fromisoformat(view["objection_until"])
        plan[until + timedelta(days=1)].append(finalize)

    def appeal(now: datetime) -> None:
        for n, uscc in enumerate(usccs[: len(HISTORY)]):
            if "appeal" not in HISTORY[n]:
                continue
            rule, outcome, grounds, reason = HISTORY[n]["appeal"]
            score = credit.unit_credit(uscc, date(period, 12, 31).isoformat())
            deduction = next(d for d in score["deductions"] if d["rule"] == rule)
            filed = credit.file_appeal(
                uscc,
                {"deduction_id": deduction["id"], "grounds": grounds},
                command_id=f"demo-appeal-{evaluation}-{n}",
            )
            appeals.append((filed["id"], outcome, reason))

    def decide(now: datetime) -> None:
        for appeal_id, outcome, reason in appeals:
            credit.decide_appeal(
                appeal_id,
                {"outcome": outcome, "reason": reason},
                None,
                command_id=f"demo-appeal-{appeal_id}-decision",
            )
            done[f"appeals_{outcome}"] += 1

    def finalize(now: datetime) -> None:
        view = credit.finalize_evaluation(evaluation, command_id=f"demo-final-{evaluation}")
        done["final"] = "".join(grade * count for grade, count in sorted(view["grades"].items()))

    plan[date(period + 1, 1, 12)].append(publish)
    plan[date(period + 1, 1, 14)].append(appeal)
    plan[date(period + 1, 1, 21)].append(decide)

    # The sixth unit's forged maintenance records, found in March (the city bureau lists it
    # on the serious-violation list: the blacklist's demo).
    if len(usccs) >= 6:
        forged = date(period + 1, 3, 10)
        plan[forged].append(
            fact(
                usccs[5],
                99,
                FORGED,
                {"note": "visits signed for 12 elevators that nobody maintained"},
                "",
            )
        )

    while plan:
        day = min(plan)
        if day > today:
            break
        now = clock.set(datetime.combine(day, AT, CHINA_STANDARD_TIME))
        for action in plan.pop(day):
            action(now)
    return {"period": evaluation, **done}
