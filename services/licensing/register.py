"""The equipment register (使用登记): reads, point-in-time reads, the jurisdiction of a unit,
and officers' direct commands on a unit.

A unit is normally registered, changed, suspended, resumed and cancelled through use
registrations and their certificates (``licences.py``). An officer may also act on the unit
directly (an accident, a scrapped unit found on inspection). When the unit has a certificate in
force, suspend / resume / cancel go through the certificate (suspend, reinstate, revoke), whose
effect on the unit is the same as ever: unit and certificate never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from infra.errors import Conflict, Invalid, NotFound, PreconditionFailed
from infra.identifiers import InvalidIdentifier, parse_equipment_code
from infra.places import DISTRICTS, bureau_of_place
from infra.repository import domain_errors
from infra.schemas import load
from services.licensing.domain import equipment as de
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.domain.licence.rules import ACTIVE, SUSPENDED
from services.licensing.licences import Licensing
from services.licensing.projections import equipment as equipment_table
from services.licensing.schemas.applications import ReasonIn
from services.licensing.schemas.licences import EquipmentChangeIn

# A direct command on a unit with a certificate in force -> the certificate's command.
CERTIFICATE_COMMANDS = {"suspend": "suspend", "resume": "reinstate", "cancel": "revoke"}
UNIT_COMMANDS = {
    "suspend": de.SuspendEquipment,
    "resume": de.ResumeEquipment,
    "cancel": de.CancelEquipment,
}


class Register:
    def __init__(self, licensing: Licensing):
        self.licensing = licensing
        self.repo, self.now, self.today = licensing.repo, licensing.now, licensing.today

    @property
    def conn(self):
        return self.repo.conn

    # --- reads --------------------------------------------------------------------------

    def _primary_code(self, code: str) -> str:
        """A legacy 20-digit alias resolved to the unit's code (unknown codes unchanged)."""
        if len(code) != 20:
            return code
        primary = self.conn.execute(
            select(equipment_table.c.equipment_code).where(equipment_table.c.legacy_code == code)
        ).scalar()
        return primary or code

    def load(self, code: str, as_of: datetime | None = None) -> de.Equipment:
        eq = self.repo.load(de.Equipment, code, as_of=as_of)
        if not eq.version and len(code) == 20:
            primary = self._primary_code(code)
            if primary != code:
                eq = self.repo.load(de.Equipment, primary, as_of=as_of)
        if not eq.version:
            when = f" on {as_of.isoformat()}" if as_of else ""
            raise NotFound(f"equipment {code} is not registered{when}")
        return eq

    def equipment(self, code: str, as_of: datetime | None = None) -> dict:
        return self.load(code, as_of).view()

    def scope(self, code: str) -> dict:
        """Who supervises a unit: the bureau that supervises its use-registration certificate
        (the issuer, or the bureau of the place a relocation moved it to); a unit without one
        (registered before the system) its location's bureau: ``FTZ`` inside the zone, else
        its district's."""
        eq = self.load(code)
        bureau = None
        licence_no = eq.record.get("licence_no")
        if licence_no:
            licence = self.repo.load(Licence, licence_no)
            bureau = licence.supervised_by if licence.version else None
        if bureau is None:
            bureau = bureau_of_place(eq.record.get("district"), bool(eq.record.get("in_ftz")))
        return {
            "equipment_code": eq.code,
            "bureau": bureau,
            "status": eq.status,
            "licence_no": licence_no,
            "version": eq.version,
        }

    def list(self, filters: dict, limit: int = 50, after: list | None = None) -> list:
        """Rows of the register (no personal data: users are organizations)."""
        c = equipment_table.c
        q = select(equipment_table)
        for name in ("district", "status", "maintenance_unit_uscc", "user_uscc"):
            if filters.get(name):
                q = q.where(c[name] == filters[name])
        if filters.get("in_ftz") is not None:
            q = q.where(c.in_ftz == bool(filters["in_ftz"]))
        if after:
            q = q.where(c.equipment_code > after[0])
        rows = self.conn.execute(q.order_by(c.equipment_code).limit(limit)).mappings().all()
        return [
            {
                **{k: v for k, v in r.items() if k not in ("user_uscc", "user_name")},
                "user": {"uscc": r["user_uscc"], "name": r["user_name"]}
                if r["user_uscc"]
                else None,
                "registered_on": r["registered_on"].isoformat() if r["registered_on"] else None,
            }
            for r in rows
        ]

    # --- registration without an application --------------------------------------------

    def register_directly(
        self, equipment_code: str, district: str, in_ftz: bool, event_id: str | None, details: dict
    ) -> dict:
        """The walking skeleton's registration without an application (demo, tests)."""
        try:
            parsed = parse_equipment_code(equipment_code, self.today)
        except InvalidIdentifier as exc:
            raise Invalid("invalid equipment code", {"equipment_code": [str(exc)]}) from None
        if district not in DISTRICTS:
            raise Invalid("invalid district", {"district": ["a Shanghai district code"]})
        code = parsed.code
        eq = self.repo.load(de.Equipment, code)
        if eq.version:
            if event_id:  # a retried registration: the first one stands
                return {"equipment_code": code, "status": eq.status, "version": eq.version}
            raise Conflict(f"equipment {code} is already registered")
        record = {
            "equipment_code": code,
            "district": district,
            "in_ftz": bool(in_ftz),
            "registered_on": self.today,
            "manufacture_year": parsed.year,
            "equipment_class": parsed.equipment_class,
            **details,
        }
        with domain_errors():
            events = eq.decide(
                de.RegisterEquipment(actor=self.licensing.actor(), record=record), self.now
            )
        self.repo.save(code, eq, events, [event_id] if event_id else None)
        return {"equipment_code": code, "status": eq.status or "registered", "version": 1}

    # --- officers' commands -------------------------------------------------------------

    def command(
        self, code: str, name: str, body: dict | None, expected_version: int | None = None
    ) -> dict:
        """``changes``, ``suspend``, ``resume``, ``cancel`` on a registered unit."""
        if name != "changes" and name not in UNIT_COMMANDS:
            raise NotFound(f"no command {name}")
        schema = EquipmentChangeIn if name == "changes" else ReasonIn
        data = load(schema, body, name)
        eq = self.load(self._primary_code(code))
        if expected_version is not None and expected_version != eq.version:
            raise PreconditionFailed(f"the unit is at version {eq.version}, not {expected_version}")
        actor = self.licensing.actor()
        if name == "changes":
            reason = data.pop("reason")
            command: Any = de.ChangeEquipment(actor=actor, changes=data, reason=reason)
        else:
            command = UNIT_COMMANDS[name](actor=actor, reason=data["reason"])
        with domain_errors():  # the unit's own rules first (409 naming the unit's status)
            events = eq.decide(command, self.now)
        unit = eq.code
        assert unit is not None  # load() found the unit registered: its record has its code
        certificate = self._certificate_in_force(eq) if name != "changes" else None
        if certificate is not None:
            self.licensing.command(certificate, CERTIFICATE_COMMANDS[name], data)
            return self.load(unit).view()
        self.repo.save(unit, eq, events)
        return eq.view()

    def _certificate_in_force(self, eq: de.Equipment) -> str | None:
        no = eq.record.get("licence_no")
        if not no:
            return None
        licence = self.repo.load(Licence, no)
        if licence.kind == "use_registration" and licence.status in (ACTIVE, SUSPENDED):
            return no
        return None
