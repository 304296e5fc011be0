"""Licences and the equipment register: issue on approval, licence commands, renewal, the
register's lifecycle, reads, and the licence sweep (deemed renewal, expiry, operator reviews).
The construction notice's check is in ``construction``, the published records in ``records``."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from infra.clock import local_date
from infra.domain import Command
from infra.domain import Event as KitEvent
from infra.errors import Conflict, NotFound, PreconditionFailed
from infra.eventstore import ERASED
from infra.identifiers import parse_equipment_code
from infra.places import bureau_of_place
from infra.repository import Repository
from infra.schemas import load
from infra.sweep import Sweep
from services.licensing.construction import check_construction
from services.licensing.domain import equipment as de
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.application.commands import Approve
from services.licensing.domain.application.events import ApplicationApproved
from services.licensing.domain.common import Event
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.domain.licence.commands import (
    DecideRenewal,
    IssueLicence,
    MoveSupervision,
    ReinstateLicence,
    RequestRenewal,
    RevokeLicence,
    SuspendLicence,
    SweepLicence,
    TransferLicence,
)
from services.licensing.domain.licence.events import (
    LicenceReinstated,
    LicenceRevoked,
    LicenceSuspended,
)
from services.licensing.domain.licence.rules import (
    ACTIVE,
    KIND_CODES,
    SUSPENDED,
    LicenceRules,
    licence_number,
)
from services.licensing.projections import licences, sequence_next
from services.licensing.records import officers_listing, public_listing
from services.licensing.schemas.applications import ReasonIn
from services.licensing.schemas.licences import RenewalDecisionIn, RenewalIn

LICENCE_COMMANDS = {
    "suspend": (ReasonIn, lambda b, a: SuspendLicence(actor=a, reason=b["reason"])),
    "reinstate": (ReasonIn, lambda b, a: ReinstateLicence(actor=a, reason=b["reason"])),
    "revoke": (ReasonIn, lambda b, a: RevokeLicence(actor=a, reason=b["reason"])),
    "renewals": (
        RenewalIn,
        lambda b, a: RequestRenewal(actor=a, items=tuple(b.get("items") or ())),
    ),
    "renewal-decision": (
        RenewalDecisionIn,
        lambda b, a: DecideRenewal(actor=a, outcome=b["outcome"], reason=b["reason"]),
    ),
}
# A licence event on a use registration certificate -> the command it makes of its unit.
EQUIPMENT_EFFECTS: dict[type[Event], Callable[[Any, str], Command]] = {
    LicenceSuspended: lambda e, a: de.SuspendEquipment(actor=a, reason=e.reason),
    LicenceReinstated: lambda e, a: de.ResumeEquipment(actor=a, reason=e.reason),
    LicenceRevoked: lambda e, a: de.CancelEquipment(actor=a, reason=e.reason),
}


class Licensing:
    def __init__(self, repo: Repository, now: datetime, rules: LicenceRules):
        self.repo, self.now, self.rules = repo, now, rules
        self.today = local_date(now)

    @property
    def conn(self):
        return self.repo.conn

    def actor(self) -> str:
        return self.repo.actor

    # --- approval -> licence and register --------------------------------------------

    def prepare(self, app: Application, command: Approve) -> str | None:
        """Check what an approval needs and allocate its licence number (None: a filing)."""
        # Approve was allowed: the application was received, with its kind and bureau.
        assert app.kind is not None and app.bureau is not None
        if app.kind == "construction_notice":
            check_construction(self.conn, {"subject": app.subject_data}, as_conflict=True)
            return None
        if app.kind == "use_registration":
            code = app.subject_data["equipment_code"]
            reason = app.subject_data["reason"]
            eq = self.repo.load(de.Equipment, code)
            if reason == "first_use":
                if eq.version:
                    raise Conflict(f"equipment {code} is already registered ({eq.status})")
            elif not eq.version or eq.status == de.CANCELLED:
                raise Conflict(f"equipment {code} is not registered: a {reason} needs it")
            elif reason == "resume_after_suspension" and eq.status != de.SUSPENDED:
                raise Conflict(f"equipment {code} is {eq.status}, not suspended")
            elif reason == "transfer":
                self._check_transfer(app, eq)
            else:
                self._check_user(app, eq, reason)
            if eq.version and eq.record.get("licence_no") and reason != "transfer":
                return eq.record["licence_no"]
        year = self.today.year
        seq = sequence_next(self.conn, f"{KIND_CODES[app.kind]}-{app.bureau}-{year}")
        return licence_number(app.kind, app.bureau, year, seq)

    def _check_transfer(self, app: Application, eq: de.Equipment) -> None:
        """A transfer (过户) passes a unit in use to another user unit."""
        code = eq.code
        if eq.status != de.REGISTERED:
            raise Conflict(
                f"equipment {code} is {eq.status}: only a unit in use can be transferred"
            )
        new_user = app.applicant_data.get("uscc")
        if new_user and new_user == (eq.record.get("user") or {}).get("uscc"):
            raise Conflict(f"equipment {code} is already used by {new_user}: nothing to transfer")

    @staticmethod
    def _check_user(app: Application, eq: de.Equipment, reason: str) -> None:
        """Only a transfer changes a unit's user: every other use registration of a registered
        unit is applied for by its user (a change would otherwise hand the unit over)."""
        user = (eq.record.get("user") or {}).get("uscc")
        applicant = app.applicant_data.get("uscc")
        if user is None and reason == "resume_after_suspension":
            return  # resuming names no user: nothing is handed over
        if applicant != user:
            used_by = f"used by {user}" if user else "used by a user the register does not know"
            raise Conflict(
                f"equipment {eq.code} is {used_by}: a {reason} is applied for by its user; "
                f"a new user ({applicant}) applies for a transfer"
            )

    def issue(self, app: Application, approved: ApplicationApproved) -> None:
        """Issue the licence of an approval and update the register for a use registration.
        A transfer issues the new user a certificate of its own and closes the old user's."""
        no = approved.licence_no
        if no is not None:
            licence = self.repo.load(Licence, no)
            if not licence.version:
                self._issue_licence(app, approved, licence)
            elif self._resumes_suspended_certificate(app, licence):
                # The unit keeps its certificate, which resumes with it: unit and certificate
                # never disagree.
                command = ReinstateLicence(
                    actor=approved.actor, reason=f"use registration {app.id}: resumed"
                )
                self.repo.decide_and_save(no, licence, command, self.now, self.rules)
        if app.kind == "use_registration":
            if app.subject_data["reason"] == "transfer":
                self._close_transferred(app, approved)
            self._follow_relocation(app, approved, self._register(app, approved))

    @staticmethod
    def _resumes_suspended_certificate(app: Application, licence: Licence) -> bool:
        return (
            app.kind == "use_registration"
            and app.subject_data["reason"] == "resume_after_suspension"
            and licence.kind == "use_registration"
            and licence.status == SUSPENDED
        )

    def _close_transferred(self, app: Application, approved: ApplicationApproved) -> None:
        eq = self.repo.load(de.Equipment, app.subject_data["equipment_code"])
        old_no = eq.record.get("licence_no")
        if not old_no or old_no == approved.licence_no:
            return
        old = self.repo.load(Licence, old_no)
        if old.status != ACTIVE:
            return  # nothing in force to close (a unit registered without a certificate)
        new_no, app_id = approved.licence_no, app.id
        # prepare numbered the approval (a use registration is never a filing); a received
        # application has its id.
        assert new_no is not None and app_id is not None
        command = TransferLicence(
            actor=approved.actor,
            to_licence_no=new_no,
            to_holder=self._holder(app),
            application_id=app_id,
        )
        self.repo.decide_and_save(old_no, old, command, self.now, self.rules)

    def _follow_relocation(
        self, app: Application, approved: ApplicationApproved, changes: list[KitEvent]
    ) -> None:
        """A unit relocated to a place of another bureau is supervised there from now on, and
        so is its certificate: the new place's bureau (``FTZ`` inside the zone, else its
        district's) acts on both, whoever issued the certificate."""
        if not any(
            isinstance(e, de.EquipmentChanged) and (e.district or e.in_ftz is not None)
            for e in changes
        ):
            return
        eq = self.repo.load(de.Equipment, app.subject_data["equipment_code"])
        no = eq.record.get("licence_no")
        if not no:
            return  # no certificate: the unit's place gives its bureau already
        licence = self.repo.load(Licence, no)
        if licence.status not in (ACTIVE, SUSPENDED):
            return
        place = bureau_of_place(eq.record.get("district"), bool(eq.record.get("in_ftz")))
        command = MoveSupervision(
            actor=approved.actor, to_bureau=place, reason=f"relocation ({app.id})"
        )
        self.repo.decide_and_save(no, licence, command, self.now, self.rules)

    def _holder(self, app: Application) -> dict:
        applicant = app.applicant_data
        if app.kind == "operator_certificate":
            holder = {"type": "person"}
            id_number = (app.person or {}).get("id_number")
            if isinstance(id_number, str) and id_number != ERASED:
                # The data subject, not the number: what officers search a person by.
                holder["subject"] = self.repo.subject_id(id_number)
            if applicant.get("type") == "organization":
                holder.update(employer_uscc=applicant["uscc"], employer_name=applicant["name"])
            return holder
        if applicant.get("type") == "person":
            return {"type": "person"}
        # Where the unit is: credit and the blacklist publish it as the unit's district (the
        # city bureau, which issues most production licences, is no district's).
        return {
            "type": "organization",
            "uscc": applicant["uscc"],
            "name": applicant["name"],
            "district": (app.location or {}).get("district"),
        }

    def _issue_licence(self, app, approved, licence: Licence) -> None:
        subject = app.subject_data
        command = IssueLicence(
            actor=approved.actor,
            licence_no=approved.licence_no,
            kind=app.kind,
            bureau=app.bureau,
            application_id=app.id,
            decided_on=approved.decided_on,
            holder=self._holder(app),
            person=app.person,
            valid_until=approved.valid_until,
            scope=tuple(subject.get("scope") or ()),
            level=subject.get("level"),
            equipment_code=subject.get("equipment_code")
            if app.kind == "use_registration"
            else None,
            items=tuple(subject.get("items") or ()),
        )
        self.repo.decide_and_save(approved.licence_no, licence, command, self.now, self.rules)

    def _register(self, app: Application, approved: ApplicationApproved) -> list[KitEvent]:
        subject = app.subject_data
        code, reason = subject["equipment_code"], subject["reason"]
        equipment = subject.get("equipment") or {}
        applicant = app.applicant_data
        user = {"uscc": applicant.get("uscc"), "name": applicant.get("name")}
        eq = self.repo.load(de.Equipment, code)
        actor = approved.actor
        if reason == "first_use":
            parsed = parse_equipment_code(code, self.today)
            record = {
                "equipment_code": code,
                "district": app.location["district"],
                "in_ftz": bool(app.location.get("in_ftz")),
                "address": app.location.get("address"),
                "registered_on": approved.decided_on,
                "maintenance_unit_uscc": subject.get("maintenance_unit_uscc"),
                "user": user,
                "manufacture_year": parsed.year,
                "rated_speed_mps": equipment.get("rated_speed_mps"),
                "rated_load_kg": equipment.get("rated_load_kg"),
                "licence_no": approved.licence_no,
                "equipment_class": parsed.equipment_class,
                "variety": equipment.get("variety"),
                "product_name": equipment.get("product_name"),
                "model": equipment.get("model"),
                "maker": equipment.get("maker"),
                "legacy_code": subject.get("legacy_code"),
                "application_id": app.id,
            }
            command: Any = de.RegisterEquipment(actor=actor, record=record)
        elif reason == "resume_after_suspension":
            command = de.ResumeEquipment(actor=actor, reason=reason, licence_no=approved.licence_no)
        else:
            changes = {
                "district": app.location["district"],
                "in_ftz": bool(app.location.get("in_ftz")),
                "address": app.location.get("address"),
                "user": user,
                "maintenance_unit_uscc": subject.get("maintenance_unit_uscc"),
                "rated_speed_mps": equipment.get("rated_speed_mps"),
                "rated_load_kg": equipment.get("rated_load_kg"),
                "licence_no": approved.licence_no,
            }
            command = de.ChangeEquipment(actor=actor, changes=changes, reason=reason)
        return self.repo.decide_and_save(code, eq, command, self.now)

    # --- licence commands -------------------------------------------------------------

    def command(
        self, licence_no: str, name: str, body: dict | None, expected_version: int | None = None
    ) -> dict:
        if name not in LICENCE_COMMANDS:
            raise NotFound(f"no command {name}")
        schema, build = LICENCE_COMMANDS[name]
        data = load(schema, body, name)
        licence = self.repo.load(Licence, licence_no, must_exist="licence")
        if expected_version is not None and expected_version != licence.version:
            raise PreconditionFailed(
                f"the licence is at version {licence.version}, not {expected_version}"
            )
        events = self.repo.decide_and_save(
            licence_no, licence, build(data, self.actor()), self.now, self.rules
        )
        self._equipment_effects(licence, events)
        return licence.view()

    def _equipment_effects(self, licence: Licence, events: list) -> None:
        if licence.kind != "use_registration" or not licence.equipment_code:
            return
        for event in events:
            effect = EQUIPMENT_EFFECTS.get(type(event))
            if effect is None:
                continue
            eq = self.repo.load(de.Equipment, licence.equipment_code)
            if eq.version:
                self.repo.decide_and_save(
                    licence.equipment_code, eq, effect(event, event.actor), self.now
                )

    # --- reads ------------------------------------------------------------------------

    def get(self, licence_no: str, as_of: datetime | None = None) -> dict:
        return self.repo.load(Licence, licence_no, must_exist="licence", as_of=as_of).view()

    def scope(self, licence_no: str) -> dict:
        """``bureau``: the bureau that acts on the licence (its supervisor); ``issued_by``."""
        c = licences.c
        row = self.conn.execute(
            select(c.bureau, c.supervised_by, c.holder_uscc, c.status, c.version).where(
                c.licence_no == licence_no
            )
        ).first()
        if row is None:
            raise NotFound(f"licence {licence_no} not found")
        return {
            "licence_no": licence_no,
            "bureau": row.supervised_by,
            "issued_by": row.bureau,
            "holder_uscc": row.holder_uscc,
            "status": row.status,
            "version": row.version,
        }

    def list(
        self,
        filters: dict,
        limit: int = 50,
        after: list | None = None,
        names_for: str | None = None,
    ) -> list[dict]:
        """Licences as officers and holders list them (``records.officers_listing``)."""
        return officers_listing(self.repo, filters, limit, after, names_for)

    # ``builtins.list``: in this class body ``list`` is the method above.
    def public(
        self,
        holder: str | None,
        limit: int = 50,
        after: builtins.list | None = None,
        kind: str | None = None,
        licence_no: str | None = None,
    ) -> builtins.list:
        return public_listing(self.conn, holder, limit, after, kind, licence_no)


# --- time -----------------------------------------------------------------------------------


def _due_licences(conn, after: str | None, limit: int, now: datetime) -> list[str]:
    c = licences.c
    q = select(c.licence_no).where(
        c.next_check_on <= local_date(now), c.status.in_([ACTIVE, SUSPENDED])
    )
    if after is not None:
        q = q.where(c.licence_no > after)
    return list(conn.execute(q.order_by(c.licence_no).limit(limit)).scalars())


def licence_sweep(rules: LicenceRules, batch: int = 200) -> Sweep:
    """Reminders, deemed renewals, lapsed items and expiries that are due. A licence found due
    with nothing to do gets its row written again, so its check date moves on."""
    return Sweep(
        "licences",
        Licence,
        _due_licences,
        lambda licence, now: SweepLicence(),
        batch,
        args=(rules,),
        dated=True,
        refresh_idle=True,
    )
