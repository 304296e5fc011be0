"""Delegations of licensing powers (委托/下放审批权限) and the routing of new applications.

A delegation grants one bureau one or more licence kinds from an effective date; a revocation
ends it from its own effective date. Both are events, so the history stays queryable: which
bureau held which power on any day. Its status is read on a day: ``active`` until the
revocation's effective date (a revocation dated ahead shows as ``revoked_from`` meanwhile),
``revoked`` from it. Effective dates lie between ``EARLIEST_EFFECTIVE`` and
``YEARS_AHEAD`` years after today; a revocation takes effect today at the earliest (the
applications routed in the meantime were routed under the delegation, and keep their bureau).

Routing (DOMAIN.md): ``FTZ`` if the location is in the FTZ and the kind is delegated to ``FTZ``;
else the district bureau if the kind is delegated to it; else the city bureau ``SH``. The
application keeps the bureau it was routed to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from infra.clock import local_date
from infra.domain import Command, Invalid, RuleConflict, Stamp, as_date, text
from infra.places import BUREAUS, CITY_BUREAU, FTZ_BUREAU

from .common import KINDS, Event, add_years

ACTIVE, REVOKED = "active", "revoked"
# Bounds of an effective date (a typo such as 1914 or 2041 is refused, 422 on the field).
EARLIEST_EFFECTIVE = date(1990, 1, 1)
YEARS_AHEAD = 5


def check_effective(day: date, today: date) -> date:
    """``day`` if it lies within the bounds of an effective date on ``today``."""
    if day < EARLIEST_EFFECTIVE:
        raise Invalid("effective_from", f"must not be before {EARLIEST_EFFECTIVE.isoformat()}")
    latest = add_years(today, YEARS_AHEAD)
    if day > latest:
        raise Invalid(
            "effective_from",
            f"must not be more than {YEARS_AHEAD} years ahead (after {latest.isoformat()})",
        )
    return day


@dataclass(frozen=True, kw_only=True)
class GrantDelegation(Command):
    delegation_id: str
    bureau: str
    kinds: tuple[str, ...]
    effective_from: date


@dataclass(frozen=True, kw_only=True)
class RevokeDelegation(Command):
    effective_from: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class DelegationGranted(Event):
    """The city bureau delegated the licence ``kinds`` to ``bureau`` from ``effective_from``."""

    delegation_id: str
    bureau: str
    kinds: tuple[str, ...]
    effective_from: date


@dataclass(frozen=True, kw_only=True)
class DelegationRevoked(Event):
    """The delegation ends from ``effective_from`` (that day the city bureau holds the power
    again), for ``reason``. Applications already routed keep their bureau."""

    delegation_id: str
    effective_from: date
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    c.__name__: c for c in (DelegationGranted, DelegationRevoked)
}


@dataclass
class Delegation:
    """One delegation, folded from its events."""

    id: str | None = None
    bureau: str | None = None
    kinds: tuple[str, ...] = ()
    effective_from: date | None = None
    revoked_from: date | None = None
    revocation_reason: str | None = None
    version: int = 0

    kind_name: ClassVar[str] = "delegation"

    def status_on(self, day: date) -> str:
        """``revoked`` from the revocation's effective date on, ``active`` before."""
        return REVOKED if self.revoked_from is not None and self.revoked_from <= day else ACTIVE

    def in_force_on(self, day: date) -> bool:
        """Whether the delegation holds on ``day``."""
        return (
            self.effective_from is not None
            and self.effective_from <= day
            and (self.revoked_from is None or day < self.revoked_from)
        )

    def decide(self, command: Command, now: Any) -> list[Event]:
        stamp: Stamp = {"at": now, "actor": command.actor}
        today = local_date(now)
        if isinstance(command, GrantDelegation):
            if self.version:
                raise RuleConflict("the delegation exists already")
            if command.bureau not in BUREAUS or command.bureau == CITY_BUREAU:
                raise Invalid("bureau", "the FTZ branch or a district bureau (SH holds all)")
            kinds = tuple(dict.fromkeys(command.kinds))
            if not kinds:
                raise Invalid("kinds", "delegate at least one licence kind")
            for i, kind in enumerate(kinds):
                if kind not in KINDS:
                    raise Invalid(f"kinds.{i}", f"must be one of {', '.join(KINDS)}")
            effective = check_effective(as_date(command.effective_from, "effective_from"), today)
            return [
                DelegationGranted(
                    **stamp,
                    delegation_id=text(command.delegation_id, "id"),
                    bureau=command.bureau,
                    kinds=kinds,
                    effective_from=effective,
                )
            ]
        if isinstance(command, RevokeDelegation):
            if not self.version:
                raise RuleConflict("no such delegation")
            # Granted (version > 0): the grant set its id and effective date.
            assert self.id is not None and self.effective_from is not None
            if self.revoked_from is not None:
                raise RuleConflict(
                    f"revoke is not allowed: the delegation is revoked from {self.revoked_from}"
                )
            effective = check_effective(as_date(command.effective_from, "effective_from"), today)
            if effective < self.effective_from:
                raise Invalid(
                    "effective_from", f"must not be before the grant ({self.effective_from})"
                )
            if effective < today:
                # Backdating would unroute what was routed under the delegation meanwhile.
                raise Invalid(
                    "effective_from",
                    f"must not be before today ({today.isoformat()}): a revocation cannot "
                    "be backdated",
                )
            return [
                DelegationRevoked(
                    **stamp,
                    delegation_id=self.id,
                    effective_from=effective,
                    reason=text(command.reason, "reason"),
                )
            ]
        raise RuleConflict(f"{type(command).__name__} does not apply to a delegation")

    def apply(self, event: Event) -> None:
        match event:
            case DelegationGranted():
                self.id, self.bureau = event.delegation_id, event.bureau
                self.kinds, self.effective_from = tuple(event.kinds), event.effective_from
            case DelegationRevoked():
                self.revoked_from, self.revocation_reason = event.effective_from, event.reason
        self.version += 1

    def view(self, today: date) -> dict[str, Any]:
        """The delegation as it stands on ``today``."""
        out: dict[str, Any] = {
            "id": self.id,
            "bureau": self.bureau,
            "kinds": list(self.kinds),
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "status": self.status_on(today),
            "version": self.version,
        }
        if self.revoked_from is not None:
            out["revoked_from"] = self.revoked_from.isoformat()
            out["revocation_reason"] = self.revocation_reason
        out["in_force"] = self.in_force_on(today)
        return out


@dataclass(frozen=True)
class Grant:
    """What routing needs of one delegation (a read-model row)."""

    bureau: str
    kinds: Sequence[str]
    effective_from: date
    revoked_from: date | None = None

    def covers(self, kind: str, day: date) -> bool:
        return (
            kind in self.kinds
            and self.effective_from <= day
            and (self.revoked_from is None or day < self.revoked_from)
        )


@dataclass(frozen=True)
class Route:
    """Where a new application goes, and why (kept with the application for the record)."""

    bureau: str
    rule: str = field(default="city")


def route_application(
    kind: str, location: Mapping[str, Any], on: date, grants: Iterable[Grant]
) -> Route:
    """The bureau a new application of ``kind`` at ``location`` received ``on`` goes to."""
    grants = list(grants)
    district = location.get("district")
    if location.get("in_ftz") and any(
        g.bureau == FTZ_BUREAU and g.covers(kind, on) for g in grants
    ):
        return Route(FTZ_BUREAU, "ftz")
    if isinstance(district, str) and any(
        g.bureau == district and g.covers(kind, on) for g in grants
    ):
        return Route(district, "district")
    return Route(CITY_BUREAU, "city")
