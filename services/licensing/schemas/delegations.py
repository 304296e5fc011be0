"""Delegation inputs, queries and views."""

from __future__ import annotations

from marshmallow import (
    Schema,
    fields,
    validate,
)

from infra.places import BUREAU_LABELS, BUREAUS
from infra.schemas import Reply, Strict
from services.licensing.domain.common import KINDS
from services.licensing.schemas.base import TEXT, IsoDate

# --- delegations ----------------------------------------------------------------------------


class DelegationIn(Strict):
    bureau = fields.String(
        required=True,
        validate=validate.OneOf(
            BUREAUS[1:], BUREAU_LABELS[1:], error="the FTZ branch or a district bureau: {labels}"
        ),
    )
    kinds = fields.List(
        fields.String(validate=validate.OneOf(KINDS)),
        required=True,
        validate=validate.Length(min=1, max=len(KINDS)),
    )
    effective_from = IsoDate(
        required=True,
        metadata={"description": "from 1990-01-01 to 5 years after today (else 422)"},
    )


class RevocationIn(Strict):
    effective_from = IsoDate(
        required=True,
        metadata={
            "description": "today or later, at most 5 years ahead (a revocation is never "
            "backdated); the delegation reads active until then"
        },
    )
    reason = fields.String(required=True, validate=TEXT)


class DelegationQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))
    as_of = IsoDate(metadata={"description": "only delegations in force on this date"})


class DelegationView(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={
            "description": "active, or revoked from the revocation's effective date on (until "
            "then the delegation is active and shows revoked_from)"
        },
    )
    version = fields.Integer(required=True)
    revoked_from = fields.String()
    revocation_reason = fields.String()
    in_force = fields.Boolean()


class DelegationPage(Reply):
    items = fields.List(fields.Nested(DelegationView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
