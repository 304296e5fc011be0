"""The noticeboard's command inputs (the gateway would load the same schema at the edge)."""

from marshmallow import fields, validate

from infra.schemas import Strict


class PinIn(Strict):
    board = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    expires_on = fields.Date(required=True)


class UnpinIn(Strict):
    board = fields.String(required=True)
    number = fields.Integer(required=True, strict=True)
    reason = fields.String(load_default="withdrawn")
