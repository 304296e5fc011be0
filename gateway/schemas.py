"""marshmallow schemas of the gateway's own endpoints, and the shapes every route shares.

Bodies are ``infra.schemas.Strict`` (unknown fields are refused: 422) and replies
``infra.schemas.Reply`` (more fields than named pass), like every service's schemas.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from gateway.auth import ROLES, claim_errors
from infra.places import BUREAUS
from infra.schemas import Reply, Strict


class ProblemSchema(Reply):
    type = fields.String(required=True, metadata={"description": "URI reference of the type"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": 'Validation messages by field path ("location.district")'},
    )
    request_id = fields.String()


class Health(Reply):
    status = fields.String(required=True)


class Readiness(Reply):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    relays = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "each service's outbox relay: ok, failing, or stuck on an event"},
    )


class TokenCreate(Strict):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    bureau = fields.String(
        allow_none=True,
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "bureau_officer only: the bureau code (SH, FTZ or a district)"},
    )
    uscc = fields.String(
        allow_none=True,
        validate=validate.Length(equal=18),
        metadata={"description": "applicant, maintenance_unit, insurer: the unit's USCC"},
    )

    @validates_schema
    def _claims(self, data: dict, **kwargs) -> None:
        errors = claim_errors(data.get("role", ""), data.get("bureau"), data.get("uscc"))
        if errors:
            raise ValidationError(errors)


class TokenCreated(Reply):
    id = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "shown once; store it"})
    role = fields.String(required=True)
    name = fields.String(required=True)
    bureau = fields.String(allow_none=True)
    uscc = fields.String(allow_none=True)


class Token(Reply):
    id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    bureau = fields.String(allow_none=True, required=True)
    uscc = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True)
    created_by = fields.String(required=True)
    revoked_at = fields.String(allow_none=True, required=True)


class TokenPage(Reply):
    items = fields.List(fields.Nested(Token), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class UsccExceptionIn(Strict):
    note = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "why the code is accepted: the registry, the unit, a reference"},
    )


class UsccException(Reply):
    uscc = fields.String(required=True)
    note = fields.String(required=True)
    listed_at = fields.String(required=True)
    listed_by = fields.String(required=True, metadata={"description": "the token that listed it"})


class UsccExceptionPage(Reply):
    items = fields.List(fields.Nested(UsccException), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
