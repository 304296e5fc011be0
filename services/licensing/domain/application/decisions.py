"""What the commands that carry content record: receipt, a correction request, approval, and
the delivery of the certificate. Functions of an ``Application`` that return events without
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
    ReceiveApplication,
    RequestCorrection,
)
from .events import (
    ApplicationApproved,
    ApplicationReceived,
    CertificateDelivered,
    CorrectionRequested,
)
from .intake import _check_receive
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
    valid_until = None
    if cmd.valid_until is not None:
        if app.kind not in KINDS_WITH_VALIDITY:
            # A use registration and a filing never expire; an operator's items are valid
            # a fixed term each (LicenceRules.operator_item_years).
            raise Invalid("valid_until", f"a {app.kind} has no validity to set")
        valid_until = as_date(cmd.valid_until, "valid_until")
        if valid_until <= today:
            raise Invalid("valid_until", "must be after the decision date")
    certificate_due, provisional = None, False
    if app.kind != "construction_notice":
        due = calendar.add_working_days(today, CERTIFICATE_WORKING_DAYS)
        certificate_due, provisional = due.date, due.provisional
    return [
        *clock.resume_before_decision(app, now, cmd.actor, today, calendar),
        ApplicationApproved(
            at=now,
            actor=cmd.actor,
            opinion=opinion,
            licence_no=licence_no,
            valid_until=valid_until,
            decided_on=today,
            certificate_due=certificate_due,
            provisional=provisional,
        ),
    ]


def deliver_certificate(
    app: Application, cmd: DeliverCertificate, today: date, stamp: Stamp
) -> Event:
    """The certificate is due 10 working days after the approval; this records its delivery,
    once, for a licence that has a certificate (a filed construction notice has none)."""
    if app.certificate_due is None:
        raise RuleConflict(f"a {app.kind} has no certificate to deliver")
    if app.certificate_delivered_on is not None:
        raise RuleConflict(f"the certificate was delivered on {app.certificate_delivered_on}")
    reference = text(cmd.reference, "reference", required=False)
    return CertificateDelivered(**stamp, delivered_on=today, reference=reference)
