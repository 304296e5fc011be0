"""Applications: submission with routing, the API's commands, views, lists, deemed acceptance.

The use cases behind the service's RPC methods; the rules are in ``domain.application``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from infra.errors import Invalid, NotFound, PreconditionFailed
from infra.eventstore import ConcurrencyError
from services.licensing import schemas
from services.licensing.domain import application as da
from services.licensing.domain import common as dc
from services.licensing.domain import delegation as dd
from services.licensing.projections import applications, delegations
from services.licensing.repository import Repository, domain_errors, event_id_for

# API command name -> (body schema, domain command builder)
COMMANDS: dict[str, tuple[type | None, Callable[[dict, str], dc.Command]]] = {
    "accept": (None, lambda b, a: da.Accept(actor=a)),
    "not-accept": (schemas.ReasonIn, lambda b, a: da.NotAccept(actor=a, reason=b["reason"])),
    "request-correction": (
        schemas.CorrectionIn,
        lambda b, a: da.RequestCorrection(actor=a, items=tuple(b["items"])),
    ),
    "supplement": (
        schemas.MaterialsIn,
        lambda b, a: da.Supplement(actor=a, materials=tuple(b["materials"])),
    ),
    "review": (schemas.OpinionIn, lambda b, a: da.Review(actor=a, opinion=b["opinion"])),
    "suspend-clock": (
        schemas.SuspendClockIn,
        lambda b, a: da.SuspendClock(actor=a, reason=b["reason"], notice_ref=b["notice_ref"]),
    ),
    "resume-clock": (None, lambda b, a: da.ResumeClock(actor=a)),
    "extend": (schemas.ReasonIn, lambda b, a: da.Extend(actor=a, reason=b["reason"])),
    "approve": (
        schemas.ApproveIn,
        lambda b, a: da.Approve(
            actor=a,
            opinion=b["opinion"],
            valid_until=date.fromisoformat(b["valid_until"]) if b.get("valid_until") else None,
        ),
    ),
    "refuse": (
        schemas.RefuseIn,
        lambda b, a: da.Refuse(actor=a, reason=b["reason"], legal_basis=b["legal_basis"]),
    ),
    "withdraw": (schemas.WithdrawIn, lambda b, a: da.Withdraw(actor=a, reason=b.get("reason"))),
    "stop-work": (schemas.ReasonIn, lambda b, a: da.OrderWorkStop(actor=a, reason=b["reason"])),
    "deliver-certificate": (
        schemas.CertificateDeliveryIn,
        lambda b, a: da.DeliverCertificate(actor=a, reference=b.get("reference")),
    ),
}
APPLICANT_COMMANDS = ("supplement", "withdraw")
log = logging.getLogger("sesp.licensing")


def log_provisional(app: da.Application) -> None:
    """A deadline computed for a year without an official schedule is said so, never silent."""
    if app.provisional:
        log.warning(
            "application %s: provisional deadline(s) %s (a year without a configured "
            "holiday schedule; weekends only)",
            app.id,
            app.deadlines,
        )


def view(app: da.Application, today: date, calendar: Any) -> dict[str, Any]:
    """The application as ``GET /v1/applications/{id}`` shows it."""
    assert app.received_on is not None  # only a received application is shown
    return {
        "id": app.id,
        "kind": app.kind,
        "status": str(app.status),
        "bureau": app.bureau,
        "applicant": app.applicant,
        "location": app.location,
        "subject": app.subject,
        "materials": app.materials,
        "received_on": app.received_on.isoformat(),
        "version": app.version,
        "deadlines": {**app.deadlines, "provisional": app.provisional},
        "clock": {
            "running": app.clock_running,
            "working_days_used": app.working_days_used(today, calendar),
            "suspended": app.suspended,
            "extended": app.extended,
        },
        "overdue": app.overdue(today),
        "deemed_accepted": app.deemed_accepted,
        "work_stopped": app.work_stopped,
        "certificate_delivered_on": (
            app.certificate_delivered_on.isoformat() if app.certificate_delivered_on else None
        ),
        "correction_items": list(app.correction_items),
        "timeline": list(app.timeline),
        "licence_no": app.licence_no,
        "valid_until": app.valid_until.isoformat() if app.valid_until else None,
    }


def summary(row: Any, today: date) -> dict[str, Any]:
    """One row of ``GET /v1/applications``."""
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "bureau": row.bureau,
        "applicant": {"uscc": row.applicant_uscc, "name": row.applicant_name}
        if row.applicant_uscc
        else {"type": "person"},
        "location": {"district": row.district, "in_ftz": row.in_ftz},
        "received_on": row.received_on.isoformat(),
        "deadlines": {
            "intake_due": iso(row.intake_due),
            "decision_due": iso(row.decision_due),
            "certificate_due": iso(row.certificate_due),
            "provisional": row.provisional,
        },
        "clock_running": row.clock_running,
        "overdue": row.late_after is not None and row.late_after < today,
        "licence_no": row.licence_no,
        "version": row.version,
    }


def grants(conn) -> list[dd.Grant]:
    return [
        dd.Grant(r.bureau, json.loads(r.kinds), r.effective_from, r.revoked_from)
        for r in conn.execute(select(delegations))
    ]


class Applications:
    def __init__(self, repo: Repository, now: datetime, calendar: Any, on_approved: Any):
        self.repo, self.now, self.calendar = repo, now, calendar
        self.today = da.local_date(now)
        self.on_approved = on_approved

    def actor(self) -> str:
        from services.licensing.repository import actor_name

        return actor_name(self.repo.meta.get("actor") or {})

    # --- submission ---

    def submit(self, body: dict, check_subject: Callable[[dict], None] | None = None) -> dict:
        data = schemas.load(schemas.ApplicationIn, body, "application")
        if check_subject is not None:
            check_subject(data)
        route = dd.route_application(
            data["kind"], data["location"], self.today, grants(self.repo.conn)
        )
        app_id = str(uuid.uuid4())
        app = da.Application()
        command = da.ReceiveApplication(
            actor=self.actor(),
            application_id=app_id,
            kind=data["kind"],
            bureau=route.bureau,
            applicant=data["applicant"],
            location=data["location"],
            subject=data["subject"],
            materials=tuple(data["materials"]),
        )
        self.repo.decide_and_save(app_id, app, command, self.now, self.calendar)
        log_provisional(app)
        return view(app, self.today, self.calendar)

    # --- commands ---

    def command(
        self, app_id: str, name: str, body: dict | None, expected_version: int | None = None
    ) -> dict:
        if name not in COMMANDS:
            raise NotFound(f"no command {name}")
        schema, build = COMMANDS[name]
        if schema is None:
            if body:
                raise Invalid("this command takes no body", {k: ["Unknown field."] for k in body})
            data: dict = {}
        else:
            data = schemas.load(schema, body, name)
        app = self.repo.load(da.Application, app_id, must_exist="application")
        if expected_version is not None and expected_version != app.version:
            raise PreconditionFailed(
                f"the application is at version {app.version}, not {expected_version}"
            )
        command = build(data, self.actor())
        if isinstance(command, da.Approve):
            with domain_errors():
                app.decide(command, self.now, self.calendar)  # refused here before any number
            licence_no = self.on_approved.prepare(app, command)
            command = dataclasses.replace(command, licence_no=licence_no)
        with domain_errors():
            events = app.decide(command, self.now, self.calendar)
        self.repo.save(app_id, app, events, [self._event_id(app, e) for e in events])
        for event in events:
            if isinstance(event, da.ApplicationApproved):
                self.on_approved.issue(app, event)
        if events:
            log_provisional(app)
        return view(app, self.today, self.calendar)

    @staticmethod
    def _event_id(app: da.Application, event: dc.Event) -> str | None:
        # Deemed acceptance is one fact whoever notices it (sweep or command): one id.
        if isinstance(event, da.DeemedAccepted):
            return event_id_for(app.id, "deemed", event.intake_due)
        return None

    # --- reads ---

    def get(self, app_id: str, as_of: datetime | None = None) -> dict:
        """The application now, or as it stood at ``as_of`` (its clock read on that day)."""
        app = self.repo.load(da.Application, app_id, must_exist="application", as_of=as_of)
        today = min(self.today, da.local_date(as_of)) if as_of else self.today
        return view(app, today, self.calendar)

    def scope(self, app_id: str) -> dict:
        row = self.repo.conn.execute(
            select(
                applications.c.bureau,
                applications.c.applicant_uscc,
                applications.c.status,
                applications.c.version,
            ).where(applications.c.id == app_id)
        ).first()
        if row is None:
            raise NotFound(f"application {app_id} not found")
        return {
            "id": app_id,
            "bureau": row.bureau,
            "applicant_uscc": row.applicant_uscc,
            "status": row.status,
            "version": row.version,
        }

    def list(self, filters: dict, limit: int = 50, after: list | None = None) -> list[dict]:
        c = applications.c
        q = select(applications)
        for name in ("bureau", "status", "kind"):
            if filters.get(name):
                q = q.where(c[name] == filters[name])
        if filters.get("applicant"):
            q = q.where(c.applicant_uscc == filters["applicant"])
        if filters.get("overdue") is True:
            q = q.where(c.late_after < self.today)
        elif filters.get("overdue") is False:
            q = q.where(or_(c.late_after.is_(None), c.late_after >= self.today))
        if after:
            on, last_id = date.fromisoformat(after[0]), after[1]
            q = q.where(or_(c.received_on > on, and_(c.received_on == on, c.id > last_id)))
        rows = self.repo.conn.execute(q.order_by(c.received_on, c.id).limit(limit)).all()
        return [summary(r, self.today) for r in rows]

    # --- time ---

    def sweep(self, batch: int = 200) -> int:
        """Deemed acceptance of every application whose intake period has passed (idempotent:
        a second run, or a second process, records nothing more)."""
        conn = self.repo.conn
        due = (
            conn.execute(
                select(applications.c.id)
                .where(applications.c.status == "received", applications.c.late_after < self.today)
                .order_by(applications.c.late_after)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        done = 0
        for app_id in due:
            try:
                with conn.begin_nested():
                    app = self.repo.load(da.Application, app_id)
                    with domain_errors():
                        events = app.decide(da.DeemAcceptance(), self.now, self.calendar)
                    ids = [self._event_id(app, e) for e in events]
                    if self.repo.save(app_id, app, events, ids):
                        done += 1
            except ConcurrencyError:
                continue  # another worker recorded it
        return done

    def recompute(self, batch: int = 200) -> int:
        """Recompute provisional open deadlines with the current calendar (a year's schedule
        was configured since): nothing is recorded while the answer stays the same."""
        conn = self.repo.conn
        ids = (
            conn.execute(
                select(applications.c.id)
                .where(
                    applications.c.provisional.is_(True),
                    applications.c.status.in_(["received", "accepted", "approved"]),
                )
                .order_by(applications.c.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        done = 0
        for app_id in ids:
            try:
                with conn.begin_nested():
                    app = self.repo.load(da.Application, app_id)
                    with domain_errors():
                        events = app.decide(da.RecomputeDeadlines(), self.now, self.calendar)
                    if self.repo.save(app_id, app, events):
                        done += 1
            except ConcurrencyError:
                continue
        return done
