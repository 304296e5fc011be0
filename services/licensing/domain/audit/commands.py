"""Commands of audit plans and of the inspectors' list: what an official asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from infra.domain import Command


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
