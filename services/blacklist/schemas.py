"""Blacklist inputs (validated at the gateway and again in the service) and the events it
publishes for others."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from infra.identifiers import USCCField
from infra.places import BUREAUS, DISTRICTS
from infra.schemas import Date, Pattern, Reply, Strict, flatten_errors
from services.blacklist.domain import LISTS, SERIOUS_VIOLATION

DISTRICT = validate.OneOf(DISTRICTS)


class ManualListingIn(Strict):
    """``POST /v1/blacklist/listings``: the city bureau's listing (serious-violation list)."""

    uscc = USCCField(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    district = fields.String(load_default=None, allow_none=True, validate=DISTRICT)
    list = fields.String(load_default=SERIOUS_VIOLATION, validate=validate.OneOf(LISTS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    authority = fields.String(load_default="SH", validate=validate.OneOf(BUREAUS))
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    listed_on = Date(metadata={"description": "default: today; not in the future"})


class RepairApplicationIn(Strict):
    """``POST /v1/blacklist/listings/{id}/repair-applications``: what the unit rectified."""

    rectification = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ReinspectionIn(Strict):
    passed = fields.Boolean(required=True, truthy={True}, falsy={False})
    findings = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    inspected_on = Date(metadata={"description": "default: today"})


class RepairDecisionIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(["granted", "denied"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class PublicBlacklistQuery(Strict):
    uscc = USCCField()
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "part of the unit's name, in Chinese or Latin letters"},
    )
    district = fields.String(validate=DISTRICT)
    status = fields.String(
        load_default="listed", validate=validate.OneOf(["listed", "removed", "all"])
    )


LISTING_ID = Pattern(r"^[0-9A-Z]{18}-[0-9]{1,6}$", error="a listing id, e.g. 91350200776049653A-1")
APPLICATION_ID = Pattern(
    r"^[0-9A-Z]{18}-[0-9]{1,6}-R[0-9]{1,6}$",
    error="a repair application id, e.g. 91350200776049653A-1-R1",
)


# --- the events it publishes (on ``blacklist.events``) -----------------------------------------


class _Event(Reply):
    at = fields.String(required=True)
    actor = fields.String(required=True)


class UnitListedV1(_Event):
    uscc = fields.String(required=True)
    listing = fields.Dict(required=True)


class ListingRemovedV1(_Event):
    listing_id = fields.String(required=True)
    removed_on = fields.String(required=True)
    reason = fields.String(required=True)


INTEGRATION_EVENTS: dict[str, type[Schema]] = {
    "UnitListed": UnitListedV1,
    "ListingRemoved": ListingRemovedV1,
}


def validate_event(event_type: str, data: dict) -> dict[str, list[str]]:
    """Errors of a published event's data against its contract (empty: valid)."""
    schema = INTEGRATION_EVENTS.get(event_type)
    if schema is None:
        return {}
    return flatten_errors(schema().validate(data))
