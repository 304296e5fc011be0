"""Audit inputs and queries."""

from __future__ import annotations

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from infra.clock import today
from infra.places import BUREAUS
from infra.schemas import Strict
from services.licensing.domain.common import KINDS
from services.licensing.schemas.base import NAME, TEXT, IsoDate, Uscc

FIRST_AUDIT_YEAR = 2000

# --- audits ---------------------------------------------------------------------------------


class AuditPlanIn(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    size = fields.Integer(strict=True, validate=validate.Range(min=1, max=10000))
    rate = fields.Float(
        validate=validate.Range(min=0, max=1, min_inclusive=False),
        metadata={
            "description": "share of the candidates, rounded up; without size or rate "
            "the yearly minimum rate (0.05)"
        },
    )
    seed = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**63 - 1))
    inspectors_per_target = fields.Integer(
        strict=True, load_default=2, validate=validate.Range(min=1, max=5)
    )
    bureau = fields.String(
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "city_admin only: the bureau to audit"},
    )

    @validates_schema
    def _size_or_rate(self, data, **kwargs):
        # Neither: the service draws the rule set's yearly minimum rate (5 %).
        if "size" in data and "rate" in data:
            raise ValidationError("give size or rate, not both")


class FindingIn(Strict):
    item = fields.String(required=True, validate=TEXT)
    severity = fields.String(required=True, validate=validate.OneOf(["minor", "serious"]))


class FindingsIn(Strict):
    licence_no = fields.String(required=True, validate=validate.Length(min=1, max=50))
    findings = fields.List(
        fields.Nested(FindingIn), required=True, validate=validate.Length(min=0, max=100)
    )


class RectificationOrderIn(Strict):
    licence_no = fields.String(required=True, validate=validate.Length(min=1, max=50))
    due_on = IsoDate(required=True)
    items = fields.List(
        fields.String(validate=TEXT), required=True, validate=validate.Length(min=1, max=100)
    )


class InspectorIn(Strict):
    inspector_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=NAME)
    organization_uscc = Uscc(required=True)
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


class RiskFactIn(Strict):
    fact_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    uscc = Uscc(required=True)
    type = fields.String(
        required=True, validate=validate.OneOf(["accident", "credit_grade", "complaint_verified"])
    )
    occurred_on = IsoDate(required=True)
    grade = fields.String(validate=validate.OneOf(["A", "B", "C", "D"]))


class PublicAuditQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


class NotFutureYear(validate.Validator):
    def __call__(self, value: int) -> int:
        if value > today().year:
            raise ValidationError("must not be after the current year")
        return value


class AuditCoverageQuery(Schema):
    year = fields.Integer(
        validate=[validate.Range(min=FIRST_AUDIT_YEAR), NotFutureYear()],
        metadata={"description": "calendar year (default: the current year)"},
    )
    kind = fields.String(
        validate=validate.OneOf(KINDS),
        metadata={"description": "one kind (default: every kind the bureau has licensees of)"},
    )
    bureau = fields.String(
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "one bureau (default: the officer's own; city-wide: all)"},
    )


class AuditPlanQuery(Schema):
    bureau = fields.String(
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "one bureau (an officer: its own; city-wide: any)"},
    )
    kind = fields.String(validate=validate.OneOf(KINDS))
    year = fields.Integer(
        validate=[validate.Range(min=FIRST_AUDIT_YEAR), NotFutureYear()],
        metadata={"description": "plans drawn in this calendar year"},
    )


class InspectorQuery(Schema):
    bureau = fields.String(
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "one bureau's list (an officer: its own; city-wide: any)"},
    )
