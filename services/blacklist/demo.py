"""Blacklist demo data, loaded by ``infra.demo`` after the credit service's (the registry
names this loader), at real time.

The automatic listings come from the credit service's events: the demo's history finalizes
an evaluation with a final D (``services/maintenance_credit/demo.py``), which this service
hears of and lists. This loader waits for those listings, then records the city bureau's
serious-violation listing of the sixth demo unit for its forged maintenance records, decided
on 10 March after the evaluated year (the day the credit demo records that fact; today when
there was no history). The decision number is fixed: loading again lists nothing more.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from infra.clock import CHINA_STANDARD_TIME
from infra.demo import history_start

DECISION_NO = "沪市监特设〔{year}〕12号"


def load_demo(rpc: Any, wait_seconds: float = 60) -> dict[str, Any]:
    credit, blacklist = rpc.maintenance_credit, rpc.blacklist
    final_d = {u["uscc"] for u in credit.public_credit({"grade": "D"}, 501)}
    deadline = time.monotonic() + wait_seconds
    while not final_d <= {x["uscc"] for x in blacklist.public_blacklist({}, 501)}:
        if time.monotonic() > deadline:
            raise RuntimeError("the final D units are not listed yet")  # tried again
        time.sleep(0.5)
    units = credit.list_units(50)
    if len(units) < 6:
        return {"automatic": len(final_d), "manual": 0}
    today = datetime.now(CHINA_STANDARD_TIME).date()
    year = history_start(today).year + 1
    listed_on = date(year, 3, 10) if final_d else today
    unit = units[5]
    listing = blacklist.list_unit(
        {
            "uscc": unit["uscc"],
            "name": unit["name"],
            "district": unit["district"],
            "list": "serious_violation",
            "reason": "forged maintenance records: visits signed for 12 elevators that "
            "nobody maintained",
            "legal_basis": "Special Equipment Safety Law of the PRC; Shanghai rules on the "
            "serious-violation list (严重违法失信名单)",
            "authority": "SH",
            "decision_no": DECISION_NO.format(year=listed_on.year),
            "listed_on": listed_on.isoformat(),
        },
        command_id="demo-listing-serious-violation",
    )
    return {"automatic": len(final_d), "manual": 1, "listed_on": listing["listed_on"]}
