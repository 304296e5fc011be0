"""Applications: submission with routing, the API's commands, views, lists, deemed acceptance.

The use cases behind the service's RPC methods; the rules are in ``domain.application``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, tuple_

from infra.clock import local_date
from infra.domain import Event, derived_id
from infra.errors import Invalid, NotFound, PreconditionFailed
from infra.repository import Repository, domain_errors
from infra.schemas import load
from infra.sweep import Sweep
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.application.commands import (
    Accept,
    ApplicationCommand,
    Approve,
    DeemAcceptance,
    DeliverCertificate,
    Extend,
    NotAccept,
    OrderWorkStop,
    ReceiveApplication,
    RecomputeDeadlines,
    Refuse,
    RequestCorrection,
    ResumeClock,
    Review,
    Supplement,
    SuspendClock,
    Withdraw,
)
from services.licensing.domain.application.events import ApplicationApproved, DeemedAccepted
from services.licensing.domain.delegation import Grant, route_application
from services.licensing.domain.licence.rules import default_valid_until
from services.licensing.projections import applications, delegations, licences
from services.licensing.schemas.applications import (
    ApplicationIn,
    ApproveIn,
    CertificateDeliveryIn,
    CorrectionIn,
    MaterialsIn,
    OpinionIn,
    ReasonIn,
    RefuseIn,
    SuspendClockIn,
    WithdrawIn,
)

# API command name -> (body schema, domain command builder)
COMMANDS: dict[str, tuple[type | None, Callable[[dict, str], ApplicationCommand]]] = {
    "accept": (None, lambda b, a: Accept(actor=a)),
    "not-accept": (ReasonIn, lambda b, a: NotAccept(actor=a, reason=b["reason"])),
    "request-correction": (
        CorrectionIn,
        lambda b, a: RequestCorrection(actor=a, items=tuple(b["items"])),
    ),
    "supplement": (
        MaterialsIn,
        lambda b, a: Supplement(actor=a, materials=tuple(b["materials"])),
    ),
    "review": (OpinionIn, lambda b, a: Review(actor=a, opinion=b["opinion"])),
    "suspend-clock": (
        SuspendClockIn,
        lambda b, a: SuspendClock(actor=a, reason=b["reason"], notice_ref=b["notice_ref"]),
    ),
    "resume-clock": (None, lambda b, a: ResumeClock(actor=a)),
    "extend": (ReasonIn, lambda b, a: Extend(actor=a, reason=b["reason"])),
    "approve": (
        ApproveIn,
        lambda b, a: Approve(
            actor=a,
            opinion=b["opinion"],
            valid_until=date.fromisoformat(b["valid_until"]) if b.get("valid_until") else None,
        ),
    ),
    "refuse": (
        RefuseIn,
        lambda b, a: Refuse(actor=a, reason=b["reason"], legal_basis=b["legal_basis"]),
    ),
    "withdraw": (WithdrawIn, lambda b, a: Withdraw(actor=a, reason=b.get("reason"))),
    "stop-work": (ReasonIn, lambda b, a: OrderWorkStop(actor=a, reason=b["reason"])),
    "deliver-certificate": (
        CertificateDeliveryIn,
        lambda b, a: DeliverCertificate(actor=a, reference=b.get("reference")),
    ),
}
APPLICANT_COMMANDS = ("supplement", "withdraw")
log = logging.getLogger("sesp.licensing")


def log_provisional(app: Application) -> None:
    """A deadline computed for a year without an official schedule is said so, never silent."""
    if app.provisional:
        log.warning(
            "application %s: provisional deadline(s) %s (a year without a configured "
            "holiday schedule; weekends only)",
            app.id,
            app.deadlines,
        )


def view(app: Application, today: date, calendar: Any) -> dict[str, Any]:
    """The application as ``GET /v1/applications/{id}`` shows it (timeline times in China
    Standard Time, its actors as role, bureau or credit code, and name: no token ids)."""
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
        "open_correction_items": list(app.open_correction_items),
        "decided_on": app.decided_on.isoformat() if app.decided_on else None,
        "decided_late": app.decided_late,
        "working_days_late": app.working_days_late,
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
        "decided_late": row.decided_late,
        "working_days_late": row.working_days_late,
        "licence_no": row.licence_no,
        "version": row.version,
    }


def grants(conn) -> list[Grant]:
    return [
        Grant(r.bureau, json.loads(r.kinds), r.effective_from, r.revoked_from)
        for r in conn.execute(select(delegations))
    ]


class Applications:
    def __init__(self, repo: Repository, now: datetime, calendar: Any, on_approved: Any):
        self.repo, self.now, self.calendar = repo, now, calendar
        self.today = local_date(now)
        self.on_approved = on_approved

    def actor(self) -> str:
        return self.repo.actor

    def by(self) -> dict[str, str] | None:
        """Who gives this worker's commands as timelines show them: role, bureau or credit
        code, and the token's name (the gateway's context); None for the system."""
        actor = self.repo.meta.get("actor") or {}
        role = actor.get("role")
        if not role or role == "system":
            return None
        return {k: str(actor[k]) for k in ("role", "bureau", "uscc", "name") if actor.get(k)}

    # --- submission ---

    def submit(self, body: dict, check_subject: Callable[[dict], None] | None = None) -> dict:
        data = load(ApplicationIn, body, "application")
        if check_subject is not None:
            check_subject(data)
        route = route_application(
            data["kind"], data["location"], self.today, grants(self.repo.conn)
        )
        app_id = self.repo.new_id("application")
        app = Application()
        command = ReceiveApplication(
            actor=self.actor(),
            by=self.by(),
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
        return self._view(app, self.today)

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
            data = load(schema, body, name)
        app = self.repo.load(Application, app_id, must_exist="application")
        if expected_version is not None and expected_version != app.version:
            raise PreconditionFailed(
                f"the application is at version {app.version}, not {expected_version}"
            )
        command = dataclasses.replace(build(data, self.actor()), by=self.by())
        if isinstance(command, Approve):
            # The validity the approval grants: the kind's term under the licence rules.
            assert app.kind is not None  # an approvable application was received
            term = default_valid_until(app.kind, self.today, self.on_approved.rules)
            command = dataclasses.replace(command, term_ends_on=term)
            with domain_errors():
                app.decide(command, self.now, self.calendar)  # refused here before any number
            licence_no = self.on_approved.prepare(app, command)
            command = dataclasses.replace(command, licence_no=licence_no)
        with domain_errors():
            events = app.decide(command, self.now, self.calendar)
        self.repo.save(app_id, app, events, [self._event_id(app, e) for e in events])
        for event in events:
            if isinstance(event, ApplicationApproved):
                self.on_approved.issue(app, event)
        if events:
            log_provisional(app)
        return self._view(app, self.today)

    @staticmethod
    def _event_id(app: Application, event: Event) -> str | None:
        return deemed_acceptance_id(app, event)

    # --- reads ---

    def get(self, app_id: str, as_of: datetime | None = None) -> dict:
        """The application now, or as it stood at ``as_of`` (its clock read on that day)."""
        app = self.repo.load(Application, app_id, must_exist="application", as_of=as_of)
        today = min(self.today, local_date(as_of)) if as_of else self.today
        return self._view(app, today)

    def _view(self, app: Application, today: date) -> dict[str, Any]:
        shown = view(app, today, self.calendar)
        if shown["valid_until"] is None and app.licence_no is not None:
            # Approvals recorded before they stated the validity granted (an operator's
            # certificate, a licence on its default term): the licence's own.
            valid_until = self.repo.conn.execute(
                select(licences.c.valid_until).where(licences.c.licence_no == app.licence_no)
            ).scalar()
            shown["valid_until"] = valid_until.isoformat() if valid_until else None
        return shown

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
        if filters.get("decided_late") is not None:
            q = q.where(c.decided_late.is_(bool(filters["decided_late"])))
        if after:
            # A row comparison: where the index range starts, not a filter on every row before.
            on, last_id = date.fromisoformat(after[0]), after[1]
            q = q.where(tuple_(c.received_on, c.id) > tuple_(on, last_id))
        rows = self.repo.conn.execute(q.order_by(c.received_on, c.id).limit(limit)).all()
        return [summary(r, self.today) for r in rows]


# --- time -----------------------------------------------------------------------------------


def deemed_acceptance_id(app: Application, event: Event) -> str | None:
    """Deemed acceptance is one fact whoever notices it (the sweep or a command): one id."""
    if isinstance(event, DeemedAccepted):
        return derived_id(app.id, "deemed", event.intake_due)
    return None


def _past_intake(conn, after: str | None, limit: int, now: datetime) -> list[str]:
    c = applications.c
    q = select(c.id).where(c.status == "received", c.late_after < local_date(now))
    if after is not None:
        q = q.where(c.id > after)
    return list(conn.execute(q.order_by(c.id).limit(limit)).scalars())


def _provisional(conn, after: str | None, limit: int) -> list[str]:
    c = applications.c
    q = select(c.id).where(
        c.provisional.is_(True), c.status.in_(["received", "accepted", "approved"])
    )
    if after is not None:
        q = q.where(c.id > after)
    return list(conn.execute(q.order_by(c.id).limit(limit)).scalars())


def deemed_acceptance(calendar: Any, batch: int = 200) -> Sweep:
    """Deemed acceptance of every application whose intake period has passed (idempotent:
    a second run, or a second process, records nothing more)."""
    return Sweep(
        "deemed acceptance",
        Application,
        _past_intake,
        lambda app, now: DeemAcceptance(),
        batch,
        args=(calendar,),
        dated=True,
        event_ids=lambda app, events: [deemed_acceptance_id(app, e) for e in events],
    )


def deadline_recomputation(calendar: Any, batch: int = 200) -> Sweep:
    """Provisional open deadlines recomputed with the current calendar (a year's schedule was
    configured since): nothing is recorded while the answer stays the same, so an application
    can stay due for long; the sweep's cursor walks on past it."""
    return Sweep(
        "deadline recomputation",
        Application,
        _provisional,
        lambda app, now: RecomputeDeadlines(),
        batch,
        args=(calendar,),
    )


def sweeps(calendar: Any) -> dict[str, Sweep]:
    """The time-driven rules of applications, by the name ``sweep_now`` reports them under."""
    return {
        "deemed_accepted": deemed_acceptance(calendar),
        "deadlines_recomputed": deadline_recomputation(calendar),
    }
