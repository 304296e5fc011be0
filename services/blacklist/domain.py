"""The blacklist's rules (DOMAIN.md "Public blacklist"): a maintenance unit's listings, its
applications for credit repair, and when a listing comes off. Pure: standard library and
``infra.domain`` only; time and the terms come in as arguments.

One aggregate per unit (``Unit``, stream ``unit-<uscc>``) holds every listing of the unit and
every repair application, so "the same cause lists once" and "a new bad record restarts the
management period of the unit's other listings" are decided on one stream.

- A listing is automatic (the credit service's final grade D, work beyond the licence scope,
  a first-pass rate under 60 %: each names the event that triggered it) or manual (the city
  bureau's serious-violation list: legal basis, authority and decision number). Its *cause*
  is its key: a cause met again lists nothing.
- Its management period ends ``Terms.management_years`` after listing (``earliest_removal_on``);
  a new listing of the unit inside that period restarts it from the new listing's day.
- The unit applies for credit repair; the city bureau re-inspects and decides. A granted
  repair removes the listing at the end of its management period (at once when it has
  ended). Publication ends ``Terms.publication_years`` after listing, repaired or not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from infra import domain
from infra.clock import local_date

MAINTENANCE_QUALITY = "maintenance_quality"
SERIOUS_VIOLATION = "serious_violation"
LISTS = (MAINTENANCE_QUALITY, SERIOUS_VIOLATION)
CITY_BUREAU = "SH"

# The credit service's triggers, as the public reads them.
AUTOMATIC_REASONS = {
    "final_grade_d": "final maintenance-quality credit grade D",
    "beyond_licence_scope": "maintenance work beyond the licence scope",
    "first_pass_rate_below_60": "first-pass inspection rate under 60 %",
}
AUTOMATIC_LEGAL_BASIS = (
    "Special Equipment Safety Law of the PRC; Shanghai elevator maintenance-quality credit "
    "evaluation rules"
)

# Why a listing came off.
CREDIT_REPAIRED = "credit_repaired"
PUBLICATION_ENDED = "publication_ended"


@dataclass(frozen=True)
class Terms:
    """How long a listing lasts (*configurable*: ``SESP_BLACKLIST_MANAGEMENT_YEARS``,
    ``SESP_BLACKLIST_PUBLICATION_YEARS``)."""

    management_years: int = 1
    publication_years: int = 3


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Listing:
    id: str
    list: str
    cause: str  # what it lists the unit for: one listing per cause
    reason: str
    legal_basis: str
    authority: str
    decision_no: str
    listed_on: date
    earliest_removal_on: date  # the end of the management period
    publication_ends_on: date
    trigger_event_id: str | None = None  # the credit service's event, for automatic listings
    status: str = "listed"  # listed | removed
    repair_granted_on: date | None = None
    removed_on: date | None = None
    removal_reason: str | None = None

    @property
    def listed(self) -> bool:
        return self.status == "listed"


@dataclass(frozen=True)
class Reinspection:
    passed: bool
    findings: str
    inspected_on: date
    actor: str


@dataclass(frozen=True)
class RepairApplication:
    id: str
    listing_id: str
    applied_on: date
    rectification: str
    status: str = "pending"  # pending | granted | denied
    reinspection: Reinspection | None = None
    decided_on: date | None = None
    reason: str | None = None


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NameUnit(domain.Command):
    uscc: str
    name: str
    district: str | None


@dataclass(frozen=True, kw_only=True)
class ListUnit(domain.Command):
    """List the unit for ``cause`` (nothing when it is listed for that cause already)."""

    uscc: str
    list: str
    cause: str
    reason: str
    legal_basis: str
    authority: str
    decision_no: str
    listed_on: date
    trigger_event_id: str | None = None
    name: str | None = None  # manual listings name the unit
    district: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApplyForRepair(domain.Command):
    listing_id: str
    rectification: str


@dataclass(frozen=True, kw_only=True)
class RecordReinspection(domain.Command):
    application_id: str
    passed: bool
    findings: str
    inspected_on: date


@dataclass(frozen=True, kw_only=True)
class DecideRepair(domain.Command):
    application_id: str
    outcome: str  # granted | denied
    reason: str


@dataclass(frozen=True, kw_only=True)
class RemoveDue(domain.Command):
    """The sweep's command: take off what is due today."""


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UnitNamed(domain.Event):
    """The unit's name and district as the public reads them (from its licence, or the
    city bureau's listing)."""

    uscc: str
    name: str
    district: str | None


@dataclass(frozen=True, kw_only=True)
class UnitListed(domain.Event):
    """The unit was put on a list for a cause."""

    uscc: str
    listing: Listing


@dataclass(frozen=True, kw_only=True)
class ManagementPeriodRestarted(domain.Event):
    """A new bad record fell inside a listing's management period: it ends later."""

    listing_id: str
    ends_on: date
    because_of: str  # the new listing


@dataclass(frozen=True, kw_only=True)
class RepairApplied(domain.Event):
    """The unit applied for credit repair of a listing, saying what it rectified."""

    application: RepairApplication


@dataclass(frozen=True, kw_only=True)
class ReinspectionRecorded(domain.Event):
    """The bureau re-inspected the unit for a repair application."""

    application_id: str
    reinspection: Reinspection


@dataclass(frozen=True, kw_only=True)
class RepairDecided(domain.Event):
    """The city bureau granted or denied a repair application."""

    application_id: str
    outcome: str
    reason: str
    decided_on: date


@dataclass(frozen=True, kw_only=True)
class ListingRemoved(domain.Event):
    """A listing came off: its credit repaired at the end of its management period, or its
    publication period over."""

    listing_id: str
    removed_on: date
    reason: str


EVENTS = domain.event_types(
    UnitNamed,
    UnitListed,
    ManagementPeriodRestarted,
    RepairApplied,
    ReinspectionRecorded,
    RepairDecided,
    ListingRemoved,
)


def uscc_of(listing_or_application_id: str) -> str:
    """The unit a listing (``<uscc>-<n>``) or application (``<uscc>-<n>-R<m>``) belongs to."""
    return listing_or_application_id.split("-", 1)[0]


# --- the aggregate --------------------------------------------------------------------------


@dataclass
class Unit(domain.Aggregate):
    kind_name = "unit"
    uscc: str = ""
    name: str = ""
    district: str | None = None
    listings: tuple[Listing, ...] = ()
    applications: tuple[RepairApplication, ...] = ()
    version: int = 0

    def decide(
        self, command: domain.Command, now: datetime, terms: Terms | None = None
    ) -> list[domain.Event]:
        terms = terms or Terms()
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        today = local_date(now)
        if isinstance(command, NameUnit):
            if (self.name, self.district) == (command.name, command.district):
                return []
            return [
                UnitNamed(**stamp, uscc=command.uscc, name=command.name, district=command.district)
            ]
        if isinstance(command, ListUnit):
            return self._list(command, stamp, terms)
        if isinstance(command, ApplyForRepair):
            rectification = domain.text(command.rectification, "rectification")
            listing = self.listing(command.listing_id)
            if not listing.listed:
                raise domain.RuleConflict(f"listing {listing.id} is removed already")
            for app in self.applications_of(listing.id):
                if app.status != "denied":
                    raise domain.RuleConflict(f"repair application {app.id} is {app.status}")
            number = len(self.applications_of(listing.id)) + 1
            application = RepairApplication(
                id=f"{listing.id}-R{number}",
                listing_id=listing.id,
                applied_on=today,
                rectification=rectification,
            )
            return [RepairApplied(**stamp, application=application)]
        if isinstance(command, RecordReinspection):
            app = self._pending(command.application_id)
            if command.inspected_on > today:
                raise domain.Invalid("inspected_on", "must not be in the future")
            if command.inspected_on < app.applied_on:
                raise domain.Invalid("inspected_on", "must not be before the application")
            reinspection = Reinspection(
                passed=command.passed,
                findings=domain.text(command.findings, "findings"),
                inspected_on=command.inspected_on,
                actor=command.actor,
            )
            return [ReinspectionRecorded(**stamp, application_id=app.id, reinspection=reinspection)]
        if isinstance(command, DecideRepair):
            app = self._pending(command.application_id)
            if command.outcome not in ("granted", "denied"):
                raise domain.Invalid("outcome", "must be granted or denied")
            if command.outcome == "granted" and not (app.reinspection and app.reinspection.passed):
                raise domain.RuleConflict(
                    f"repair application {app.id} has no passed re-inspection"
                )
            reason = domain.text(command.reason, "reason")
            out: list[domain.Event] = [
                RepairDecided(
                    **stamp,
                    application_id=app.id,
                    outcome=command.outcome,
                    reason=reason,
                    decided_on=today,
                )
            ]
            listing = self.listing(app.listing_id)
            if command.outcome == "granted" and listing.listed:
                if today >= listing.earliest_removal_on:
                    out.append(
                        ListingRemoved(
                            **stamp, listing_id=listing.id, removed_on=today, reason=CREDIT_REPAIRED
                        )
                    )
            return out
        if isinstance(command, RemoveDue):
            return [
                ListingRemoved(**stamp, listing_id=listing.id, removed_on=day, reason=why)
                for listing, day, why in self.due(today)
            ]
        raise TypeError(f"a unit does not take {type(command).__name__}")

    def _list(self, command: ListUnit, stamp: domain.Stamp, terms: Terms) -> list[domain.Event]:
        if command.list not in LISTS:
            raise domain.Invalid("list", f"must be one of {', '.join(LISTS)}")
        if any(listing.cause == command.cause for listing in self.listings):
            return []  # listed for this cause already: one listing per cause
        out: list[domain.Event] = []
        if command.name and (command.name, command.district) != (self.name, self.district):
            district = command.district or self.district
            out.append(UnitNamed(**stamp, uscc=command.uscc, name=command.name, district=district))
        listing = Listing(
            id=f"{command.uscc}-{len(self.listings) + 1}",
            list=command.list,
            cause=command.cause,
            reason=domain.text(command.reason, "reason"),
            legal_basis=domain.text(command.legal_basis, "legal_basis"),
            authority=domain.text(command.authority, "authority"),
            decision_no=domain.text(command.decision_no, "decision_no"),
            listed_on=command.listed_on,
            earliest_removal_on=add_years(command.listed_on, terms.management_years),
            publication_ends_on=add_years(command.listed_on, terms.publication_years),
            trigger_event_id=command.trigger_event_id,
        )
        out.append(UnitListed(**stamp, uscc=command.uscc, listing=listing))
        # A new bad record inside another listing's management period restarts that period.
        for other in self.listings:
            if other.listed and other.listed_on <= command.listed_on < other.earliest_removal_on:
                ends_on = add_years(command.listed_on, terms.management_years)
                if ends_on > other.earliest_removal_on:
                    out.append(
                        ManagementPeriodRestarted(
                            **stamp, listing_id=other.id, ends_on=ends_on, because_of=listing.id
                        )
                    )
        return out

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, UnitNamed):
            self.uscc, self.name, self.district = event.uscc, event.name, event.district
        elif isinstance(event, UnitListed):
            self.uscc = event.uscc
            self.name = self.name or event.uscc
            self.listings += (event.listing,)
        elif isinstance(event, ManagementPeriodRestarted):
            self._change_listing(event.listing_id, earliest_removal_on=event.ends_on)
        elif isinstance(event, RepairApplied):
            self.applications += (event.application,)
        elif isinstance(event, ReinspectionRecorded):
            self._change_application(event.application_id, reinspection=event.reinspection)
        elif isinstance(event, RepairDecided):
            app = self._change_application(
                event.application_id,
                status=event.outcome,
                decided_on=event.decided_on,
                reason=event.reason,
            )
            if event.outcome == "granted":
                self._change_listing(app.listing_id, repair_granted_on=event.decided_on)
        elif isinstance(event, ListingRemoved):
            self._change_listing(
                event.listing_id,
                status="removed",
                removed_on=event.removed_on,
                removal_reason=event.reason,
            )
        self.version += 1

    # --- reading the state ----------------------------------------------------------------

    def listing(self, listing_id: str) -> Listing:
        for listing in self.listings:
            if listing.id == listing_id:
                return listing
        raise domain.NotKnown(f"listing {listing_id} not found")

    def application(self, application_id: str) -> RepairApplication:
        for app in self.applications:
            if app.id == application_id:
                return app
        raise domain.NotKnown(f"repair application {application_id} not found")

    def applications_of(self, listing_id: str) -> list[RepairApplication]:
        return [app for app in self.applications if app.listing_id == listing_id]

    def due(self, today: date) -> list[tuple[Listing, date, str]]:
        """The listings to take off by ``today``: (listing, the day it is due, why)."""
        out = []
        for listing in self.listings:
            if not listing.listed:
                continue
            if today >= listing.publication_ends_on:
                out.append((listing, listing.publication_ends_on, PUBLICATION_ENDED))
            elif listing.repair_granted_on and today >= listing.earliest_removal_on:
                out.append((listing, listing.earliest_removal_on, CREDIT_REPAIRED))
        return out

    def next_due_on(self) -> date | None:
        """The first day something of this unit comes off (the sweep's due date)."""
        days = []
        for listing in self.listings:
            if listing.listed:
                days.append(listing.publication_ends_on)
                if listing.repair_granted_on:
                    days.append(listing.earliest_removal_on)
        return min(days) if days else None

    def _pending(self, application_id: str) -> RepairApplication:
        app = self.application(application_id)
        if app.status != "pending":
            raise domain.RuleConflict(f"repair application {app.id} is {app.status} already")
        return app

    def _change_listing(self, listing_id: str, **changes: object) -> Listing:
        i = next(i for i, x in enumerate(self.listings) if x.id == listing_id)
        changed = dataclasses.replace(self.listings[i], **changes)  # type: ignore[arg-type]
        self.listings = self.listings[:i] + (changed,) + self.listings[i + 1 :]
        return changed

    def _change_application(self, application_id: str, **changes: object) -> RepairApplication:
        i = next(i for i, x in enumerate(self.applications) if x.id == application_id)
        changed = dataclasses.replace(self.applications[i], **changes)  # type: ignore[arg-type]
        self.applications = self.applications[:i] + (changed,) + self.applications[i + 1 :]
        return changed


def remove_due(unit: Unit, now: datetime) -> RemoveDue | None:
    """The sweep's rule: a unit with a listing due to come off today."""
    return RemoveDue(actor=domain.SYSTEM_ACTOR) if unit.due(local_date(now)) else None
