"""What may be asked of a licence (the service builds these from API bodies and the sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from infra.domain import Command


@dataclass(frozen=True, kw_only=True)
class IssueLicence(Command):
    licence_no: str
    kind: str
    bureau: str
    application_id: str
    decided_on: date
    holder: dict
    person: dict | None = None
    valid_until: date | None = None
    scope: tuple[str, ...] = ()
    level: str | None = None
    equipment_code: str | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RequestRenewal(Command):
    """For an operator certificate, ``items`` = ``[{"item", "last_worked_on"}]`` to review.
    Unchecked input: the review checks it is a list of objects."""

    items: Sequence[object] = ()


@dataclass(frozen=True, kw_only=True)
class DecideRenewal(Command):
    outcome: str  # granted | refused
    reason: str


@dataclass(frozen=True, kw_only=True)
class SuspendLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReinstateLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class RevokeLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class TransferLicence(Command):
    """A use registration's unit passed to a new user: ``to_licence_no`` replaces this one."""

    to_licence_no: str
    to_holder: dict
    application_id: str


@dataclass(frozen=True, kw_only=True)
class MoveSupervision(Command):
    """A use registration's unit moved to a place another bureau supervises (relocation)."""

    to_bureau: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SweepLicence(Command):
    """Sent by the timer sweep: reminders, deemed renewal, lapsed items, expiry (if due)."""

    actor: str = "system"
