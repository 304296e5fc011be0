"""Insurance input schemas (validated at the gateway and again in the service) and the
integration events the service publishes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from infra.identifiers import EquipmentCodeField, USCCField
from infra.schemas import Date, Pattern, Strict, load
from services.insurance.domain import QUOTE_MAX_DAYS, money_text, share_text

# Two decimals are what the terms keep ("5000000" is kept as "5000000.00"): see post_load.
MONEY = Pattern(
    r"^[0-9]{1,13}(\.[0-9]{1,2})?$", error="money in yuan, at most two decimals, e.g. 93.00"
)
SHARE = Pattern(r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$", error="a share between 0 and 1, e.g. 0.30")
POLICY_NO = Pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", error="1-64 letters, digits, -, _ or .")
MAX_EQUIPMENT_PER_POLICY = 5000
MAX_BATCH = 1000
MAX_QUOTED = 1000  # elevators in one quote: a large estate, not the register


class PolicyholderSchema(Strict):
    uscc = USCCField(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    role = fields.String(
        required=True, validate=validate.OneOf(["owner", "user", "maintenance", "inspection"])
    )
    share = fields.String(required=True, validate=SHARE)

    @post_load
    def _canonical(self, data, **kwargs):
        data["share"] = share_text(data["share"])
        return data


class LimitsSchema(Strict):
    per_accident = fields.String(required=True, validate=MONEY)
    per_person = fields.String(required=True, validate=MONEY)

    @post_load
    def _canonical(self, data, **kwargs):
        return {name: money_text(value) for name, value in data.items()}


class PolicySchema(Strict):
    """``PUT /v1/insurance/policies/{policy_no}`` body."""

    revision = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    policyholders = fields.List(
        fields.Nested(PolicyholderSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    equipment_codes = fields.List(
        EquipmentCodeField(),
        required=True,
        validate=validate.Length(min=1, max=MAX_EQUIPMENT_PER_POLICY),
    )
    cover = fields.String(required=True, validate=validate.OneOf(["liability", "comprehensive"]))
    limits = fields.Nested(LimitsSchema, required=True)
    premium = fields.String(required=True, validate=MONEY)
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "cancelled"]))

    @validates_schema(skip_on_field_errors=False)  # report every problem at once
    def _rules(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        holders = data.get("policyholders") or []
        if holders and all(isinstance(h, dict) and "share" in h for h in holders):
            total = sum(Decimal(h["share"]) for h in holders)
            if total != Decimal(1):
                errors["policyholders"] = [f"premium shares must sum to 1, they sum to {total}"]
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] <= data["starts_on"]:
            errors["ends_on"] = ["must be after starts_on"]
        codes = data.get("equipment_codes") or []
        if len(set(codes)) != len(codes):
            errors["equipment_codes"] = ["an elevator is listed twice"]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _canonical(self, data, **kwargs):
        # The terms keep amounts in one way of writing them: a replay that writes "93" where
        # the first push wrote "93.00" says the same, and the stored text shows it so.
        data["premium"] = money_text(data["premium"])
        return data


class BatchItemSchema(PolicySchema):
    policy_no = fields.String(required=True, validate=POLICY_NO)


class BatchEnvelopeSchema(Strict):
    """``POST /v1/insurance/policies:batch``: items are validated one by one afterwards."""

    policies = fields.List(
        fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )


class QuoteSchema(Strict):
    """``POST /v1/insurance/quotes``: the elevators an insurer was asked to quote, until when."""

    equipment_codes = fields.List(
        EquipmentCodeField(),
        required=True,
        validate=validate.Length(min=1, max=MAX_QUOTED),
        metadata={"example": ["311012345201400001"]},
    )
    valid_until = Date(
        required=True,
        metadata={
            "description": f"today to {QUOTE_MAX_DAYS} days ahead (China Standard Time)",
            "example": "2014-12-31",
        },
    )

    @validates_schema
    def _unique(self, data, **kwargs):
        codes = data.get("equipment_codes") or []
        if len(set(codes)) != len(codes):
            raise ValidationError("an elevator is listed twice", field_name="equipment_codes")


# Built once: a schema instance is reusable, and building one (with its nested schemas) costs
# more than loading a policy with it.
_POLICY = PolicySchema()
_BATCH_ITEM = BatchItemSchema()
_QUOTE = QuoteSchema()


def load_policy(payload: Any, with_policy_no: bool = False) -> dict:
    """Validate one pushed policy (dates back as ISO text: what the stored terms hold);
    raises ``infra.errors.Invalid`` with errors by field path."""
    data = load(_BATCH_ITEM if with_policy_no else _POLICY, payload, "policy")
    data["starts_on"] = data["starts_on"].isoformat()
    data["ends_on"] = data["ends_on"].isoformat()
    return data


def load_quote(payload: Any) -> dict:
    """Validate a declared quote; raises ``infra.errors.Invalid`` with errors by field path."""
    return load(_QUOTE, payload, "quote")


# -- integration events published by this service ------------------------------------------
# Consumers validate these names and fields; add fields freely, never rename or drop.
# Every event also carries ``at`` (when it happened) and ``actor`` (who did it).

INTEGRATION_EVENTS = {
    "PolicyEnrolled": "insurer, policy_no, revision, terms{policyholders, equipment_codes, cover,"
    " limits, premium, starts_on, ends_on, status}",
    "PolicyRevised": "revision, terms, added[equipment_code], removed[equipment_code]",
    "PolicyCancelled": "revision, terms",
    "PolicyEndingSoon": "ends_on, reminded_on",
    "PolicyLapsed": "ends_on, equipment_codes",
    "QuoteDeclared": "insurer, quote_id, equipment_codes, valid_until, declared_on",
}
