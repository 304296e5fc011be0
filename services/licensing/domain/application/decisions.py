"""What the commands that carry content record: receipt, a correction request and the
supplements that answer it, approval (with the validity it grants), and the delivery of the
certificate. Functions of an ``Application`` that return events without
changing it; ``decide`` calls them once the status allows the command."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from infra.domain import Invalid, RuleConflict, Stamp, as_date, text

from ..common import Calendar, Event
from . import clock
from .commands import (
    Approve,
    DeliverCertificate,
    OrderWorkStop,
    ReceiveApplication,
    Refuse,
    RequestCorrection,
    Supplement,
)
from .events import (
    ApplicationApproved,
    ApplicationReceived,
    ApplicationRefused,
    CertificateDelivered,
    CorrectionRequested,
    MaterialsSupplemented,
    WorkStopOrdered,
)
from .intake import _check_receive, _materials
from .rules import (
    CERTIFICATE_WORKING_DAYS,
    INTAKE_WORKING_DAYS,
    CorrectionAlreadyRequested,
)

if TYPE_CHECKING:
    from .aggregate import Application

# The kinds whose validity an approval may set (``valid_until``); the others have none.
KINDS_WITH_VALIDITY = frozenset({"production_licence", "pressure_piping_licence"})


def receive(
    app: Application, cmd: ReceiveApplication, now: datetime, today: date, calendar: Calendar
) -> Event:
    payload = _check_receive(cmd)
    due = calendar.add_working_days(today, INTAKE_WORKING_DAYS)
    return ApplicationReceived(
        at=now,
        actor=cmd.actor,
        **payload,
        received_on=today,
        intake_due=due.date,
        provisional=due.provisional,
    )


def request_correction(
    app: Application, cmd: RequestCorrection, today: date, stamp: Stamp
) -> Event:
    if app.correction_items:
        raise CorrectionAlreadyRequested()
    if isinstance(cmd.items, str) or not cmd.items:
        raise Invalid("items", "list every missing or incorrect item")
    items = tuple(text(item, f"items.{i}") for i, item in enumerate(cmd.items))
    if len(set(items)) != len(items):
        raise Invalid("items", "an item is listed twice")
    return CorrectionRequested(**stamp, items=items)


def approve(
    app: Application, cmd: Approve, now: datetime, today: date, calendar: Calendar
) -> list[Event]:
    opinion = text(cmd.opinion, "opinion")
    licence_no = text(cmd.licence_no, "licence_no", required=False)
    valid_until = validity(app, cmd, today)
    certificate_due, provisional = None, False
    if app.kind != "construction_notice":
        due = calendar.add_working_days(today, CERTIFICATE_WORKING_DAYS)
        certificate_due, provisional = due.date, due.provisional
    resumed = clock.resume_before_decision(app, now, cmd.actor, today, calendar)
    return [
        *resumed,
        ApplicationApproved(
            at=now,
            actor=cmd.actor,
            opinion=opinion,
            licence_no=licence_no,
            valid_until=valid_until,
            decided_on=today,
            certificate_due=certificate_due,
            provisional=provisional,
            **clock.late_by(app, resumed, today, calendar),
        ),
    ]


def refuse(
    app: Application, cmd: Refuse, now: datetime, today: date, calendar: Calendar
) -> list[Event]:
    reason, basis = text(cmd.reason, "reason"), text(cmd.legal_basis, "legal_basis")
    resumed = clock.resume_before_decision(app, now, cmd.actor, today, calendar)
    return [
        *resumed,
        ApplicationRefused(
            at=now,
            actor=cmd.actor,
            reason=reason,
            legal_basis=basis,
            remedies=text(cmd.remedies, "remedies"),
            decided_on=today,
            **clock.late_by(app, resumed, today, calendar),
        ),
    ]


def order_work_stop(app: Application, cmd: OrderWorkStop, today: date, stamp: Stamp) -> Event:
    """A filed construction notice's work ordered to stop, once."""
    if app.kind != "construction_notice":
        raise RuleConflict("only a filed construction notice can be stopped")
    if app.work_stopped:
        raise RuleConflict("the work was already ordered to stop")
    return WorkStopOrdered(**stamp, reason=text(cmd.reason, "reason"), ordered_on=today)


def validity(app: Application, cmd: Approve, today: date) -> date | None:
    """The validity the approval grants: the kind's statutory term from the decision
    (``term_ends_on``), or a shorter one the officer sets for the kinds that allow it."""
    if cmd.valid_until is None:
        return cmd.term_ends_on
    if app.kind not in KINDS_WITH_VALIDITY:
        # A use registration and a filing never expire; an operator's items are valid
        # a fixed term each (LicenceRules.operator_item_years).
        raise Invalid("valid_until", f"{app.kind} has no validity to set")
    valid_until = as_date(cmd.valid_until, "valid_until")
    if valid_until <= today:
        raise Invalid("valid_until", "must be after the decision date")
    if cmd.term_ends_on is not None and valid_until > cmd.term_ends_on:
        raise Invalid(
            "valid_until",
            f"may shorten the statutory term, not lengthen it: at most {cmd.term_ends_on}",
        )
    return valid_until


def supplement(
    app: Application, cmd: Supplement, today: date, stamp: Stamp, calendar: Calendar
) -> Event:
    """Materials for the correction request. A material answers the requested item it names
    (``item``) or, naming none, the item its ``name`` is (case and spacing aside). The intake
    period starts again only once every item is answered; until then the clock stays stopped
    and the items still open are recorded."""
    materials = _materials(cmd.materials, "materials")
    if not materials:
        raise Invalid("materials", "supply at least one document")
    requested = {_item_key(item): item for item in app.correction_items}
    answered = set()
    for i, material in enumerate(materials):
        named = text(material.get("item"), f"materials.{i}.item", required=False)
        if named is not None and _item_key(named) not in requested:
            listed = "; ".join(app.correction_items)
            raise Invalid(f"materials.{i}.item", f"is not a requested item ({listed})")
        answered.add(_item_key(named if named is not None else material["name"]))
    still_open = tuple(i for i in app.open_correction_items if _item_key(i) not in answered)
    if still_open:
        return MaterialsSupplemented(
            **stamp,
            materials=materials,
            supplemented_on=today,
            intake_due=None,
            provisional=False,
            open_items=still_open,
        )
    due = calendar.add_working_days(today, INTAKE_WORKING_DAYS)
    return MaterialsSupplemented(
        **stamp,
        materials=materials,
        supplemented_on=today,
        intake_due=due.date,
        provisional=due.provisional,
    )


def _item_key(item: str) -> str:
    return " ".join(item.split()).casefold()


def deliver_certificate(
    app: Application, cmd: DeliverCertificate, today: date, stamp: Stamp
) -> Event:
    """The certificate is due 10 working days after the approval; this records its delivery,
    once, for a licence that has a certificate (a filed construction notice has none)."""
    if app.certificate_due is None:
        raise RuleConflict(f"{app.kind} has no certificate to deliver")
    if app.certificate_delivered_on is not None:
        raise RuleConflict(f"the certificate was delivered on {app.certificate_delivered_on}")
    reference = text(cmd.reference, "reference", required=False)
    return CertificateDelivered(**stamp, delivered_on=today, reference=reference)
