"""Credit demo data, loaded by ``infra.demo`` after licensing's (the registry names this
loader): quality events for the demo maintenance units in the current period (they were
licensed today), each unit with its own record: a clean one, one with complaints, one late to
entrapments and failing inspections, one with a liability accident (grades A, B, C, D). Event
ids are fixed per unit: loading again changes nothing.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
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
    credit = rpc.maintenance_credit
    now = Clock().now().astimezone(CHINA_STANDARD_TIME)
    # The demo units were licensed today: their facts fall in this period, up to today.
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
    return {"units": len(units), "quality_events": recorded, "grades": "".join(sorted(grades))}
