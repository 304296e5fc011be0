"""What every licensing aggregate shares: constants, local dates, errors, the event base.

Pure: standard library only. Events are frozen dataclasses whose ``to_data`` is plain JSON and
whose ``from_data`` rebuilds them from stored data (dates as ISO text).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol, TypedDict

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
SYSTEM_ACTOR = "system"

KINDS = (
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
    "production_licence",
)
DISTRICTS = (
    "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112",
    "310113", "310114", "310115", "310116", "310117", "310118", "310120", "310151",
)  # fmt: skip
PUDONG = "310115"
BUREAUS = ("SH", "FTZ", *DISTRICTS)
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


def local_date(now: datetime) -> date:
    """The date in China Standard Time of an instant (naive: already local)."""
    if now.tzinfo is None:
        return now.date()
    return now.astimezone(CHINA_STANDARD_TIME).date()


class Calendar(Protocol):
    """What the aggregate needs of ``services.licensing.calendar.WorkingCalendar``."""

    def add_working_days(self, start: date, n: int) -> Any: ...  # has .date, .provisional

    def working_days_between(self, a: date, b: date) -> Any: ...  # has .days, .provisional


@dataclass(frozen=True)
class Deadline:
    """A due date; ``provisional`` when computed for a year without an official schedule."""

    on: date
    provisional: bool = False


# --- errors ---------------------------------------------------------------------------------


class LicensingError(Exception):
    """Base of the licensing domain's errors; ``detail`` is for the problem response."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class RuleConflict(LicensingError):
    """The command is not allowed in the object's current state (HTTP 409)."""


class NotKnown(LicensingError):
    """The command names an object that does not exist (HTTP 404)."""


class Invalid(LicensingError):
    """A command field breaks a rule (HTTP 422); ``errors`` is keyed by field path."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        self.errors = {field: [message]}
        super().__init__(f"{field}: {message}")


# --- commands and events --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Command:
    actor: str


class Stamp(TypedDict):
    """When and by whom: the fields every event starts with (``Event(**stamp, ...)``)."""

    at: datetime
    actor: str


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(inner, value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(_decode(inner, v) for v in value)
    if hint is dict or origin is dict:
        return dict(value)
    return value


_type_hints = functools.cache(typing.get_type_hints)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of the events; ``at`` is when it happened, ``actor`` who did it."""

    at: datetime
    actor: str

    timeline_type: ClassVar[str | None] = None
    # Fields besides opinion and reason that the timeline entry shows.
    timeline_details: ClassVar[tuple[str, ...]] = ()

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_data(self) -> dict[str, Any]:
        """The event as plain JSON-able data (dates and times as ISO strings)."""
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Event:
        # type[Event] is hashable (class objects hash by identity); mypy checks it against
        # Hashable through Event.__hash__, the instances' method, and rejects it.
        hints = _type_hints(cls)  # type: ignore[arg-type]
        return cls(
            **{
                f.name: _decode(hints[f.name], data[f.name])
                for f in dataclasses.fields(cls)
                if f.name in data
            }
        )

    def timeline_entry(self) -> dict[str, Any] | None:
        if self.timeline_type is None:
            return None
        data = self.to_data()
        entry = {"type": self.timeline_type, "at": data["at"], "actor": self.actor}
        for name in ("opinion", "reason", *self.timeline_details):
            if data.get(name) is not None:
                entry[name] = data[name]
        return entry


@typing.overload
def _text(value: Any, path: str, *, required: Literal[True] = ...) -> str: ...


@typing.overload
def _text(value: Any, path: str, *, required: Literal[False]) -> str | None: ...


def _text(value: Any, path: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(path, "must be non-empty text")
    return value.strip()


def _iso_date(value: Any, path: str) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise Invalid(path, "must be a date YYYY-MM-DD") from None


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(path, "must be an object")
    return value


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def as_date(value: Any, path: str) -> date:
    """A date from a ``date`` or ISO text; ``Invalid`` on ``path`` otherwise."""
    return date.fromisoformat(_iso_date(value, path))
