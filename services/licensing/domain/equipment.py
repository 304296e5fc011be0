"""The equipment register (特种设备使用登记): one stream per unit, ``equipment-<code>``.

Lifecycle: registered, changed, suspended, resumed, cancelled (scrapped). The events are the
integration contract other services read (insurance, maintenance credit): every event carries
``equipment_code``; ``EquipmentRegistered`` the full record; ``EquipmentChanged`` only the
fields that changed, at the top level, plus ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from infra.clock import local_date
from infra.domain import Command, RuleConflict, Stamp, text

from .common import Event

REGISTERED, SUSPENDED, CANCELLED = "registered", "suspended", "cancelled"
# Fields an EquipmentChanged may carry (everything else of the record is fixed).
CHANGEABLE = (
    "district", "in_ftz", "address", "user", "maintenance_unit_uscc", "rated_speed_mps",
    "rated_load_kg", "licence_no",
)  # fmt: skip


def manufacture_year(code: str) -> int | None:
    """The year of manufacture an equipment code carries (legacy 20 digits: its YYYY)."""
    try:
        return int(code[10:14]) if len(code) == 20 else int(code[9:13])
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class RegisterEquipment(Command):
    record: dict


@dataclass(frozen=True, kw_only=True)
class ChangeEquipment(Command):
    changes: dict
    reason: str


@dataclass(frozen=True, kw_only=True)
class SuspendEquipment(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ResumeEquipment(Command):
    reason: str | None = None
    licence_no: str | None = None


@dataclass(frozen=True, kw_only=True)
class CancelEquipment(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class EquipmentRegistered(Event):
    """A unit of equipment was registered for use (使用登记). ``record``'s fields are spread at
    the top level of the event data: ``equipment_code``, ``district``, ``in_ftz``,
    ``registered_on``, ``maintenance_unit_uscc``, ``user`` {uscc, name},
    ``manufacture_year``, ``rated_speed_mps``, ``rated_load_kg``, ``licence_no`` and more."""

    equipment_code: str
    district: str
    in_ftz: bool
    registered_on: date
    maintenance_unit_uscc: str | None = None
    user: dict | None = None
    manufacture_year: int | None = None
    rated_speed_mps: float | None = None
    rated_load_kg: float | None = None
    licence_no: str | None = None
    address: str | None = None
    equipment_class: str | None = None
    variety: str | None = None
    product_name: str | None = None
    model: str | None = None
    maker: str | None = None
    legacy_code: str | None = None
    application_id: str | None = None
    timeline_type: ClassVar[str] = "registered"


@dataclass(frozen=True, kw_only=True)
class EquipmentChanged(Event):
    """Registered data changed (modification, new user, address, relocation, maintenance
    unit): only the changed fields are present, with ``reason``."""

    equipment_code: str
    changed_on: date
    reason: str
    district: str | None = None
    in_ftz: bool | None = None
    address: str | None = None
    user: dict | None = None
    maintenance_unit_uscc: str | None = None
    rated_speed_mps: float | None = None
    rated_load_kg: float | None = None
    licence_no: str | None = None
    timeline_type: ClassVar[str] = "changed"

    def to_data(self) -> dict[str, Any]:
        # Only the fields that changed: consumers apply what is present.
        return {k: v for k, v in super().to_data().items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class EquipmentSuspended(Event):
    """Use of the equipment is suspended (停用); it must not be used until resumed."""

    equipment_code: str
    reason: str
    suspended_on: date
    timeline_type: ClassVar[str] = "suspended"


@dataclass(frozen=True, kw_only=True)
class EquipmentResumed(Event):
    """The suspended equipment is back in use."""

    equipment_code: str
    resumed_on: date
    reason: str | None = None
    licence_no: str | None = None
    timeline_type: ClassVar[str] = "resumed"


@dataclass(frozen=True, kw_only=True)
class EquipmentCancelled(Event):
    """The registration is cancelled (注销), e.g. the equipment was scrapped; final."""

    equipment_code: str
    reason: str
    cancelled_on: date
    timeline_type: ClassVar[str] = "cancelled"


EVENT_TYPES: dict[str, type[Event]] = {
    c.__name__: c
    for c in (
        EquipmentRegistered,
        EquipmentChanged,
        EquipmentSuspended,
        EquipmentResumed,
        EquipmentCancelled,
    )
}


@dataclass
class Equipment:
    """State of one unit of equipment, folded from its events."""

    record: dict = field(default_factory=dict)
    status: str | None = None
    timeline: list[dict] = field(default_factory=list)
    version: int = 0

    @property
    def code(self) -> str | None:
        return self.record.get("equipment_code")

    def decide(self, command: Command, now: Any) -> list[Event]:
        today = local_date(now)
        stamp: Stamp = {"at": now, "actor": command.actor}
        name = type(command).__name__
        if isinstance(command, RegisterEquipment):
            if self.version:
                raise RuleConflict(f"equipment {self.code} is already registered ({self.status})")
            record = {k: v for k, v in command.record.items() if v is not None}
            record.setdefault("registered_on", today)
            if isinstance(record["registered_on"], str):
                record["registered_on"] = date.fromisoformat(record["registered_on"])
            record.setdefault("manufacture_year", manufacture_year(record["equipment_code"]))
            return [EquipmentRegistered(**stamp, **record)]
        if not self.version:
            raise RuleConflict(f"{name} is not allowed: the equipment is not registered")
        code = self.code
        assert code is not None  # registered: the record carries its code
        if isinstance(command, ChangeEquipment):
            self._require(name, REGISTERED, SUSPENDED)
            changes = {
                k: v
                for k, v in command.changes.items()
                if k in CHANGEABLE and v is not None and self.record.get(k) != v
            }
            if not changes:
                return []
            return [
                EquipmentChanged(
                    **stamp,
                    equipment_code=code,
                    changed_on=today,
                    reason=text(command.reason, "reason"),
                    **changes,
                )
            ]
        if isinstance(command, SuspendEquipment):
            self._require(name, REGISTERED)
            return [
                EquipmentSuspended(
                    **stamp,
                    equipment_code=code,
                    reason=text(command.reason, "reason"),
                    suspended_on=today,
                )
            ]
        if isinstance(command, ResumeEquipment):
            self._require(name, SUSPENDED)
            return [
                EquipmentResumed(
                    **stamp,
                    equipment_code=code,
                    resumed_on=today,
                    reason=command.reason,
                    licence_no=command.licence_no,
                )
            ]
        if isinstance(command, CancelEquipment):
            self._require(name, REGISTERED, SUSPENDED)
            return [
                EquipmentCancelled(
                    **stamp,
                    equipment_code=code,
                    reason=text(command.reason, "reason"),
                    cancelled_on=today,
                )
            ]
        raise RuleConflict(f"{name} does not apply to equipment")

    def _require(self, command: str, *statuses: str) -> None:
        if self.status not in statuses:
            raise RuleConflict(f"{command} is not allowed: the equipment is {self.status}")

    def apply(self, event: Event) -> None:
        data = event.to_data()
        for k in ("at", "actor"):
            data.pop(k, None)
        match event:
            case EquipmentRegistered():
                self.record = data
                self.status = REGISTERED
            case EquipmentChanged():
                for k in CHANGEABLE:
                    if k in data:
                        self.record[k] = data[k]
            case EquipmentSuspended():
                self.status = SUSPENDED
            case EquipmentResumed():
                self.status = REGISTERED
                if event.licence_no:
                    self.record["licence_no"] = event.licence_no
            case EquipmentCancelled():
                self.status = CANCELLED
        entry = event.timeline_entry()
        if entry is not None:
            self.timeline.append(entry)
        self.version += 1

    @classmethod
    def from_events(cls, events) -> Equipment:
        equipment = cls()
        for e in events:
            equipment.apply(e)
        return equipment

    def view(self) -> dict[str, Any]:
        r = self.record
        return {
            **{k: v for k, v in r.items()},
            "equipment_code": self.code,
            "status": self.status,
            "district": r.get("district"),
            "in_ftz": bool(r.get("in_ftz")),
            "user": r.get("user"),
            "maintenance_unit_uscc": r.get("maintenance_unit_uscc"),
            "licence_no": r.get("licence_no"),
            "registered_on": r.get("registered_on"),
            "timeline": list(self.timeline),
            "version": self.version,
        }
