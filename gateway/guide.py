"""What the API document says that the schemas alone cannot: a working example of every request
body, and the shapes of a field that depend on another field (``subject`` by ``kind``).

``gateway.openapi`` puts both into ``/openapi.json`` (and so into ``/docs``); a unit test loads
every example with the schema the gateway validates it with, and checks it against the
document. A route with a new body schema needs an example here (that test names the missing).

The identifiers are real-looking and valid (check characters included); the dates suit a
platform date in late 2014, the demo's and the tests' (a date the rules compare with today,
such as a revocation's, may need moving when you try an example on a live system).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from gateway.routes.audits import VerifyIn
from gateway.routes.complaints import ComplaintForm
from gateway.schemas import TokenCreate, UsccExceptionIn
from services.blacklist.schemas import (
    ManualListingIn,
    ReinspectionIn,
    RepairApplicationIn,
    RepairDecisionIn,
)
from services.insurance.schemas import BatchEnvelopeSchema, PolicySchema, QuoteSchema
from services.licensing.examples import operator_certificate, production_licence, use_registration
from services.licensing.schemas import applications as apps
from services.licensing.schemas.audits import (
    AuditPlanIn,
    FindingsIn,
    InspectorIn,
    RectificationOrderIn,
    RiskFactIn,
)
from services.licensing.schemas.delegations import DelegationIn, RevocationIn
from services.licensing.schemas.licences import EquipmentChangeIn, RenewalDecisionIn, RenewalIn
from services.maintenance_credit.complaint_schemas import ComplaintDecisionIn, ComplaintIn
from services.maintenance_credit.schemas import (
    AppealDecisionIn,
    AppealIn,
    EvaluationIn,
    MaintenanceBatchIn,
    QualityEventIn,
    RuleSetIn,
    WhatIfIn,
)

UNIT = "91310115MA1FL0001N"  # a Pudong lift company
OWNER = "91310104132208882K"  # a Xuhui property manager
INSURER = "91350200776049653A"
PERSON = "310115198506150030"  # born 1985-06-15
EQUIPMENT = "311012345201400001"  # a traction lift made in 2014
LICENCE = "TS3131001-2014"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@dataclass(frozen=True)
class Example:
    summary: str
    value: Any


@dataclass(frozen=True)
class Variants:
    """``field`` of ``schema`` takes the shape ``schemas[data[by]]``: the document describes
    the body as one object per value of ``by`` (a ``oneOf`` with a discriminator)."""

    schema: type[Schema]
    field: str
    by: str
    schemas: dict[str, type[Schema]]
    titles: dict[str, str]
    # Replies that show the field as it was given: their field says where its shapes are.
    shown_by: tuple[type[Schema], ...] = ()


VARIANTS = [
    Variants(
        apps.ApplicationIn,
        "subject",
        "kind",
        apps.SUBJECTS,
        {
            "use_registration": "Use registration of a unit (使用登记)",
            "operator_certificate": "Operator certificate for a person (作业人员证)",
            "construction_notice": "Notice of installation, modification or repair (施工告知)",
            "pressure_piping_licence": "Pressure-piping licence (压力管道许可)",
            "production_licence": "Production licence: manufacture, installation, repair... "
            "(生产许可)",
        },
        shown_by=(apps.ApplicationView,),
    )
]


def _construction_notice() -> dict[str, Any]:
    return {
        "kind": "construction_notice",
        "applicant": {"uscc": UNIT, "name": "Pudong Lift Works Co."},
        "location": {"district": "310104", "in_ftz": False, "address": "5 Hongqiao Road"},
        "subject": {
            "equipment_code": EQUIPMENT,
            "work": "install",
            "installer_uscc": UNIT,
            "starts_on": "2014-10-20",
            "rated_speed_mps": 1.75,
        },
        "materials": [{"name": "installation plan", "sha256": SHA}],
    }


def _policy() -> dict[str, Any]:
    return {
        "revision": 1,
        "policyholders": [
            {"uscc": OWNER, "name": "Xuhui Property Co.", "role": "owner", "share": "0.70"},
            {"uscc": UNIT, "name": "Pudong Lift Works Co.", "role": "maintenance", "share": "0.30"},
        ],
        "equipment_codes": [EQUIPMENT],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": "93.00",
        "starts_on": "2014-07-01",
        "ends_on": "2015-06-30",
        "status": "active",
    }


def _ruleset() -> dict[str, Any]:
    return {
        "version": "demerit-2015",
        "effective_from": "2015-01-01",
        "description": "demerit-2016 with verified complaints at 3 points",
        "objection_working_days": 10,
        "rules": {
            "beyond_licence_scope": {"points": 40},
            "forged_record": {"points": 40},
            "expired_licence_work": {"points": 20},
            "duty_phone_unanswered": {"points": 5},
            "repeated_faults": {"points": 10, "faults_per_month": 3},
            "late_entrapment_arrival": {
                "points": 10,
                "limit_minutes": {"central": 30, "outer": 60},
            },
            "complaint_verified": {"points": 3},
            "missed_maintenance": {"points": 1, "per_elevators": 100},
        },
        "vetoes": [
            {"id": "licence_expired", "fact": "licence_expired"},
            {"id": "liability_accident", "fact": "accident", "where": {"liability": True}},
        ],
        "grades": [
            {"grade": "A", "min": 0, "max": 10},
            {"grade": "B", "min": 11, "max": 25},
            {"grade": "C", "min": 26, "max": 40},
            {"grade": "D", "min": 41, "max": None},
        ],
    }


EXAMPLES: dict[type[Schema], dict[str, Example]] = {
    TokenCreate: {
        "officer": Example(
            "A bureau officer of Xuhui",
            {"role": "bureau_officer", "bureau": "310104", "name": "Xuhui licensing desk"},
        ),
        "insurer": Example(
            "An insurer's system, scoped to its credit code",
            {"role": "insurer", "uscc": INSURER, "name": "insurer policy sync"},
        ),
    },
    UsccExceptionIn: {
        "registry": Example(
            "A code a registry issued with a wrong check character",
            {"note": "issued by the Xiamen registry in 2015; confirmed by letter XM-2015-17"},
        )
    },
    apps.ApplicationIn: {
        "use_registration": Example(
            "Register a new lift for use, with its maintenance unit",
            use_registration(
                OWNER, EQUIPMENT, in_ftz=False, district="310104", maintenance_unit=UNIT
            ),
        ),
        "operator_certificate": Example(
            "A lift mechanic's certificate for work item T",
            operator_certificate(PERSON, "Wang Wu", "1985-06-15"),
        ),
        "construction_notice": Example("Notice before installing a lift", _construction_notice()),
        "pressure_piping_licence": Example(
            "Installing pressure piping",
            production_licence(
                UNIT,
                kind="pressure_piping_licence",
                scope=("pressure_piping:installation",),
                level=None,
            ),
        ),
        "production_licence": Example(
            "Installing and maintaining lifts, level B",
            production_licence(UNIT, scope=("elevator:installation", "elevator:maintenance")),
        ),
    },  # fmt: skip
    apps.ReasonIn: {
        "reason": Example("Why", {"reason": "the periodic inspection report is missing"})
    },
    apps.CorrectionIn: {
        "items": Example(
            "Every missing item at once",
            {"items": ["the type-test certificate", "the maintenance contract"]},
        )
    },
    apps.MaterialsIn: {
        "materials": Example(
            "The requested documents",
            {"materials": [{"name": "the type-test certificate", "sha256": SHA}]},
        )
    },
    apps.OpinionIn: {
        "opinion": Example(
            "A review step", {"opinion": "documents complete; site visit not needed"}
        )
    },
    apps.SuspendClockIn: {
        "expert_review": Example(
            "Stop the clock for an expert review",
            {"reason": "expert review of the safety assessment", "notice_ref": "XH-2014-0117"},
        )
    },
    apps.ApproveIn: {
        "approve": Example("Approve", {"opinion": "conditions met"}),
        "shorter": Example(
            "Approve a production licence for a shorter term",
            {"opinion": "conditions met; renew after the 2016 audit", "valid_until": "2016-12-31"},
        ),
    },
    apps.RefuseIn: {
        "refuse": Example(
            "Refuse, with the legal basis",
            {
                "reason": "the unit has no qualified lift mechanics",
                "legal_basis": "Special Equipment Safety Law, art. 18",
            },
        )
    },
    apps.WithdrawIn: {
        "withdraw": Example("Withdraw", {"reason": "the lift will not be installed"})
    },
    apps.CertificateDeliveryIn: {
        "counter": Example("Handed over at the counter", {"reference": "counter receipt 0932"})
    },
    InspectorIn: {
        "inspector": Example(
            "An inspector on Xuhui's list",
            {
                "inspector_id": "INS-0042",
                "name": "Li Ming",
                "organization_uscc": UNIT,
                "bureau": "310104",
            },
        )
    },
    AuditPlanIn: {
        "size": Example(
            "Draw five production licensees (repeatable with the seed)",
            {"kind": "production_licence", "size": 5, "seed": 20141001},
        ),
        "rate": Example(
            "Draw a tenth of the candidates", {"kind": "use_registration", "rate": 0.1}
        ),
    },
    RiskFactIn: {
        "accident": Example(
            "An accident that weighs the draw",
            {
                "fact_id": "acc-2014-0007",
                "uscc": UNIT,
                "type": "accident",
                "occurred_on": "2014-05-01",
            },
        ),
        "grade": Example(
            "A credit grade",
            {
                "fact_id": "grade-2014-Q2",
                "uscc": UNIT,
                "type": "credit_grade",
                "occurred_on": "2014-07-01",
                "grade": "C",
            },
        ),
    },  # fmt: skip
    FindingsIn: {
        "findings": Example(
            "What the audit found at one licensee",
            {
                "licence_no": LICENCE,
                "findings": [{"item": "maintenance records incomplete", "severity": "serious"}],
            },
        )
    },
    RectificationOrderIn: {
        "order": Example(
            "Order a rectification by a date",
            {
                "licence_no": LICENCE,
                "due_on": "2014-11-20",
                "items": ["complete the maintenance records"],
            },
        )
    },
    VerifyIn: {"verify": Example("No body is needed", {})},
    DelegationIn: {
        "ftz": Example(
            "Delegate two kinds to the Free Trade Zone branch",
            {
                "bureau": "FTZ",
                "kinds": ["use_registration", "production_licence"],
                "effective_from": "2014-10-01",
            },
        )
    },
    RevocationIn: {
        "revoke": Example(
            "Revoke from a date",
            {"effective_from": "2014-12-01", "reason": "the branch was reorganised"},
        )
    },
    EquipmentChangeIn: {
        "maintenance_unit": Example(
            "A new maintenance contract",
            {"reason": "maintenance contract moved", "maintenance_unit_uscc": UNIT},
        ),
        "address": Example(
            "The building was renumbered",
            {"reason": "street renumbered", "address": "7 Tianping Road"},
        ),
    },
    RenewalIn: {
        "licence": Example("Renew a licence (no body needed)", {}),
        "operator": Example(
            "An operator's items to review",
            {"items": [{"item": "T", "last_worked_on": "2014-09-01"}]},
        ),
    },
    RenewalDecisionIn: {
        "granted": Example("Grant", {"outcome": "granted", "reason": "audit passed"})
    },
    PolicySchema: {"policy": Example("A liability policy on one lift", _policy())},
    BatchEnvelopeSchema: {
        "batch": Example(
            "A batch (each policy with its number)",
            {"policies": [{"policy_no": "PA-2014-000123", **_policy()}]},
        )
    },
    QuoteSchema: {
        "quote": Example(
            "Asked to quote two lifts, for a month",
            {"equipment_codes": [EQUIPMENT, "311012345201400002"], "valid_until": "2014-12-31"},
        )
    },
    MaintenanceBatchIn: {
        "records": Example(
            "Two half-monthly maintenances of one lift",
            {
                "records": [
                    {
                        "record_id": "WB-2014-0915-001",
                        "equipment_code": EQUIPMENT,
                        "performed_on": "2014-09-15",
                        "type": "half_monthly",
                    },
                    {
                        "record_id": "WB-2014-0929-001",
                        "equipment_code": EQUIPMENT,
                        "performed_on": "2014-09-29",
                        "type": "half_monthly",
                    },
                ]
            },
        )
    },
    QualityEventIn: {
        "entrapment": Example(
            "A late arrival to an entrapment in a central district",
            {
                "event_id": "XH-ENT-2014-0042",
                "unit_uscc": UNIT,
                "equipment_code": EQUIPMENT,
                "type": "entrapment",
                "occurred_at": "2014-09-20T18:05:00+08:00",
                "details": {"arrival_minutes": 42, "area": "central"},
            },
        ),
        "complaint": Example(
            "A verified complaint",
            {
                "event_id": "XH-CMP-2014-0107",
                "unit_uscc": UNIT,
                "equipment_code": EQUIPMENT,
                "type": "complaint_verified",
                "occurred_at": "2014-09-22T10:00:00+08:00",
            },
        ),
    },
    AppealIn: {
        "appeal": Example(
            "Object to one deduction (its id from the unit's credit detail)",
            {
                "deduction_id": "5f0c7a53-3c1e-5d7b-9a43-2f1e6d8c4b21",
                "grounds": "the complaint concerned a lift we did not maintain that day",
            },
        )
    },
    AppealDecisionIn: {
        "overturned": Example(
            "Overturn the deduction",
            {"outcome": "overturned", "reason": "the register shows another maintenance unit"},
        )
    },
    EvaluationIn: {"period": Example("Publish the scores of 2013", {"period": "2013"})},
    RuleSetIn: {"stricter": Example("Verified complaints cost 3 from 2015", _ruleset())},
    WhatIfIn: {
        "today": Example("As of today", {}),
        "as_of": Example("As of a day", {"as_of": "2014-09-30"}),
    },
    ManualListingIn: {
        "serious_violation": Example(
            "List a unit on the serious-violation list (严重违法失信名单)",
            {
                "uscc": UNIT,
                "name": "上海浦东电梯维保有限公司",
                "district": "310115",
                "reason": "forged half-monthly maintenance records",
                "legal_basis": "Special Equipment Safety Law of the PRC, art. 88",
                "decision_no": "沪市监特罚〔2014〕12号",
                "listed_on": "2014-09-26",
            },
        )
    },
    RepairApplicationIn: {
        "repair": Example(
            "Apply for credit repair after rectifying",
            {"rectification": "records system replaced; maintenance staff retrained and certified"},
        )
    },
    ReinspectionIn: {
        "passed": Example(
            "The re-inspection found the rectification done",
            {"passed": True, "findings": "20 elevators sampled, records complete"},
        )
    },
    RepairDecisionIn: {
        "granted": Example(
            "Grant credit repair",
            {"outcome": "granted", "reason": "rectified and re-inspected"},
        )
    },
    ComplaintIn: {
        "complaint": Example(
            "A passenger's complaint from the elevator's page",
            {
                "equipment_code": EQUIPMENT,
                "what": "电梯在5楼和6楼之间停了20分钟，警铃无人应答",
                "occurred_at": "2014-09-22T08:40:00+08:00",
                "contact": "138 0013 8000",
            },
        ),
        "anonymous": Example(
            "Without contact details",
            {
                "equipment_code": EQUIPMENT,
                "what": "the doors close before passengers are out",
                "occurred_at": "2014-09-23T18:10:00+08:00",
            },
        ),
    },
    ComplaintForm: {
        "form": Example(
            "The elevator page's form, as a browser sends it (shown here as its fields)",
            {
                "equipment_code": EQUIPMENT,
                "what": "电梯在5楼和6楼之间停了20分钟，警铃无人应答",
                "occurred_at": "2014-09-22T08:40",
                "contact": "",
                "lang": "zh",
                "idempotency_key": "k7Qe2mZpR4xT9vLbN3sD",
            },
        ),
    },
    ComplaintDecisionIn: {
        "verified": Example(
            "Verify: a quality fact against the unit that maintained the elevator that day",
            {"outcome": "verified", "reason": "the maintenance record shows the brake unadjusted"},
        ),
        "dismissed": Example(
            "Dismiss",
            {"outcome": "dismissed", "reason": "the stop was a power cut in the building"},
        ),
    },
}


def examples_for(schema: Schema | type[Schema]) -> dict[str, Example]:
    """The named examples of a body schema (empty when there are none)."""
    cls = schema if isinstance(schema, type) else type(schema)
    return EXAMPLES.get(cls, {})
