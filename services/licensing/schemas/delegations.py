"""Delegation inputs, queries and views."""

from __future__ import annotations

from marshmallow import (
    Schema,
    fields,
    validate,
)

from infra.places import BUREAUS, CITY_BUREAU
from infra.schemas import Reply, Strict
from services.licensing.domain.common import KINDS
from services.licensing.schemas.base import TEXT, IsoDate

# --- delegations ----------------------------------------------------------------------------


class DelegationIn(Strict):
    bureau = fields.String(
        required=True,
        validate=validate.OneOf(
            [b for b in BUREAUS if b != CITY_BUREAU], error="the FTZ branch or a district bureau"
        ),
    )
    kinds = fields.List(
        fields.String(validate=validate.OneOf(KINDS)),
        required=True,
        validate=validate.Length(min=1, max=len(KINDS)),
    )
    effective_from = IsoDate(required=True)


class RevocationIn(Strict):
    effective_from = IsoDate(required=True)
    reason = fields.String(required=True, validate=TEXT)


class DelegationQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))
    as_of = IsoDate(metadata={"description": "only delegations in force on this date"})


class DelegationView(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    revoked_from = fields.String()
    revocation_reason = fields.String()
    in_force = fields.Boolean()


class DelegationPage(Reply):
    items = fields.List(fields.Nested(DelegationView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
