"""Licences and the equipment register: issue on approval, licence commands, renewal, the
register's lifecycle, reads, and the licence sweep (deemed renewal, expiry, operator reviews).
The construction notice's check is in ``construction``, the published records in ``records``."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from infra.errors import Conflict, NotFound, PreconditionFailed
from infra.eventstore import ConcurrencyError
from infra.identifiers import parse_equipment_code
from services.licensing import schemas
from services.licensing.construction import check_construction
from services.licensing.domain import application as da
from services.licensing.domain import common as dc
from services.licensing.domain import equipment as de
from services.licensing.domain import licence as dl
from services.licensing.projections import licences, sequence_next
from services.licensing.records import licence_summary, public_record
from services.licensing.repository import Repository, actor_name, domain_errors, event_id_for

LICENCE_COMMANDS = {
    "suspend": (schemas.ReasonIn, lambda b, a: dl.SuspendLicence(actor=a, reason=b["reason"])),
    "reinstate": (schemas.ReasonIn, lambda b, a: dl.ReinstateLicence(actor=a, reason=b["reason"])),
    "revoke": (schemas.ReasonIn, lambda b, a: dl.RevokeLicence(actor=a, reason=b["reason"])),
    "renewals": (
        schemas.RenewalIn,
        lambda b, a: dl.RequestRenewal(actor=a, items=tuple(b.get("items") or ())),
    ),
    "renewal-decision": (
        schemas.RenewalDecisionIn,
        lambda b, a: dl.DecideRenewal(actor=a, outcome=b["outcome"], reason=b["reason"]),
    ),
}
# A licence event on a use registration certificate -> the command it makes of its unit.
EQUIPMENT_EFFECTS: dict[type[dc.Event], Callable[[Any, str], dc.Command]] = {
    dl.LicenceSuspended: lambda e, a: de.SuspendEquipment(actor=a, reason=e.reason),
    dl.LicenceReinstated: lambda e, a: de.ResumeEquipment(actor=a, reason=e.reason),
    dl.LicenceRevoked: lambda e, a: de.CancelEquipment(actor=a, reason=e.reason),
}


class Licensing:
    def __init__(self, repo: Repository, now: datetime, rules: dl.LicenceRules):
        self.repo, self.now, self.rules = repo, now, rules
        self.today = da.local_date(now)

    @property
    def conn(self):
        return self.repo.conn

    def actor(self) -> str:
        return actor_name(self.repo.meta.get("actor") or {})

    # --- approval -> licence and register --------------------------------------------

    def prepare(self, app: da.Application, command: da.Approve) -> str | None:
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
            if eq.version and eq.record.get("licence_no") and reason != "transfer":
                return eq.record["licence_no"]
        year = self.today.year
        seq = sequence_next(self.conn, f"{dl.KIND_CODES[app.kind]}-{app.bureau}-{year}")
        return dl.licence_number(app.kind, app.bureau, year, seq)

    def _check_transfer(self, app: da.Application, eq: de.Equipment) -> None:
        """A transfer (过户) passes a unit in use to another user unit."""
        code = eq.code
        if eq.status != de.REGISTERED:
            raise Conflict(
                f"equipment {code} is {eq.status}: only a unit in use can be transferred"
            )
        new_user = app.applicant_data.get("uscc")
        if new_user and new_user == (eq.record.get("user") or {}).get("uscc"):
            raise Conflict(f"equipment {code} is already used by {new_user}: nothing to transfer")

    def issue(self, app: da.Application, approved: da.ApplicationApproved) -> None:
        """Issue the licence of an approval and update the register for a use registration.
        A transfer issues the new user a certificate of its own and closes the old user's."""
        no = approved.licence_no
        if no is not None:
            licence = self.repo.load(dl.Licence, no)
            if not licence.version:
                self._issue_licence(app, approved, licence)
            elif self._resumes_suspended_certificate(app, licence):
                # The unit keeps its certificate, which resumes with it: unit and certificate
                # never disagree.
                command = dl.ReinstateLicence(
                    actor=approved.actor, reason=f"use registration {app.id}: resumed"
                )
                self.repo.decide_and_save(no, licence, command, self.now, self.rules)
        if app.kind == "use_registration":
            if app.subject_data["reason"] == "transfer":
                self._close_transferred(app, approved)
            self._register(app, approved)

    @staticmethod
    def _resumes_suspended_certificate(app: da.Application, licence: dl.Licence) -> bool:
        return (
            app.kind == "use_registration"
            and app.subject_data["reason"] == "resume_after_suspension"
            and licence.kind == "use_registration"
            and licence.status == dl.SUSPENDED
        )

    def _close_transferred(self, app: da.Application, approved: da.ApplicationApproved) -> None:
        eq = self.repo.load(de.Equipment, app.subject_data["equipment_code"])
        old_no = eq.record.get("licence_no")
        if not old_no or old_no == approved.licence_no:
            return
        old = self.repo.load(dl.Licence, old_no)
        if old.status != dl.ACTIVE:
            return  # nothing in force to close (a unit registered without a certificate)
        new_no, app_id = approved.licence_no, app.id
        # prepare numbered the approval (a use registration is never a filing); a received
        # application has its id.
        assert new_no is not None and app_id is not None
        command = dl.TransferLicence(
            actor=approved.actor,
            to_licence_no=new_no,
            to_holder=self._holder(app),
            application_id=app_id,
        )
        self.repo.decide_and_save(old_no, old, command, self.now, self.rules)

    def _holder(self, app: da.Application) -> dict:
        applicant = app.applicant_data
        if app.kind == "operator_certificate":
            holder = {"type": "person"}
            if applicant.get("type") == "organization":
                holder.update(employer_uscc=applicant["uscc"], employer_name=applicant["name"])
            return holder
        if applicant.get("type") == "person":
            return {"type": "person"}
        return {"type": "organization", "uscc": applicant["uscc"], "name": applicant["name"]}

    def _issue_licence(self, app, approved, licence: dl.Licence) -> None:
        subject = app.subject_data
        command = dl.IssueLicence(
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

    def _register(self, app: da.Application, approved: da.ApplicationApproved) -> None:
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
        self.repo.decide_and_save(code, eq, command, self.now)

    # --- licence commands -------------------------------------------------------------

    def command(
        self, licence_no: str, name: str, body: dict | None, expected_version: int | None = None
    ) -> dict:
        if name not in LICENCE_COMMANDS:
            raise NotFound(f"no command {name}")
        schema, build = LICENCE_COMMANDS[name]
        data = schemas.load(schema, body, name)
        licence = self.repo.load(dl.Licence, licence_no, must_exist="licence")
        if expected_version is not None and expected_version != licence.version:
            raise PreconditionFailed(
                f"the licence is at version {licence.version}, not {expected_version}"
            )
        events = self.repo.decide_and_save(
            licence_no, licence, build(data, self.actor()), self.now, self.rules
        )
        self._equipment_effects(licence, events)
        return licence.view()

    def _equipment_effects(self, licence: dl.Licence, events: list) -> None:
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
        return self.repo.load(dl.Licence, licence_no, must_exist="licence", as_of=as_of).view()

    def scope(self, licence_no: str) -> dict:
        row = self.conn.execute(
            select(
                licences.c.bureau, licences.c.holder_uscc, licences.c.status, licences.c.version
            ).where(licences.c.licence_no == licence_no)
        ).first()
        if row is None:
            raise NotFound(f"licence {licence_no} not found")
        return {
            "licence_no": licence_no,
            "bureau": row.bureau,
            "holder_uscc": row.holder_uscc,
            "status": row.status,
            "version": row.version,
        }

    def list(self, filters: dict, limit: int = 50, after: list | None = None) -> list[dict]:
        c = licences.c
        q = select(licences)
        if filters.get("holder"):
            q = q.where(c.holder_uscc == filters["holder"])
        for name in ("kind", "status", "bureau"):
            if filters.get(name):
                q = q.where(c[name] == filters[name])
        if after:
            q = q.where(c.licence_no > after[0])
        rows = self.conn.execute(q.order_by(c.licence_no).limit(limit)).all()
        return [licence_summary(r) for r in rows]

    # ``builtins.list``: in this class body ``list`` is the method above.
    def public(
        self, holder: str | None, limit: int = 50, after: builtins.list | None = None
    ) -> builtins.list:
        c = licences.c
        q = select(licences)
        if holder:
            text = holder.strip()
            if len(text) == 18 and text.isalnum():
                q = q.where(c.holder_uscc == text.upper(), c.holder_type == "organization")
            else:
                escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(
                    c.holder_name.like(f"%{escaped}%", escape="\\"), c.holder_type == "organization"
                )
        if after:
            q = q.where(c.licence_no > after[0])
        rows = self.conn.execute(q.order_by(c.licence_no).limit(limit)).all()
        return [public_record(r) for r in rows]

    # --- time ---------------------------------------------------------------------------

    def sweep(self, batch: int = 200) -> int:
        """Reminders, deemed renewals, lapsed items and expiries that are due. Idempotent:
        the events' ids derive from the licence and its version."""
        due = (
            self.conn.execute(
                select(licences.c.licence_no)
                .where(
                    licences.c.next_check_on <= self.today,
                    licences.c.status.in_([dl.ACTIVE, dl.SUSPENDED]),
                )
                .order_by(licences.c.next_check_on)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        done = 0
        for no in due:
            try:
                with self.conn.begin_nested():
                    licence = self.repo.load(dl.Licence, no)
                    with domain_errors():
                        events = licence.decide(dl.SweepLicence(), self.now, self.rules)
                    ids = [
                        event_id_for(no, licence.version + i + 1, e.type)
                        for i, e in enumerate(events)
                    ]
                    if self.repo.save(no, licence, events, ids):
                        done += 1
                    else:
                        # Nothing to do after all: move the check date so it is not re-read.
                        from services.licensing.projections import save_row

                        save_row(self.conn, licence, self.rules)
            except ConcurrencyError:
                continue
        return done
