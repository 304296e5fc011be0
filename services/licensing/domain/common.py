"""What every licensing aggregate shares beyond the kit's domain base (``infra.domain``): the
licence kinds and their vocabularies, the working-day calendar it is given, deadlines, and the
event base with its timeline entry.

Pure: standard library and the kit's pure modules only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Protocol

from infra import domain
from infra.clock import CHINA_STANDARD_TIME

KINDS = (
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
    "production_licence",
)
USE_REGISTRATION_REASONS = (
    "first_use",
    "resume_after_suspension",
    "modification",
    "rename_of_user",
    "address_change",
    "transfer",
    "relocation",
    "end_of_design_life",
)
CONSTRUCTION_WORK = ("install", "modify", "repair")
SCOPE_CLASSES = (
    "boiler", "pressure_vessel", "elevator", "crane", "ropeway", "amusement_ride",
    "pressure_piping", "in_plant_vehicle",
)  # fmt: skip
SCOPE_ACTIVITIES = ("manufacture", "installation", "modification", "repair", "maintenance")
ELEVATOR_LEVELS = ("A1", "A2", "B")


class Calendar(Protocol):
    """What the aggregate needs of ``services.licensing.calendar.WorkingCalendar``."""

    def add_working_days(self, start: date, n: int) -> Any: ...  # has .date, .provisional

    def working_days_between(self, a: date, b: date) -> Any: ...  # has .days, .provisional


@dataclass(frozen=True)
class Deadline:
    """A due date; ``provisional`` when computed for a year without an official schedule."""

    on: date
    provisional: bool = False


@dataclass(frozen=True, kw_only=True)
class Event(domain.Event):
    """A licensing event: the kit's event and, for those an application or licence shows in
    its timeline, the entry it makes there."""

    timeline_type: ClassVar[str | None] = None
    # Fields besides opinion and reason that the timeline entry shows.
    timeline_details: ClassVar[tuple[str, ...]] = ()

    def timeline_entry(self) -> dict[str, Any] | None:
        if self.timeline_type is None:
            return None
        data = self.to_data()
        entry = {"type": self.timeline_type, "at": china_time(self.at), "actor": self.actor}
        for name in ("opinion", "reason", *self.timeline_details):
            if data.get(name) is not None:
                entry[name] = data[name]
        return entry


def china_time(moment: datetime) -> str:
    """An event's time as a timeline shows it: China Standard Time, like every date next to it
    (a naive time is taken as local already)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_STANDARD_TIME)
    return moment.astimezone(CHINA_STANDARD_TIME).isoformat()


def shown_actor(actor: str, by: Mapping[str, Any] | None) -> str:
    """Who acted, as a timeline shows it: ``role:bureau:name`` for an officer,
    ``role:credit code:name`` for an applicant, ``role:name`` for a city administrator. The
    token id (``role:token id`` in the stored event) means nothing to a reader and stays in the
    record for audit: an actor recorded without ``by`` shows its role alone."""
    role = actor.partition(":")[0]
    if not by:
        return role
    parts = (by.get("role") or role, by.get("bureau") or by.get("uscc"), by.get("name"))
    return ":".join(str(p) for p in parts if p)


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
