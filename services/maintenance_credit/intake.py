"""Who is scored, and who maintains which elevator: licensing's events, recorded as this
service's own (``Unit``, ``Elevator``) under ids derived from licensing's event ids, so a
redelivered event stores nothing.

- ``LicenceIssued`` with ``elevator:maintenance`` in its scope makes the holder a maintenance
  unit; the licence's renewal, suspension, reinstatement, revocation and expiry follow it
  (an expired licence is a veto fact).
- ``EquipmentRegistered`` of an elevator (class 3) names its maintenance unit from the day it
  was registered; ``EquipmentChanged`` carrying ``maintenance_unit_uscc`` changes it from the
  day of the change; suspension, resumption and cancellation change whether it is due
  maintenance.

From the blacklist's events: a ``UnitListed`` on the ``serious_violation`` list (the city
bureau's 严重违法失信名单) is a ``serious_violation_listed`` veto fact of the unit on the
listing's day (stream ``serious-listing-<listing id>``: ``SeriousViolationListed``, its fact
named ``listing-<listing id>``). Listings on the maintenance-quality list are not: the
credit service's own final D and triggers make those, and they must not come back as vetoes.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from infra import domain
from infra.bus.incoming import IncomingEvent
from infra.clock import local_date
from infra.eventstore import NewEvent
from infra.places import licensed_unit_district
from infra.repository import Repository
from services.blacklist.schemas import validate_event as validate_blacklist_event
from services.licensing.schemas.events import validate_event
from services.maintenance_credit import standings
from services.maintenance_credit.domain import (
    Elevator,
    ElevatorRegistered,
    ElevatorStatusChanged,
    MaintainerChanged,
    Unit,
    UnitLicenceChanged,
    UnitLicensed,
)
from services.maintenance_credit.projections import (
    READ_MODELS,
    SERIOUS_LISTING,
    SERIOUS_LISTING_PREFIX,
    credit_licences,
)

log = logging.getLogger("sesp.maintenance_credit")

MAINTENANCE_SCOPE = "elevator:maintenance"
ELEVATOR_CLASS = "3"
# licensing's event -> (licence status, the data field with its day)
LICENCE_STATUS = {
    "LicenceRenewed": ("active", "renewed_on"),
    "LicenceSuspended": ("suspended", "suspended_on"),
    "LicenceReinstated": ("active", "reinstated_on"),
    "LicenceRevoked": ("revoked", "revoked_on"),
    "LicenceExpired": ("expired", "expired_on"),
}
EQUIPMENT_STATUS = {
    "EquipmentSuspended": "suspended",
    "EquipmentResumed": "registered",
    "EquipmentCancelled": "cancelled",
}
USED = {"LicenceIssued", "EquipmentRegistered", "EquipmentChanged"} | set(LICENCE_STATUS)
USED |= set(EQUIPMENT_STATUS)


def observe(repo: Repository, event: IncomingEvent, now: datetime | None = None) -> bool:
    """Record what ``event`` tells the credit service; False when it tells it nothing. A
    licence's expiry (a veto) updates the unit's standing as of ``now``."""
    if event.type not in USED:
        return False
    problems = validate_event(event.type, event.data)
    if problems:
        # Not ours to fix, and retrying cannot help: say so and go on with the stream.
        log.warning("licensing %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    d = event.data
    stamp: domain.Stamp = {"at": event.occurred_at, "actor": domain.SYSTEM_ACTOR}
    event_id = domain.derived_id("observed", event.service, event.event_id)
    if event.type == "LicenceIssued":
        holder = d.get("holder") or {}
        if MAINTENANCE_SCOPE not in (d.get("scope") or []) or not holder.get("uscc"):
            return False
        fact: domain.Event = UnitLicensed(
            **stamp,
            uscc=holder["uscc"],
            name=holder.get("name") or holder["uscc"],
            licence_no=d["licence_no"],
            bureau=d["bureau"],
            valid_from=date.fromisoformat(d["valid_from"]),
            valid_until=_day(d.get("valid_until")),
            district=licensed_unit_district(holder, d["bureau"]),
        )
        return _save(repo, Unit, holder["uscc"], fact, event_id)
    if event.type in LICENCE_STATUS:
        licence_no = event.stream_id.removeprefix("licence-")
        uscc = repo.conn.execute(
            select(credit_licences.c.uscc).where(credit_licences.c.licence_no == licence_no)
        ).scalar()
        if uscc is None:  # not a maintenance licence
            return False
        status, day_field = LICENCE_STATUS[event.type]
        fact = UnitLicenceChanged(
            **stamp,
            licence_no=licence_no,
            status=status,
            changed_on=_day(d.get(day_field)) or local_date(event.occurred_at),
            valid_until=_day(d.get("valid_until")),
        )
        saved = _save(repo, Unit, uscc, fact, event_id)
        if saved and status == "expired" and now is not None:
            standings.refresh(repo, now, [uscc])
        return saved
    code = d.get("equipment_code") or ""
    if not code.startswith(ELEVATOR_CLASS):
        return False
    if event.type == "EquipmentRegistered":
        fact = ElevatorRegistered(
            **stamp,
            equipment_code=code,
            district=d["district"],
            maintenance_unit_uscc=d.get("maintenance_unit_uscc"),
            registered_on=date.fromisoformat(d["registered_on"]),
        )
        return _save(repo, Elevator, code, fact, event_id)
    elevator = repo.load(Elevator, code)
    if not elevator.exists:  # a unit this service never saw registered (not an elevator)
        return False
    if event.type == "EquipmentChanged":
        if "maintenance_unit_uscc" not in d:
            return False
        fact = MaintainerChanged(
            **stamp,
            maintenance_unit_uscc=d.get("maintenance_unit_uscc"),
            changed_on=date.fromisoformat(d["changed_on"]),
        )
    else:
        fact = ElevatorStatusChanged(**stamp, status=EQUIPMENT_STATUS[event.type])
    return _save(repo, Elevator, code, fact, event_id, elevator)


SERIOUS_VIOLATION = "serious_violation"  # the blacklist's list that vetoes


def observe_blacklist(repo: Repository, event: IncomingEvent, now: datetime | None = None) -> bool:
    """Record a serious-violation listing as a veto fact (once per listing: a redelivered
    event, or the same listing told again, stores nothing); False when ``event`` tells the
    credit service nothing. The unit's standing is brought up to date as of ``now``."""
    if event.type != "UnitListed":
        return False
    problems = validate_blacklist_event(event.type, event.data)
    if problems:
        log.warning("blacklist %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    uscc, listing = event.data["uscc"], event.data["listing"]
    if listing.get("list") != SERIOUS_VIOLATION:
        return False
    try:
        listing_id, listed_on = str(listing["id"]), date.fromisoformat(listing["listed_on"])
    except (KeyError, TypeError, ValueError):
        log.warning("blacklist %s %s names no listing id or day", event.type, event.event_id)
        return False
    stream = SERIOUS_LISTING_PREFIX + listing_id
    if repo.uow.read_stream(stream):
        return False
    content = {
        "uscc": uscc,
        "listing_id": listing_id,
        "listed_on": listed_on.isoformat(),
        "decision_no": listing.get("decision_no"),
        "authority": listing.get("authority"),
        "legal_basis": listing.get("legal_basis"),
        "source_event_id": event.event_id,
    }
    event_id = domain.derived_id("observed", event.service, event.event_id)
    stored = repo.uow.append(
        stream,
        0,
        [NewEvent(SERIOUS_LISTING, content, event_id=event_id, occurred_at=event.occurred_at)],
        repo.meta,
    )
    for ev in stored:
        READ_MODELS.project_fact(repo.conn, ev)
    if stored and now is not None:
        standings.refresh(repo, now, [uscc])
    return bool(stored)


def _save(
    repo: Repository,
    cls: type,
    key: str,
    fact: domain.Event,
    event_id: str,
    aggregate: Any = None,
) -> bool:
    aggregate = aggregate if aggregate is not None else repo.load(cls, key)
    return bool(repo.save(key, aggregate, [fact], [event_id]))


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None
