"""Licence and register inputs, queries and views (public records too)."""

from __future__ import annotations

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
)

from infra.clock import today
from infra.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from infra.places import BUREAUS, DISTRICTS
from infra.schemas import Reply, Strict
from services.licensing.domain.common import KINDS
from services.licensing.domain.licence.rules import STATUSES
from services.licensing.schemas.base import TEXT, IsoDate, Uscc

# --- licences and equipment -----------------------------------------------------------------


class RenewalItemIn(Strict):
    item = fields.String(required=True, validate=validate.Length(min=1, max=10))
    last_worked_on = IsoDate(required=True)


class RenewalIn(Strict):
    items = fields.List(
        fields.Nested(RenewalItemIn),
        validate=validate.Length(max=20),
        metadata={"description": "operator certificates: the items to review"},
    )


class RenewalDecisionIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(["granted", "refused"]))
    reason = fields.String(required=True, validate=TEXT)


class Holder(fields.String):
    """A licence holder: an organization's credit code or a person's resident ID number
    (both 18 characters; each checked by its own check character)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_uscc(text)  # the request's exception list applies
        except InvalidIdentifier as as_uscc:
            try:
                return validate_resident_id(text, today())
            except InvalidIdentifier as as_person:
                raise ValidationError(
                    f"neither a credit code ({as_uscc.reason}) "
                    f"nor a resident ID number ({as_person.reason})"
                ) from None


class LicenceQuery(Schema):
    holder = Holder(
        metadata={
            "description": "an organization's credit code, or (officials) a person's resident "
            "ID number"
        }
    )
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


class PublicLicenceQuery(Schema):
    holder = fields.String(
        validate=validate.Length(min=2, max=200),
        metadata={"description": "a credit code (exact) or a name (partial)"},
    )
    licence_no = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={"description": "a licence number (exact)"},
    )
    kind = fields.String(
        validate=validate.OneOf(KINDS, error="must be one of: {choices}"),
        metadata={"description": "the kind of licence"},
    )


class LicenceView(Reply):
    licence_no = fields.String(required=True)
    kind = fields.String(required=True)
    bureau = fields.String(required=True, metadata={"description": "the issuing authority"})
    supervised_by = fields.String(
        metadata={"description": "the bureau that acts on it (a relocation moves a unit's)"}
    )
    status = fields.String(required=True)
    holder = fields.Dict(required=True)
    decision_no = fields.String(required=True)
    decided_on = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(allow_none=True)
    version = fields.Integer(required=True)


class LicencePage(Reply):
    items = fields.List(fields.Nested(LicenceView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PublicLicence(Reply):
    licence_no = fields.String(required=True)
    kind = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    uscc = fields.String(allow_none=True, required=True)
    decision_no = fields.String(required=True)
    decided_on = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(allow_none=True, required=True)
    authority = fields.String(required=True)
    status = fields.String(required=True)


class PublicLicencePage(Reply):
    items = fields.List(fields.Nested(PublicLicence), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class EquipmentView(Reply):
    equipment_code = fields.String(required=True)
    status = fields.String(required=True)
    district = fields.String(required=True)
    in_ftz = fields.Boolean(required=True)
    user = fields.Dict(allow_none=True)
    maintenance_unit_uscc = fields.String(allow_none=True)
    licence_no = fields.String(allow_none=True)
    registered_on = fields.String(allow_none=True)


class EquipmentQuery(Schema):
    district = fields.String(validate=validate.OneOf(DISTRICTS))
    status = fields.String(validate=validate.OneOf(["registered", "suspended", "cancelled"]))
    in_ftz = fields.Boolean()
    maintenance_unit_uscc = Uscc()
    user_uscc = Uscc()


class EquipmentPage(Reply):
    items = fields.List(fields.Nested(EquipmentView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class EquipmentChangeIn(Strict):
    reason = fields.String(required=True, validate=TEXT)
    maintenance_unit_uscc = Uscc()
    address = fields.String(validate=validate.Length(min=1, max=500))
