"""Post-approval audits, "double random, one public" (双随机、一公开).

A plan draws targets at random from a bureau's licences of one kind, weighted by risk, and
assigns inspectors at random from the bureau's list, excluding those with a conflict (same
organization as the licensee, or its maintenance provider). The draw is a pure function of the
seed and the candidate lists, both recorded in ``AuditPlanDrawn``: ``draw`` on the recorded
inputs gives the recorded targets again.

Then, per target: findings; a rectification order with a deadline; verification closes it; an
order unrectified after its deadline opens suspension proceedings (recorded by the sweep).
Results are public from the draw on (``public_results``), without personal data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from .common import Command, Event, Invalid, RuleConflict, _text, as_date, local_date


@dataclass(frozen=True)
class AuditRules:
    """Risk weights (*configurable*): a licensee's weight is ``base`` plus each that applies."""

    base: float = 1.0
    accident_within_2_years: float = 2.0
    credit_grade_c_or_d: float = 2.0
    verified_complaint: float = 1.0
    minimum_rate: float = 0.05  # of licensees per year (reported, not enforced per plan)

    def weight(self, factors: dict[str, bool]) -> float:
        w = self.base
        if factors.get("accident"):
            w += self.accident_within_2_years
        if factors.get("credit_c_or_d"):
            w += self.credit_grade_c_or_d
        if factors.get("complaint"):
            w += self.verified_complaint
        return w


def plan_size(candidates: int, size: int | None, rate: float | None) -> int:
    """Targets to draw: ``size`` (at most all), or ``rate`` of the candidates rounded up."""
    if size is not None:
        return min(size, candidates)
    return min(candidates, math.ceil((rate or 0) * candidates))


def draw(
    candidates: Sequence[dict],
    inspectors: Sequence[dict],
    seed: int,
    size: int,
    per_target: int,
) -> list[dict]:
    """The reproducible draw. ``candidates``: ``[{"licence_no", "weight", "conflicts": [uscc]}]``
    in a fixed order; ``inspectors``: ``[{"inspector_id", "organization_uscc"}]`` in a fixed
    order. Weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w)), then
    inspectors drawn uniformly among those without a conflict."""
    rng = random.Random(seed)
    keyed = [(rng.random() ** (1.0 / c["weight"]), i) for i, c in enumerate(candidates)]
    chosen = [i for _, i in sorted(keyed, key=lambda k: (-k[0], k[1]))[:size]]
    targets = []
    for i in chosen:
        c = candidates[i]
        conflicts = set(c.get("conflicts", ()))
        eligible = [
            x["inspector_id"] for x in inspectors if x["organization_uscc"] not in conflicts
        ]
        picked = rng.sample(eligible, min(per_target, len(eligible)))
        targets.append({**{k: v for k, v in c.items() if k != "conflicts"}, "inspectors": picked})
    return targets


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DrawAuditPlan(Command):
    plan_id: str
    bureau: str
    kind: str
    seed: int
    size: int | None
    rate: float | None
    per_target: int
    candidates: tuple[dict, ...]
    inspectors: tuple[dict, ...]


@dataclass(frozen=True, kw_only=True)
class RecordFindings(Command):
    licence_no: str
    findings: tuple[dict, ...]


@dataclass(frozen=True, kw_only=True)
class OrderRectification(Command):
    licence_no: str
    due_on: date
    items: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class VerifyRectification(Command):
    licence_no: str


@dataclass(frozen=True, kw_only=True)
class SweepAudit(Command):
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class RegisterInspector(Command):
    inspector_id: str
    bureau: str
    name: str
    organization_uscc: str


# --- events ---------------------------------------------------------------------------------


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
    ``complaint_verified``, on ``occurred_on``."""

    fact_id: str
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


# --- aggregates -----------------------------------------------------------------------------


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
        stamp = {"at": now, "actor": command.actor}
        if isinstance(command, DrawAuditPlan):
            if self.version:
                raise RuleConflict("the plan exists already")
            if not command.candidates:
                raise RuleConflict(f"the bureau has no active {command.kind} licences to audit")
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
        if isinstance(command, SweepAudit):
            return [
                RectificationOverdue(
                    **stamp,
                    plan_id=self.id,
                    licence_no=no,
                    due_on=t["order"]["due_on"],
                    proceedings="suspension",
                )
                for no, t in sorted(self.targets.items())
                if t["order"] and t["order"]["status"] == "open" and today > t["order"]["due_on"]
            ]
        target = self.targets.get(getattr(command, "licence_no", None))
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
                    {"item": _text(f.get("item"), f"findings.{i}.item"), "severity": f["severity"]}
                )
            return [
                FindingsRecorded(
                    **stamp,
                    plan_id=self.id,
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
            items = tuple(_text(x, f"items.{i}") for i, x in enumerate(command.items))
            if not items:
                raise Invalid("items", "list what must be rectified")
            return [
                RectificationOrdered(
                    **stamp,
                    plan_id=self.id,
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
                RectificationVerified(**stamp, plan_id=self.id, licence_no=no, verified_on=today)
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
            "inspectors": list(t["inspectors"]),
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
        return draw(self.candidates, self.inspectors, self.seed, self.size, self.per_target)

    def public_results(self) -> dict[str, Any]:
        """What is published: the plan and each target's outcome; no personal data."""
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
                    "holder": t.get("holder"),
                    "holder_uscc": t.get("holder_uscc"),
                    "outcome": outcome_of(t),
                    "findings": [
                        f["item"] for f in t["findings"] or [] if f["severity"] == "serious"
                    ],
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


@dataclass
class Inspector:
    inspector_id: str | None = None
    bureau: str | None = None
    name: str | None = None
    organization_uscc: str | None = None
    version: int = 0

    def decide(self, command: Command, now: Any) -> list[Event]:
        if not isinstance(command, RegisterInspector):
            raise RuleConflict(f"{type(command).__name__} does not apply to an inspector")
        if self.version:
            raise RuleConflict(f"inspector {self.inspector_id} is registered already")
        return [
            InspectorRegistered(
                at=now,
                actor=command.actor,
                inspector_id=_text(command.inspector_id, "inspector_id"),
                bureau=command.bureau,
                name=_text(command.name, "name"),
                organization_uscc=command.organization_uscc,
            )
        ]

    def apply(self, event: Event) -> None:
        if isinstance(event, InspectorRegistered):
            self.inspector_id, self.bureau = event.inspector_id, event.bureau
            self.name, self.organization_uscc = event.name, event.organization_uscc
        self.version += 1


@dataclass
class RiskFact:
    """A fact that raises a licensee's audit weight (accident, credit grade, complaint)."""

    fact_id: str
    uscc: str
    type: str
    occurred_on: date
    grade: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "fact_id": self.fact_id,
            "uscc": self.uscc,
            "type": self.type,
            "occurred_on": self.occurred_on,
            "grade": self.grade,
        }


def risk_factors(facts: Sequence[RiskFact], on: date) -> dict[str, bool]:
    """Which risk factors hold for one licensee on ``on``: an accident in the last 2 years, a
    latest credit grade of C or D, a verified complaint in the last 2 years."""
    since = (
        on.replace(year=on.year - 2)
        if not (on.month == 2 and on.day == 29)
        else on.replace(year=on.year - 2, day=28)
    )
    grades = sorted(
        (f.occurred_on, f.grade) for f in facts if f.type == "credit_grade" and f.occurred_on <= on
    )
    return {
        "accident": any(f.type == "accident" and since < f.occurred_on <= on for f in facts),
        "credit_c_or_d": bool(grades) and grades[-1][1] in ("C", "D"),
        "complaint": any(
            f.type == "complaint_verified" and since < f.occurred_on <= on for f in facts
        ),
    }
