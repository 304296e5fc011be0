"""Post-approval audits, "double random, one public" (双随机、一公开).

A plan draws targets at random from a bureau's licences of one kind, weighted by risk, and
assigns inspectors at random from the bureau's list, excluding those with a conflict (same
organization as the licensee, or its maintenance provider). The draw is a pure function of the
seed and the candidate lists, both recorded in ``AuditPlanDrawn``: ``draw`` on the recorded
inputs gives the recorded targets again.

Then, per target: findings; a rectification order with a deadline; verification closes it; an
order unrectified after its deadline opens suspension proceedings (recorded by the sweep).
Results are public from the draw on (``public_results``), without personal data.

The package: ``rules`` (weights, plan size, the draw), ``commands``, ``events``, ``plan`` (the
``AuditPlan`` aggregate and its views), ``inspectors`` (the ``Inspector`` aggregate), ``risk``
(risk facts and factors).
"""

from __future__ import annotations

from .commands import (
    DrawAuditPlan,
    OrderRectification,
    RecordFindings,
    RegisterInspector,
    SweepAudit,
    VerifyRectification,
)
from .events import (
    EVENT_TYPES,
    AuditPlanDrawn,
    FindingsRecorded,
    InspectorRegistered,
    RectificationOrdered,
    RectificationOverdue,
    RectificationVerified,
    RiskFactRecorded,
)
from .inspectors import Inspector
from .plan import AuditPlan, outcome_of
from .risk import RiskFact, risk_factors
from .rules import AuditRules, draw, plan_size

__all__ = [
    "EVENT_TYPES",
    "AuditPlan",
    "AuditPlanDrawn",
    "AuditRules",
    "DrawAuditPlan",
    "FindingsRecorded",
    "Inspector",
    "InspectorRegistered",
    "OrderRectification",
    "RecordFindings",
    "RectificationOrdered",
    "RectificationOverdue",
    "RectificationVerified",
    "RegisterInspector",
    "RiskFact",
    "RiskFactRecorded",
    "SweepAudit",
    "VerifyRectification",
    "draw",
    "outcome_of",
    "plan_size",
    "risk_factors",
]
