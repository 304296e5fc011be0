"""Complaints from the public about an elevator (DOMAIN.md "Maintenance-quality credit":
verified complaints are facts against the maintenance unit). Pure: standard library and
``infra.domain`` only.

- ``Complaint`` (``complaint-<reference>``): what happened to an elevator and when, as a
  passenger told it from the elevator's page, with contact details if they gave any; the
  officers of the elevator's district verify it or dismiss it, once, with a reason.
- The reference is the complaint's key and what the passenger follows it by: random, never a
  sequence. It is also the data subject of the contact details (``person``): the repository
  encrypts them under that subject's key, and ``sesp erase <reference>`` erases them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from infra import domain
from infra.clock import local_date

OUTCOMES = ("verified", "dismissed")
MAX_WHAT = 2000  # characters of the account
MAX_CONTACT = 200
MAX_REASON = 2000
CITY_BUREAU = "SH"


@dataclass(frozen=True, kw_only=True)
class ComplaintReceived(domain.Event):
    """A passenger complained about elevator ``equipment_code`` (in ``district``): ``what``
    happened at ``occurred_at``. ``person``: ``{"id_number": reference, "contact": ...}``
    when contact details were given (personal data: stored encrypted, per complaint)."""

    reference: str
    equipment_code: str
    district: str
    what: str
    occurred_at: datetime
    person: dict | None = None


@dataclass(frozen=True, kw_only=True)
class ComplaintDecided(domain.Event):
    """An officer verified or dismissed the complaint; a verified one is a fact against
    ``unit_uscc``, the unit that maintained the elevator that day (None: nobody did)."""

    outcome: str
    reason: str
    decided_on: date
    unit_uscc: str | None = None


COMPLAINT_EVENTS = domain.event_types(ComplaintReceived, ComplaintDecided)


@dataclass(frozen=True, kw_only=True)
class ReceiveComplaint(domain.Command):
    reference: str
    equipment_code: str
    district: str
    what: str
    occurred_at: datetime
    contact: str | None = None


@dataclass(frozen=True, kw_only=True)
class DecideComplaint(domain.Command):
    outcome: str
    reason: str
    # the deciding officer's district; None for the city (the city bureau, city_admin)
    district: str | None
    # who maintained the elevator on the complaint's day (looked up by the caller)
    unit_uscc: str | None = None


@dataclass
class Complaint(domain.Aggregate):
    kind_name = "complaint"
    reference: str = ""
    equipment_code: str = ""
    district: str = ""
    what: str = ""
    occurred_at: datetime | None = None
    contact: str | None = None
    received_at: datetime | None = None
    status: str = ""  # received | verified | dismissed
    reason: str | None = None
    decided_on: date | None = None
    unit_uscc: str | None = None
    version: int = 0

    @property
    def occurred_on(self) -> date | None:
        return local_date(self.occurred_at) if self.occurred_at else None

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, ReceiveComplaint):
            if self.exists:
                raise domain.RuleConflict(f"complaint {command.reference} exists already")
            what = domain.text(command.what, "what")
            if len(what) > MAX_WHAT:
                raise domain.Invalid("what", f"at most {MAX_WHAT} characters")
            if command.occurred_at > now:
                raise domain.Invalid("occurred_at", "must not be in the future")
            contact = domain.text(command.contact, "contact", required=False)
            person = {"id_number": command.reference, "contact": contact} if contact else None
            return [
                ComplaintReceived(
                    **stamp,
                    reference=command.reference,
                    equipment_code=command.equipment_code,
                    district=command.district,
                    what=what,
                    occurred_at=command.occurred_at,
                    person=person,
                )
            ]
        if isinstance(command, DecideComplaint):
            if not self.exists or command.district not in (None, self.district):
                # Another district's complaint is not shown to its officers: as if missing.
                raise domain.NotKnown("complaint not found")
            if self.status != "received":
                raise domain.RuleConflict(f"complaint {self.reference} is {self.status} already")
            if command.outcome not in OUTCOMES:
                raise domain.Invalid("outcome", "must be verified or dismissed")
            reason = domain.text(command.reason, "reason")
            unit = command.unit_uscc if command.outcome == "verified" else None
            return [
                ComplaintDecided(
                    **stamp,
                    outcome=command.outcome,
                    reason=reason,
                    decided_on=local_date(now),
                    unit_uscc=unit,
                )
            ]
        raise TypeError(f"a complaint does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, ComplaintReceived):
            self.reference, self.equipment_code = event.reference, event.equipment_code
            self.district, self.what = event.district, event.what
            self.occurred_at, self.received_at = event.occurred_at, event.at
            person = event.person or {}
            self.contact = person.get("contact")
            self.status = "received"
        elif isinstance(event, ComplaintDecided):
            self.status, self.reason = event.outcome, event.reason
            self.decided_on, self.unit_uscc = event.decided_on, event.unit_uscc
        self.version += 1


def officer_district(bureau: str | None) -> str | None:
    """The district whose complaints an officer of ``bureau`` decides (None: every district,
    the city bureau's and the city administration's). The FTZ bureau lies in Pudong."""
    if bureau in (None, CITY_BUREAU):
        return None
    if bureau == "FTZ":
        return "310115"
    return bureau
