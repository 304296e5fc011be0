"""Commands over the API: the city bureau's manual listings, a unit's credit-repair
applications, the bureau's re-inspections and decisions; and the terms a listing lasts."""

from __future__ import annotations

import os
from datetime import datetime

from infra import errors
from infra.clock import local_date
from infra.repository import Repository
from infra.schemas import load
from services.blacklist import schemas
from services.blacklist.domain import (
    ApplyForRepair,
    DecideRepair,
    ListUnit,
    RecordReinspection,
    Terms,
    Unit,
    uscc_of,
)
from services.blacklist.reads import application_view, listing_view


def terms_from_environment() -> Terms:
    """``SESP_BLACKLIST_MANAGEMENT_YEARS`` (1) and ``SESP_BLACKLIST_PUBLICATION_YEARS`` (3)."""
    return Terms(
        management_years=int(os.environ.get("SESP_BLACKLIST_MANAGEMENT_YEARS", "1")),
        publication_years=int(os.environ.get("SESP_BLACKLIST_PUBLICATION_YEARS", "3")),
    )


def list_manually(
    repo: Repository, now: datetime, terms: Terms, body: dict, command_id: str | None
) -> dict:
    """A listing by the city bureau; the same decision number lists the unit once."""
    data = load(schemas.ManualListingIn, body, "listing")
    today = local_date(now)
    listed_on = data.get("listed_on") or today
    if listed_on > today:
        raise errors.Invalid("invalid listing", {"listed_on": ["must not be in the future"]})
    uscc = data["uscc"]
    unit = repo.load(Unit, uscc)
    command = ListUnit(
        actor=repo.actor,
        uscc=uscc,
        list=data["list"],
        cause=f"manual:{data['decision_no']}",
        reason=data["reason"],
        legal_basis=data["legal_basis"],
        authority=data["authority"],
        decision_no=data["decision_no"],
        listed_on=listed_on,
        name=data["name"],
        district=data["district"],
    )
    events = repo.decide_and_save(uscc, unit, command, now, terms, command_id=command_id)
    listing = next(x for x in unit.listings if x.cause == command.cause)
    # status 201: listed now; 200: this decision listed the unit already
    return {**listing_view(unit, listing), "version": unit.version, "created": bool(events)}


def apply_for_repair(
    repo: Repository,
    now: datetime,
    listing_id: str,
    body: dict,
    uscc: str | None,
    command_id: str | None,
) -> dict:
    """A unit's application for credit repair of one of its listings (``uscc``: the unit
    asking; another unit's listing is refused as forbidden)."""
    data = load(schemas.RepairApplicationIn, body, "repair application")
    unit = _unit_of(repo, listing_id, "listing")
    if uscc is not None and uscc != unit.uscc:
        raise errors.Forbidden(f"listing {listing_id} is another unit's")
    command = ApplyForRepair(actor=repo.actor, listing_id=listing_id, **data)
    repo.decide_and_save(unit.uscc, unit, command, now, command_id=command_id)
    app = [a for a in unit.applications if a.listing_id == listing_id][-1]
    return {**application_view(app), "version": unit.version}


def record_reinspection(
    repo: Repository, now: datetime, application_id: str, body: dict, command_id: str | None
) -> dict:
    data = load(schemas.ReinspectionIn, body, "re-inspection")
    unit = _unit_of(repo, application_id, "repair application")
    command = RecordReinspection(
        actor=repo.actor,
        application_id=application_id,
        passed=data["passed"],
        findings=data["findings"],
        inspected_on=data.get("inspected_on") or local_date(now),
    )
    repo.decide_and_save(unit.uscc, unit, command, now, command_id=command_id)
    return {**application_view(unit.application(application_id)), "version": unit.version}


def decide_repair(
    repo: Repository, now: datetime, application_id: str, body: dict, command_id: str | None
) -> dict:
    data = load(schemas.RepairDecisionIn, body, "decision")
    unit = _unit_of(repo, application_id, "repair application")
    command = DecideRepair(actor=repo.actor, application_id=application_id, **data)
    repo.decide_and_save(unit.uscc, unit, command, now, command_id=command_id)
    app = unit.application(application_id)
    listing = unit.listing(app.listing_id)
    return {
        **application_view(app),
        "listing": listing_view(unit, listing),
        "version": unit.version,
    }


def _unit_of(repo: Repository, object_id: str, what: str) -> Unit:
    unit = repo.load(Unit, uscc_of(object_id))
    known = (
        any(x.id == object_id for x in unit.listings)
        if what == "listing"
        else any(a.id == object_id for a in unit.applications)
    )
    if not known:
        raise errors.NotFound(f"{what} {object_id} not found")
    return unit
