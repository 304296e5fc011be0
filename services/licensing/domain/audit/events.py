"""Events of audits: each records one fact (a draw, findings, an order, its closing, a
registered inspector, a risk fact); ``EVENT_TYPES`` names them for the event store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from ..common import Event


@dataclass(frozen=True, kw_only=True)
class AuditPlanDrawn(Event):
    """A plan drew ``targets`` from ``candidates`` with ``seed`` (all recorded, so the draw can
    be reproduced), each target with its inspectors."""

    plan_id: str
    bureau: str
    kind: str
    seed: int
    size: int
    rate: float | None
    per_target: int
    drawn_on: date
    candidates: tuple[dict, ...]
    inspectors: tuple[dict, ...]
    targets: tuple[dict, ...]
    timeline_type: ClassVar[str] = "drawn"


@dataclass(frozen=True, kw_only=True)
class FindingsRecorded(Event):
    """The audit of ``licence_no`` found ``findings`` (each ``{item, severity}``; none is a
    clean result)."""

    plan_id: str
    licence_no: str
    findings: tuple[dict, ...]
    recorded_on: date
    timeline_type: ClassVar[str] = "findings"
    timeline_details: ClassVar[tuple[str, ...]] = ("licence_no", "findings")


@dataclass(frozen=True, kw_only=True)
class RectificationOrdered(Event):
    """The licensee must rectify ``items`` by ``due_on`` (整改通知)."""

    plan_id: str
    licence_no: str
    due_on: date
    items: tuple[str, ...]
    ordered_on: date
    timeline_type: ClassVar[str] = "rectification_ordered"
    timeline_details: ClassVar[tuple[str, ...]] = ("licence_no", "due_on", "items")


@dataclass(frozen=True, kw_only=True)
class RectificationVerified(Event):
    """An officer verified the rectification; the order is closed."""

    plan_id: str
    licence_no: str
    verified_on: date
    timeline_type: ClassVar[str] = "rectification_verified"
    timeline_details: ClassVar[tuple[str, ...]] = ("licence_no",)


@dataclass(frozen=True, kw_only=True)
class RectificationOverdue(Event):
    """The order was not rectified by ``due_on``: suspension (or revocation) proceedings are
    opened against ``licence_no``."""

    plan_id: str
    licence_no: str
    due_on: date
    proceedings: str
    timeline_type: ClassVar[str] = "rectification_overdue"
    timeline_details: ClassVar[tuple[str, ...]] = ("licence_no", "due_on", "proceedings")


@dataclass(frozen=True, kw_only=True)
class InspectorRegistered(Event):
    """An inspector joined a bureau's list (acting in office: name and employer recorded)."""

    inspector_id: str
    bureau: str
    name: str
    organization_uscc: str


@dataclass(frozen=True, kw_only=True)
class RiskFactRecorded(Event):
    """A risk fact about a licensee: ``accident``, ``credit_grade`` (with ``grade``) or
    ``complaint_verified``, on ``occurred_on``, recorded by ``bureau`` under its own
    ``fact_id`` (None: recorded when ids were city-wide; they are the city bureau's)."""

    fact_id: str
    bureau: str | None = None
    uscc: str
    fact_type: str
    occurred_on: date
    grade: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    c.__name__: c
    for c in (
        RiskFactRecorded,
        AuditPlanDrawn,
        FindingsRecorded,
        RectificationOrdered,
        RectificationVerified,
        RectificationOverdue,
        InspectorRegistered,
    )
}
