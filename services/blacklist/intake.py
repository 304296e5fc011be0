"""What the blacklist takes from other services' events.

- The credit service (``maintenance_credit.events``, its published contract in
  ``services/maintenance_credit/schemas.py``): ``GradeFinalized`` with grade D lists the unit
  for that period; ``BlacklistTriggered`` for work beyond the licence scope (once per fact)
  or a first-pass rate under 60 % (once per period) lists it for that cause. Its
  ``BlacklistTriggered`` of a final D repeats the ``GradeFinalized`` it follows without the
  period, so the listing is made from ``GradeFinalized``.
- Licensing (``licensing.events``): a licence covering elevator maintenance names the unit
  and its district, as the public list shows them.

Each listing names the event that triggered it, and its events' ids derive from that event's
id: a redelivered event stores nothing (the same cause met again lists nothing either).
"""

from __future__ import annotations

import logging
from datetime import date

from infra import domain
from infra.bus.incoming import IncomingEvent
from infra.clock import local_date
from infra.places import licensed_unit_district
from infra.repository import Repository
from services.blacklist.domain import (
    AUTOMATIC_LEGAL_BASIS,
    AUTOMATIC_REASONS,
    CITY_BUREAU,
    MAINTENANCE_QUALITY,
    ListUnit,
    NameUnit,
    Terms,
    Unit,
)
from services.licensing.schemas.events import validate_event as validate_licensing_event
from services.maintenance_credit.schemas import validate_event as validate_credit_event

log = logging.getLogger("sesp.blacklist")

MAINTENANCE_SCOPE = "elevator:maintenance"


def observe_credit(repo: Repository, event: IncomingEvent, terms: Terms) -> bool:
    """List the unit when ``event`` is one of the credit service's blacklist facts."""
    if event.type not in ("GradeFinalized", "BlacklistTriggered"):
        return False
    problems = validate_credit_event(event.type, event.data)
    if problems:
        # Not ours to fix, and retrying cannot help: say so and go on with the stream.
        log.warning("credit %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    d = event.data
    day = local_date(event.occurred_at)
    if event.type == "GradeFinalized":
        if d["grade"] != "D":
            return False
        cause, reason = f"final_grade_d:{d['period']}", "final_grade_d"
        text = f"{AUTOMATIC_REASONS[reason]} for {d['period']}"
    else:
        reason = d["reason"]
        if reason == "final_grade_d":
            return False  # listed from the GradeFinalized it follows
        if reason == "first_pass_rate_below_60":
            cause = f"{reason}:{date.fromisoformat(d['occurred_on']).year}"
        else:
            cause = f"{reason}:{d['fact_id']}"
        text = AUTOMATIC_REASONS[reason]
    command = ListUnit(
        actor=domain.SYSTEM_ACTOR,
        uscc=d["uscc"],
        list=MAINTENANCE_QUALITY,
        cause=cause,
        reason=text,
        legal_basis=AUTOMATIC_LEGAL_BASIS,
        authority=CITY_BUREAU,
        decision_no=f"AUTO-{event.event_id}",
        listed_on=day,
        trigger_event_id=event.event_id,
    )
    return _decide(repo, d["uscc"], command, event, terms)


def observe_licensing(repo: Repository, event: IncomingEvent, terms: Terms) -> bool:
    """Name a maintenance unit from its licence (the name the public list shows)."""
    if event.type != "LicenceIssued":
        return False
    problems = validate_licensing_event(event.type, event.data)
    if problems:
        log.warning("licensing %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    d = event.data
    holder = d.get("holder") or {}
    if MAINTENANCE_SCOPE not in (d.get("scope") or []) or not holder.get("uscc"):
        return False
    command = NameUnit(
        actor=domain.SYSTEM_ACTOR,
        uscc=holder["uscc"],
        name=holder.get("name") or holder["uscc"],
        district=licensed_unit_district(holder, d["bureau"]),
    )
    return _decide(repo, holder["uscc"], command, event, terms)


def _decide(
    repo: Repository, uscc: str, command: domain.Command, event: IncomingEvent, terms: Terms
) -> bool:
    unit = repo.load(Unit, uscc)
    command_id = domain.derived_id("observed", event.service, event.event_id)
    now = event.occurred_at
    return bool(repo.decide_and_save(uscc, unit, command, now, terms, command_id=command_id))
