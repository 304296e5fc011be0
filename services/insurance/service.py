"""Insurance service: insurer policies, coverage, premium factors, reminders.

Walking skeleton for now: it keeps its own copy of the equipment register from licensing events.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, insert, select, update

from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe
from infra.errors import NotFound
from infra.service import KernelService
from services.insurance.projections import equipment_register

MIGRATIONS = Path(__file__).parent / "migrations"


class InsuranceService(KernelService):
    name = "insurance"
    db = ServiceDatabase(migrations=MIGRATIONS)

    @subscribe("licensing")
    def on_licensing_event(self, event: IncomingEvent) -> None:
        if event.type == "EquipmentRegistered":
            d = event.data
            row = {
                "district": d["district"],
                "in_ftz": d["in_ftz"],
                "status": "registered",
                "registered_on": date.fromisoformat(d["registered_on"]),
            }
            # `applied` counts deliveries that took effect: exactly once means it stays 1.
            moved = self.db.conn.execute(
                update(equipment_register)
                .where(equipment_register.c.equipment_code == d["equipment_code"])
                .values(applied=equipment_register.c.applied + 1, **row)
            ).rowcount
            if not moved:
                self.db.conn.execute(
                    insert(equipment_register).values(
                        equipment_code=d["equipment_code"], applied=1, **row
                    )
                )

    @rpc
    def equipment(self, equipment_code: str) -> dict:
        row = (
            self.db.conn.execute(
                select(equipment_register).where(
                    equipment_register.c.equipment_code == equipment_code
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"equipment {equipment_code} is not known to insurance")
        return {**row, "registered_on": row["registered_on"].isoformat()}

    @rpc
    def register_stats(self) -> dict:
        """How many elevators the register holds, and how many registration effects applied."""
        n, applied = self.db.conn.execute(
            select(func.count(), func.coalesce(func.sum(equipment_register.c.applied), 0))
        ).one()
        return {"elevators": n, "applied": int(applied)}
