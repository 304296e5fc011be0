"""Licensing service: delegations, applications, licences, equipment register, audits.

Walking skeleton for now: the equipment register's first command, published to the bus.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import insert

from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import rpc
from infra.errors import Conflict, Invalid
from infra.eventstore import NewEvent
from infra.service import KernelService
from services.licensing import projections

MIGRATIONS = Path(__file__).parent / "migrations"


class LicensingService(KernelService):
    name = "licensing"
    db = ServiceDatabase(migrations=MIGRATIONS)

    @rpc
    def register_equipment(
        self, equipment_code: str, district: str, in_ftz: bool = False, event_id: str | None = None
    ) -> dict:
        """Record a use registration of one unit of equipment (skeleton: no application yet)."""
        if not (
            isinstance(equipment_code, str)
            and equipment_code.isdigit()
            and len(equipment_code) in (18, 20)
        ):
            raise Invalid(
                "invalid equipment code",
                {"equipment_code": ["18 digits (or a legacy 20-digit code)"]},
            )
        stream = f"equipment-{equipment_code}"
        today = self.clock.today()
        data = {
            "equipment_code": equipment_code,
            "district": district,
            "in_ftz": bool(in_ftz),
            "registered_on": today.isoformat(),
        }
        extra = {"event_id": event_id} if event_id else {}
        stored = self.db.append(
            stream, 0, [NewEvent("EquipmentRegistered", data, **extra)], self.ctx.meta()
        )
        if not stored and not event_id:
            raise Conflict(f"equipment {equipment_code} is already registered")
        if stored:
            self.db.conn.execute(
                insert(projections.equipment).values(
                    equipment_code=equipment_code,
                    district=district,
                    in_ftz=bool(in_ftz),
                    status="registered",
                    registered_on=date.fromisoformat(data["registered_on"]),
                    version=1,
                )
            )
        return {"equipment_code": equipment_code, "status": "registered", "version": 1}
