"""Credit input schemas (validated at the gateway and again in the service) and the
integration events the service publishes."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from infra.identifiers import EquipmentCodeField, USCCField
from infra.schemas import Date, Pattern, Reply, Strict, Timestamp, flatten_errors
from services.maintenance_credit.domain import EVALUATION_EVENTS, RECORD_TYPES, UNIT_EVENTS
from services.maintenance_credit.rules import QUALITY_EVENT_TYPES

MAX_RECORDS = 5000
REFERENCE = Pattern(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", error="1-64 letters, digits, -, _, . or :"
)
PERIOD = Pattern(r"^(19|20|21)[0-9]{2}$", error="a calendar year, e.g. 2016")


class MaintenanceRecordIn(Strict):
    record_id = fields.String(required=True, validate=REFERENCE)
    equipment_code = EquipmentCodeField(required=True)
    performed_on = Date(required=True)
    type = fields.String(required=True, validate=validate.OneOf(RECORD_TYPES))


class MaintenanceBatchIn(Strict):
    """``POST /v1/maintenance-records:batch``: records are checked one by one (a bad one is
    rejected with its index, the rest kept), so the list is loaded as raw objects here."""

    records = fields.List(
        fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_RECORDS)
    )


# --- quality events -------------------------------------------------------------------------


class Flag(fields.Boolean):
    """JSON true or false only: a fact's "passed" is not inferred from "yes" or 1."""

    truthy = {True}
    falsy = {False}


class InspectionResultDetails(Strict):
    passed = Flag(required=True)
    first_attempt = Flag(required=True)


class EntrapmentDetails(Strict):
    arrival_minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=24 * 60)
    )
    area = fields.String(required=True, validate=validate.OneOf(["central", "outer"]))


class FaultDetails(Strict):
    caused_by_maintenance = Flag(required=True)


class PenaltyDetails(Strict):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=80))
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AccidentDetails(Strict):
    liability = Flag(required=True)


class NoDetails(Strict):
    """Types whose fact is the event itself: details may carry a note."""

    note = fields.String(validate=validate.Length(max=2000))


DETAILS = {
    "inspection_result": InspectionResultDetails,
    "entrapment": EntrapmentDetails,
    "fault": FaultDetails,
    "penalty": PenaltyDetails,
    "accident": AccidentDetails,
}
# Types about one elevator: the event must name it.
ABOUT_AN_ELEVATOR = ("inspection_result", "entrapment", "fault")


class QualityEventIn(Strict):
    """``POST /v1/quality-events``."""

    event_id = fields.String(required=True, validate=REFERENCE)
    unit_uscc = USCCField(required=True)
    equipment_code = EquipmentCodeField(load_default=None, allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(QUALITY_EVENT_TYPES))
    occurred_at = Timestamp(required=True)
    details = fields.Dict(load_default=dict)

    @validates_schema
    def _details_of_type(self, data, **kwargs):
        kind = data.get("type")
        if kind is None:
            return
        problems: dict = {}
        if kind in ABOUT_AN_ELEVATOR and not data.get("equipment_code"):
            problems["equipment_code"] = [f"required for {kind}"]
        try:
            data["details"] = DETAILS.get(kind, NoDetails)().load(data.get("details") or {})
        except ValidationError as exc:
            problems["details"] = exc.messages
        if problems:
            raise ValidationError(problems)


# --- evaluations and appeals ------------------------------------------------------------------


class EvaluationIn(Strict):
    period = fields.String(required=True, validate=PERIOD)


class AppealIn(Strict):
    deduction_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    grounds = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class AppealDecisionIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "overturned"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class RuleSetIn(Strict):
    """``POST /v1/credit/rulesets``: a new version (checked in full by ``rules.parse``, which
    names the field at fault)."""

    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    effective_from = Date(required=True)
    description = fields.String(validate=validate.Length(max=2000))
    objection_working_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=60))
    rules = fields.Dict(required=True)
    vetoes = fields.List(fields.Dict())
    grades = fields.List(fields.Dict(), required=True)


class WhatIfIn(Strict):
    as_of = Date(metadata={"description": "default: today"})


class ScoreQuery(Strict):
    as_of = Date()


class PublicCreditQuery(Strict):
    uscc = fields.String(validate=validate.Length(max=18))
    name = fields.String(validate=validate.Length(min=1, max=200))
    grade = fields.String(validate=validate.Length(min=1, max=4))
    district = fields.String(validate=Pattern(r"^[0-9]{6}$", error="a 6-digit district code"))


# --- the integration events it publishes (on ``maintenance_credit.events``) ---------------------


class _Event(Reply):
    at = fields.String(required=True)
    actor = fields.String(required=True)


class ScoreChangedV1(_Event):
    uscc = fields.String(required=True)
    period = fields.String(required=True)
    as_of = fields.String(required=True)
    demerits = fields.String(required=True, metadata={"description": "decimal text"})
    grade = fields.String(required=True)
    vetoed = fields.Boolean(required=True)
    ruleset = fields.String(required=True)


class VetoRecordedV1(_Event):
    uscc = fields.String(required=True)
    period = fields.String(required=True)
    veto = fields.String(required=True)
    fact_id = fields.String(required=True)


class BlacklistTriggeredV1(_Event):
    uscc = fields.String(required=True)
    reason = fields.String(
        required=True,
        validate=validate.OneOf(
            ["beyond_licence_scope", "first_pass_rate_below_60", "final_grade_d"]
        ),
    )
    fact_id = fields.String(allow_none=True, required=True)
    occurred_on = fields.String(required=True)


class GradeFinalizedV1(_Event):
    uscc = fields.String(required=True)
    period = fields.String(required=True)
    demerits = fields.String(required=True)
    grade = fields.String(required=True)
    vetoed = fields.Boolean(required=True)


class EvaluationPublishedV1(_Event):
    period = fields.String(required=True)
    ruleset = fields.String(required=True)
    published_on = fields.String(required=True)
    objection_until = fields.String(required=True)
    grades = fields.List(fields.Dict(), required=True)


class QualityEventRecordedV1(Reply):
    """A quality event an officer recorded (stream ``quality-<event_id>``), as it was sent:
    others count an elevator's faults and entrapments from it."""

    event_id = fields.String(required=True)
    unit_uscc = fields.String(required=True)
    equipment_code = fields.String(
        allow_none=True, required=True, metadata={"description": "set for elevator facts"}
    )
    type = fields.String(required=True, validate=validate.OneOf(QUALITY_EVENT_TYPES))
    occurred_at = fields.String(required=True, metadata={"description": "ISO, with offset"})
    details = fields.Dict(required=True, metadata={"description": "by type, as accepted"})


INTEGRATION_EVENTS: dict[str, type[Schema]] = {
    "ScoreChanged": ScoreChangedV1,
    "VetoRecorded": VetoRecordedV1,
    "BlacklistTriggered": BlacklistTriggeredV1,
    "GradeFinalized": GradeFinalizedV1,
    "EvaluationPublished": EvaluationPublishedV1,
    "QualityEventRecorded": QualityEventRecordedV1,
}


# The events after which the service's public reads (``reads.public_credit``, ``final_grade``)
# may answer otherwise: those of the units (``credit_units``: name, district) and of the
# evaluations (``credit_grades``), the two tables those reads read. The gateway keeps public
# answers until one of these arrives and does not hear the rest (a unit's maintenance records,
# thousands a batch). tests/service/test_credit_store.py checks that every change to those
# tables comes with one of them.
PUBLIC_READ_EVENTS: tuple[str, ...] = (*UNIT_EVENTS, *EVALUATION_EVENTS)


def validate_event(event_type: str, data: dict) -> dict[str, list[str]]:
    """Errors of a published event's data against its contract (empty: valid)."""
    schema = INTEGRATION_EVENTS.get(event_type)
    if schema is None:
        return {}
    return flatten_errors(schema().validate(data))
