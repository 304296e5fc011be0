"""Post-approval audits: plans drawn at random, findings, rectification orders, verification,
overdue orders, published results, and the yearly minimum (coverage of a bureau's licensees by
the year's plans). The inspectors' list, risk facts and the list of plans: ``audit_registers``.

A bureau's licensees are the active licences it supervises (``licences.supervised_by``): its
own, and use registrations whose units a relocation moved into its area."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from infra.clock import local_date
from infra.errors import Forbidden, NotFound, PreconditionFailed
from infra.places import CITY_BUREAU
from infra.repository import Repository
from infra.schemas import load
from infra.sweep import Sweep
from services.licensing.domain.audit.commands import (
    DrawAuditPlan,
    OrderRectification,
    RecordFindings,
    SweepAudit,
    VerifyRectification,
)
from services.licensing.domain.audit.coverage import drawn_in_year, yearly_coverage
from services.licensing.domain.audit.plan import AuditPlan
from services.licensing.domain.audit.risk import RiskFact, risk_factors
from services.licensing.domain.audit.rules import AuditRules
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.projections import (
    audit_plans,
    credit_grades,
    inspectors,
    licences,
    risk_facts,
)
from services.licensing.projections import equipment as equipment_table
from services.licensing.schemas.audits import (
    AuditCoverageQuery,
    AuditPlanIn,
    FindingsIn,
    RectificationOrderIn,
)

MAX_SEED = 2**53 - 1  # exact in JSON numbers everywhere
AUDIT_COMMANDS = {
    "findings": (
        FindingsIn,
        lambda b, a: RecordFindings(
            actor=a, licence_no=b["licence_no"], findings=tuple(b["findings"])
        ),
    ),
    "rectification-orders": (
        RectificationOrderIn,
        lambda b, a: OrderRectification(
            actor=a,
            licence_no=b["licence_no"],
            due_on=date.fromisoformat(b["due_on"]),
            items=tuple(b["items"]),
        ),
    ),
}


class Audits:
    def __init__(self, repo: Repository, now: datetime, rules: AuditRules):
        self.repo, self.now, self.rules = repo, now, rules
        self.today = local_date(now)

    @property
    def conn(self):
        return self.repo.conn

    def actor(self) -> str:
        return self.repo.actor

    # --- plans --------------------------------------------------------------------------

    def candidates(self, bureau: str, kind: str) -> list[dict]:
        rows = self.conn.execute(
            select(
                licences.c.licence_no,
                licences.c.holder_uscc,
                licences.c.holder_name,
                licences.c.holder_type,
                licences.c.equipment_code,
            )
            .where(*_licensees_of(bureau, kind))
            .order_by(licences.c.licence_no)
        ).all()
        usccs = {r.holder_uscc for r in rows if r.holder_uscc}
        facts: dict[str, list[RiskFact]] = defaultdict(list)
        if usccs:
            for f in self.conn.execute(select(risk_facts).where(risk_facts.c.uscc.in_(usccs))):
                facts[f.uscc].append(RiskFact(f.fact_id, f.uscc, f.type, f.occurred_on, f.grade))
        grades: dict[str, str] = {}
        if usccs:
            grades = dict(
                self.conn.execute(
                    select(credit_grades.c.uscc, credit_grades.c.grade).where(
                        credit_grades.c.uscc.in_(usccs)
                    )
                ).all()
            )
        providers: dict[str, set[str]] = defaultdict(set)
        if usccs:
            for e in self.conn.execute(
                select(equipment_table.c.user_uscc, equipment_table.c.maintenance_unit_uscc).where(
                    equipment_table.c.user_uscc.in_(usccs),
                    equipment_table.c.maintenance_unit_uscc.is_not(None),
                )
            ):
                providers[e.user_uscc].add(e.maintenance_unit_uscc)
        out = []
        for r in rows:
            factors = risk_factors(
                facts.get(r.holder_uscc, []), self.today, grades.get(r.holder_uscc)
            )
            conflicts = sorted({r.holder_uscc, *providers.get(r.holder_uscc, ())} - {None})
            out.append(
                {
                    "licence_no": r.licence_no,
                    "holder": r.holder_name if r.holder_type != "person" else None,
                    "holder_uscc": r.holder_uscc,
                    "weight": self.rules.weight(factors),
                    "factors": factors,
                    "conflicts": conflicts,
                }
            )
        return out

    def draw(self, bureau: str, body: dict) -> dict:
        data = load(AuditPlanIn, body, "audit plan")
        seed = data.get("seed")
        if seed is None:
            seed = secrets.randbelow(MAX_SEED)
        listed = [
            {"inspector_id": r.inspector_id, "organization_uscc": r.organization_uscc}
            for r in self.conn.execute(
                select(inspectors)
                .where(inspectors.c.bureau == bureau)
                .order_by(inspectors.c.inspector_id)
            )
        ]
        kind, size, rate = data["kind"], data.get("size"), data.get("rate")
        if size is None and rate is None:
            rate = self.rules.yearly_minimum_rate
        candidates = self.candidates(bureau, kind)
        if self.rules.prefer_undrawn_in_year:
            plans = self._plans_of_year(self.today.year, bureau, kind)
            before = drawn_in_year(plans, bureau, kind, self.today.year)
            candidates = [{**c, "drawn_this_year": c["licence_no"] in before} for c in candidates]
        plan_id = self.repo.new_id("audit plan")
        plan = AuditPlan()
        command = DrawAuditPlan(
            actor=self.actor(),
            plan_id=plan_id,
            bureau=bureau,
            kind=kind,
            seed=seed,
            size=size,
            rate=rate,
            per_target=data["inspectors_per_target"],
            candidates=tuple(candidates),
            inspectors=tuple(listed),
        )
        self.repo.decide_and_save(plan_id, plan, command, self.now)
        return self._view(plan, bureau)

    def command(
        self,
        plan_id: str,
        name: str,
        body: dict | None,
        bureau: str | None,
        expected_version: int | None = None,
    ) -> dict:
        plan = self._plan(plan_id, bureau)
        if name == "verify":
            command: Any = VerifyRectification(
                actor=self.actor(), licence_no=(body or {})["licence_no"]
            )
        elif name in AUDIT_COMMANDS:
            schema, build = AUDIT_COMMANDS[name]
            command = build(load(schema, body, name), self.actor())
        else:
            raise NotFound(f"no command {name}")
        if expected_version is not None and expected_version != plan.version:
            raise PreconditionFailed(
                f"the audit plan is at version {plan.version}, not {expected_version}"
            )
        self.repo.decide_and_save(plan_id, plan, command, self.now)
        return self._view(plan, bureau)

    def _plan(self, plan_id: str, bureau: str | None) -> AuditPlan:
        plan = self.repo.load(AuditPlan, plan_id, must_exist="audit plan")
        if bureau and bureau not in (CITY_BUREAU, plan.bureau):
            raise Forbidden("the plan belongs to another bureau")
        return plan

    def get(self, plan_id: str, bureau: str | None = None) -> dict:
        plan = self.repo.load(AuditPlan, plan_id, must_exist="audit plan")
        if bureau and bureau not in (CITY_BUREAU, plan.bureau):
            raise NotFound(f"audit plan {plan_id} not found")
        view = self._view(plan, bureau)
        # Anyone can check the draw: the recorded seed and candidates give the same targets.
        view["reproduced"] = plan.reproduce() == _drawn_targets(plan)
        return view

    def _view(self, plan: AuditPlan, viewer: str | None) -> dict:
        """The plan, and where its bureau stands against the yearly minimum of its kind in the
        year it was drawn (licensees counted today). ``viewer``: the caller's bureau (None:
        city-wide), which sees the names of the persons whose certificates it issued."""
        # A stored plan was drawn: the draw set its date, bureau and kind.
        assert plan.drawn_on is not None and plan.bureau is not None and plan.kind is not None
        year = plan.drawn_on.year
        licensees = self._licensees(plan.bureau, plan.kind).get((plan.bureau, plan.kind), 0)
        coverage = yearly_coverage(
            self.rules,
            plan.bureau,
            plan.kind,
            year,
            licensees,
            self._plans_of_year(year, plan.bureau, plan.kind),
        )
        view = plan.view()
        if plan.kind == "operator_certificate":
            for target in view["targets"]:
                target["holder"] = self._person_name(target["licence_no"], viewer)
        return {**view, "yearly": coverage.view()}

    def _person_name(self, licence_no: str, viewer: str | None) -> str | None:
        """The certificate holder's name, decrypted from the licence's stream (read models
        never hold it), for the issuing bureau or a city-wide caller; None for others."""
        licence = self.repo.load(Licence, licence_no)
        if viewer not in (None, CITY_BUREAU, licence.bureau):
            return None
        return licence.holder_view().get("name")

    # --- the yearly minimum -------------------------------------------------------------

    def coverage(self, query: dict) -> dict:
        """Per bureau and kind: the year's required draws against the distinct licences the
        year's plans drew. Without ``kind``, every kind the bureau has licensees of; without
        ``bureau`` (city-wide callers), every bureau that has licensees."""
        data = load(AuditCoverageQuery, query, "coverage query")
        year = data.get("year", self.today.year)
        bureau, kind = data.get("bureau"), data.get("kind")
        counts = self._licensees(bureau, kind)
        keys = [(bureau, kind)] if bureau and kind else sorted(counts)
        plans = self._plans_of_year(year, bureau, kind)
        return {
            "year": year,
            "rate": self.rules.yearly_minimum_rate,
            "licensees_as_of": self.today.isoformat(),
            "items": [
                yearly_coverage(self.rules, b, k, year, counts.get((b, k), 0), plans).row()
                for b, k in keys
            ],
        }

    def _licensees(self, bureau: str | None, kind: str | None) -> dict[tuple[str, str], int]:
        """Active licences per (bureau, kind): the candidates a draw would pick from today."""
        rows = self.conn.execute(
            select(licences.c.supervised_by, licences.c.kind, func.count())
            .where(*_licensees_of(bureau, kind))
            .group_by(licences.c.supervised_by, licences.c.kind)
        ).all()
        return {(b, k): n for b, k, n in rows}

    def _plans_of_year(self, year: int, bureau: str | None, kind: str | None) -> list[dict]:
        """The plans drawn in ``year`` with their targets' licence numbers."""
        q = select(
            audit_plans.c.bureau, audit_plans.c.kind, audit_plans.c.drawn_on, audit_plans.c.results
        ).where(audit_plans.c.drawn_on.between(date(year, 1, 1), date(year, 12, 31)))
        if bureau:
            q = q.where(audit_plans.c.bureau == bureau)
        if kind:
            q = q.where(audit_plans.c.kind == kind)
        return [
            {
                "bureau": r.bureau,
                "kind": r.kind,
                "drawn_on": r.drawn_on,
                "targets": [t["licence_no"] for t in json.loads(r.results)["targets"]],
            }
            for r in self.conn.execute(q)
        ]

    def public(self, bureau: str | None, limit: int = 50, after: list | None = None) -> list:
        q = select(audit_plans.c.results, audit_plans.c.drawn_on, audit_plans.c.id)
        if bureau:
            q = q.where(audit_plans.c.bureau == bureau)
        if after:
            q = q.where(audit_plans.c.id > after[0])
        rows = self.conn.execute(q.order_by(audit_plans.c.id).limit(limit)).all()
        return [json.loads(r.results) for r in rows]


def _licensees_of(bureau: str | None, kind: str | None) -> list:
    """Where-clauses of a bureau's licensees of a kind: the active licences it supervises (its
    own, and units relocated into its area; either optional)."""
    clauses = [licences.c.status == "active"]
    if bureau:
        clauses.append(licences.c.supervised_by == bureau)
    if kind:
        clauses.append(licences.c.kind == kind)
    return clauses


def _drawn_targets(plan: AuditPlan) -> list[dict]:
    """The targets as drawn (without the audit's later state)."""
    return [
        {k: v for k, v in t.items() if k not in ("findings", "order")}
        for t in plan.targets.values()
    ]


# --- time -----------------------------------------------------------------------------------


def _due_plans(conn, after: str | None, limit: int, now: datetime) -> list[str]:
    c = audit_plans.c
    q = select(c.id).where(c.next_check_on <= local_date(now))
    if after is not None:
        q = q.where(c.id > after)
    return list(conn.execute(q.order_by(c.id).limit(limit)).scalars())


def audit_sweep(batch: int = 100) -> Sweep:
    """Rectification orders unrectified after their deadline open suspension proceedings."""
    return Sweep("audits", AuditPlan, _due_plans, lambda plan, now: SweepAudit(), batch, dated=True)
