"""The ``AuditPlan`` aggregate: the draw, then findings, rectification and overdue orders per
target; its views (officials', public) and ``outcome_of`` a target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from infra.clock import local_date
from infra.domain import Command, Invalid, RuleConflict, Stamp, as_date, text

from ..common import Event
from .commands import (
    DrawAuditPlan,
    OrderRectification,
    RecordFindings,
    SweepAudit,
    VerifyRectification,
)
from .events import (
    AuditPlanDrawn,
    FindingsRecorded,
    RectificationOrdered,
    RectificationOverdue,
    RectificationVerified,
)
from .rules import draw, plan_size


@dataclass
class AuditPlan:
    id: str | None = None
    bureau: str | None = None
    kind: str | None = None
    seed: int | None = None
    drawn_on: date | None = None
    size: int = 0
    rate: float | None = None
    per_target: int = 0
    candidates: list[dict] = field(default_factory=list)
    inspectors: list[dict] = field(default_factory=list)
    # licence_no -> target state
    targets: dict[str, dict] = field(default_factory=dict)
    published: bool = True
    timeline: list[dict] = field(default_factory=list)
    version: int = 0

    def decide(self, command: Command, now: Any) -> list[Event]:
        today = local_date(now)
        stamp: Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, DrawAuditPlan):
            if self.version:
                raise RuleConflict("the plan exists already")
            if not command.candidates:
                raise RuleConflict(f"the bureau has no active {command.kind} licences to audit")
            if not command.inspectors:
                # A plan fixes its inspectors at the draw: drawn without any, no target could
                # ever be staffed by the second random draw.
                raise RuleConflict(
                    f"the bureau {command.bureau} has no inspectors on its list: register "
                    "inspectors before drawing a plan"
                )
            size = plan_size(len(command.candidates), command.size, command.rate)
            if size < 1:
                raise Invalid("rate", "draws no target")
            targets = draw(
                command.candidates, command.inspectors, command.seed, size, command.per_target
            )
            return [
                AuditPlanDrawn(
                    **stamp,
                    plan_id=command.plan_id,
                    bureau=command.bureau,
                    kind=command.kind,
                    seed=command.seed,
                    size=size,
                    rate=command.rate,
                    per_target=command.per_target,
                    drawn_on=today,
                    candidates=tuple(command.candidates),
                    inspectors=tuple(command.inspectors),
                    targets=tuple(targets),
                )
            ]
        if not self.version:
            raise RuleConflict("no such audit plan")
        plan_id = self.id
        assert plan_id is not None  # drawn (version > 0): the draw set the id
        if isinstance(command, SweepAudit):
            return [
                RectificationOverdue(
                    **stamp,
                    plan_id=plan_id,
                    licence_no=no,
                    due_on=t["order"]["due_on"],
                    proceedings="suspension",
                )
                for no, t in sorted(self.targets.items())
                if t["order"] and t["order"]["status"] == "open" and today > t["order"]["due_on"]
            ]
        licence_no = getattr(command, "licence_no", None)
        target = self.targets.get(licence_no) if licence_no is not None else None
        if target is None:
            raise Invalid("licence_no", "not a target of this audit plan")
        no = target["licence_no"]
        if isinstance(command, RecordFindings):
            if target["findings"] is not None:
                raise RuleConflict(f"findings for {no} are recorded already")
            findings = []
            for i, f in enumerate(command.findings):
                if f.get("severity") not in ("minor", "serious"):
                    raise Invalid(f"findings.{i}.severity", "must be minor or serious")
                findings.append(
                    {"item": text(f.get("item"), f"findings.{i}.item"), "severity": f["severity"]}
                )
            return [
                FindingsRecorded(
                    **stamp,
                    plan_id=plan_id,
                    licence_no=no,
                    findings=tuple(findings),
                    recorded_on=today,
                )
            ]
        if isinstance(command, OrderRectification):
            if target["findings"] is None:
                raise RuleConflict(f"no findings are recorded for {no} yet")
            if not any(f["severity"] == "serious" for f in target["findings"]):
                raise RuleConflict(f"a rectification order needs a serious finding ({no})")
            if target["order"] is not None:
                raise RuleConflict(
                    f"a rectification order for {no} exists ({target['order']['status']})"
                )
            due = as_date(command.due_on, "due_on")
            if due <= today:
                raise Invalid("due_on", "must be after today")
            items = tuple(text(x, f"items.{i}") for i, x in enumerate(command.items))
            if not items:
                raise Invalid("items", "list what must be rectified")
            return [
                RectificationOrdered(
                    **stamp,
                    plan_id=plan_id,
                    licence_no=no,
                    due_on=due,
                    items=items,
                    ordered_on=today,
                )
            ]
        if isinstance(command, VerifyRectification):
            order = target["order"]
            if order is None or order["status"] != "open":
                status = order["status"] if order else "not ordered"
                raise RuleConflict(f"verify is not allowed: the rectification is {status}")
            return [
                RectificationVerified(**stamp, plan_id=plan_id, licence_no=no, verified_on=today)
            ]
        raise RuleConflict(f"{type(command).__name__} does not apply to an audit plan")

    def apply(self, event: Event) -> None:
        match event:
            case AuditPlanDrawn():
                self.id, self.bureau, self.kind = event.plan_id, event.bureau, event.kind
                self.seed, self.drawn_on, self.size = event.seed, event.drawn_on, event.size
                self.rate, self.per_target = event.rate, event.per_target
                self.candidates = [dict(c) for c in event.candidates]
                self.inspectors = [dict(i) for i in event.inspectors]
                self.targets = {
                    t["licence_no"]: {**t, "findings": None, "order": None} for t in event.targets
                }
            case FindingsRecorded():
                self.targets[event.licence_no]["findings"] = [dict(f) for f in event.findings]
            case RectificationOrdered():
                self.targets[event.licence_no]["order"] = {
                    "due_on": event.due_on,
                    "items": list(event.items),
                    "status": "open",
                    "ordered_on": event.ordered_on,
                }
            case RectificationVerified():
                self.targets[event.licence_no]["order"].update(
                    status="verified", verified_on=event.verified_on
                )
            case RectificationOverdue():
                self.targets[event.licence_no]["order"].update(
                    status="overdue", proceedings=event.proceedings
                )
        entry = event.timeline_entry()
        if entry is not None:
            self.timeline.append(entry)
        self.version += 1

    @classmethod
    def from_events(cls, events) -> AuditPlan:
        plan = cls()
        for e in events:
            plan.apply(e)
        return plan

    def next_check_on(self) -> date | None:
        dues = [
            t["order"]["due_on"]
            for t in self.targets.values()
            if t["order"] and t["order"]["status"] == "open"
        ]
        return min(dues) + timedelta(days=1) if dues else None

    def target_view(self, t: dict) -> dict[str, Any]:
        order = t["order"]
        return {
            "licence_no": t["licence_no"],
            "holder": t.get("holder"),
            "holder_uscc": t.get("holder_uscc"),
            "weight": t["weight"],
            "factors": t.get("factors", {}),
            "drawn_this_year": bool(t.get("drawn_this_year")),
            "inspectors": list(t["inspectors"]),
            # Fewer inspectors than the plan asks for (a short list, or conflicts): say so.
            "inspectors_short": max(0, self.per_target - len(t["inspectors"])),
            "findings": t["findings"],
            "rectification": _order_view(order),
            "outcome": outcome_of(t),
        }

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bureau": self.bureau,
            "kind": self.kind,
            "seed": self.seed,
            "drawn_on": self.drawn_on.isoformat() if self.drawn_on else None,
            "size": self.size,
            "rate": self.rate,
            "candidates": len(self.candidates),
            "targets": [self.target_view(t) for t in self.targets.values()],
            "timeline": list(self.timeline),
            "version": self.version,
        }

    def reproduce(self) -> list[dict]:
        """The draw again from the recorded seed and candidates."""
        assert self.seed is not None, "only a drawn plan has a draw to reproduce"
        return draw(self.candidates, self.inspectors, self.seed, self.size, self.per_target)

    def public_results(self) -> dict[str, Any]:
        """What is published: the plan and each target's outcome; no personal data. Serious
        findings are listed, minor ones counted (``minor_findings``). A person's certificate
        shows neither the person nor the employer behind it (as in the public licences)."""
        person = self.kind == "operator_certificate"
        return {
            "id": self.id,
            "bureau": self.bureau,
            "kind": self.kind,
            "drawn_on": self.drawn_on.isoformat() if self.drawn_on else None,
            "seed": self.seed,
            "candidates": len(self.candidates),
            "targets": [
                {
                    "licence_no": t["licence_no"],
                    "holder": None if person else t.get("holder"),
                    "holder_uscc": None if person else t.get("holder_uscc"),
                    "outcome": outcome_of(t),
                    "findings": [
                        f["item"] for f in t["findings"] or [] if f["severity"] == "serious"
                    ],
                    "minor_findings": sum(f["severity"] == "minor" for f in t["findings"] or []),
                    "rectification_due_on": (
                        t["order"]["due_on"].isoformat() if t["order"] else None
                    ),
                }
                for t in self.targets.values()
            ],
        }


def _order_view(order: dict | None) -> dict | None:
    if order is None:
        return None
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in order.items()}


def outcome_of(target: dict) -> str:
    """pending, clean, minor_findings, rectification_ordered, rectified, proceedings_opened."""
    order = target["order"]
    if order is not None:
        return {
            "open": "rectification_ordered",
            "verified": "rectified",
            "overdue": "proceedings_opened",
        }[order["status"]]
    findings = target["findings"]
    if findings is None:
        return "pending"
    if not findings:
        return "clean"
    if any(f["severity"] == "serious" for f in findings):
        return "serious_findings"
    return "minor_findings"
