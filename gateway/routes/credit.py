"""Maintenance-quality credit: units submit maintenance records and appeal deductions,
officers record quality events and decide appeals, the city publishes and finalizes
evaluations, the public reads final grades.

A maintenance unit reads only its own credit detail (another unit's answers 404, as a unit the
service does not know); officers and the city read every unit's (credit-based supervision
draws on all of them). An officer decides the appeals of units its bureau licensed (the city
bureau any), and records quality events on them.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.auth import APPLICANT, BUREAU_OFFICER, CITY_ADMIN, INSURER, MAINTENANCE_UNIT
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.errors import Invalid
from infra.identifiers import InvalidIdentifier, validate_uscc
from infra.paging import PageQuery, decode_cursor, page_of
from infra.schemas import Date, Pattern, Reply
from services.maintenance_credit.schemas import (
    MAX_RECORDS,
    PUBLIC_READ_EVENTS,
    AppealDecisionIn,
    AppealIn,
    EvaluationIn,
    MaintenanceBatchIn,
    QualityEventIn,
    RuleSetIn,
    WhatIfIn,
)

TAG = "Credit"
OFFICIALS = [CITY_ADMIN, BUREAU_OFFICER]
USCC_PARAM = {"description": "the maintenance unit's unified social credit code"}
GRADE = {"description": "A 0-10, B 11-25, C 26-40, D over 40 net demerits (demerit-2016)"}


# --- views ----------------------------------------------------------------------------------


class RejectedRecord(Reply):
    index = fields.Integer(required=True)
    record_id = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)


class BatchOutcome(Reply):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True, metadata={"description": "record_ids sent before"})
    rejected = fields.List(fields.Nested(RejectedRecord), required=True)


class QualityEventView(Reply):
    event_id = fields.String(required=True)
    unit_uscc = fields.String(required=True)
    equipment_code = fields.String(allow_none=True)
    type = fields.String(required=True)
    occurred_at = fields.String(required=True)
    details = fields.Dict(required=True)
    duplicate = fields.Boolean(
        required=True, metadata={"description": "true: this event_id was recorded before (200)"}
    )


class DeductionView(Reply):
    id = fields.String(required=True)
    rule = fields.String(required=True)
    points = fields.Float(required=True)
    event_id = fields.String(allow_none=True, required=True)
    facts = fields.List(fields.String(), metadata={"description": "every fact it rests on"})
    explanation = fields.String()
    status = fields.String(required=True, metadata={"enum": ["active", "under_appeal", "reversed"]})


class VetoView(Reply):
    veto = fields.String(required=True)
    event_id = fields.String(required=True)
    occurred_on = fields.String(required=True)


class UnitCreditView(Reply):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(allow_none=True)
    period = fields.String(required=True, metadata={"description": "the calendar year"})
    ruleset = fields.String(required=True)
    demerits = fields.Float(required=True)
    grade = fields.String(required=True, metadata=GRADE)
    vetoed = fields.Boolean(required=True)
    vetoes = fields.List(fields.Nested(VetoView))
    elevators = fields.Integer(metadata={"description": "maintained in the period"})
    deductions = fields.List(fields.Nested(DeductionView), required=True)
    as_of = fields.String(required=True)


class PeriodGrade(Reply):
    period = fields.String(required=True)
    demerits = fields.Float(required=True)
    grade = fields.String(required=True)
    vetoed = fields.Boolean(required=True)
    status = fields.String(metadata={"enum": ["published", "final"]})
    as_of = fields.String()


class HistoryView(Reply):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(
        allow_none=True, metadata={"description": "where the unit is; null when not known"}
    )
    periods = fields.List(fields.Nested(PeriodGrade), required=True)
    current = fields.Nested(PeriodGrade, required=True)


class AppealView(Reply):
    id = fields.String(required=True)
    uscc = fields.String(required=True)
    deduction_id = fields.String(required=True)
    period = fields.String(required=True)
    rule = fields.String(required=True)
    points = fields.Float(required=True)
    grounds = fields.String(required=True)
    bureau = fields.String(required=True, metadata={"description": "the bureau that decides"})
    status = fields.String(
        required=True, metadata={"enum": ["under_appeal", "upheld", "overturned"]}
    )
    filed_on = fields.String(allow_none=True)
    decided_on = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    version = fields.Integer(required=True)


class EvaluationView(Reply):
    id = fields.String(required=True)
    period = fields.String(required=True)
    ruleset = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["published", "final"]})
    published_on = fields.String(allow_none=True)
    objection_until = fields.String(allow_none=True)
    finalized_on = fields.String(allow_none=True)
    units = fields.Integer()
    grades = fields.Dict(keys=fields.String(), values=fields.Integer())
    version = fields.Integer(required=True)


class RulesetView(Reply):
    version = fields.String(required=True)
    effective_from = fields.String(required=True)
    description = fields.String()
    rules = fields.Dict(required=True)
    vetoes = fields.List(fields.Dict())
    grades = fields.List(fields.Dict(), required=True)
    objection_working_days = fields.Integer()


class RulesetPage(Reply):
    items = fields.List(fields.Nested(RulesetView), required=True)
    next_cursor = fields.String(allow_none=True)


class GradeChange(Reply):
    uscc = fields.String(required=True)
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)


class WhatIfView(Reply):
    version = fields.String(required=True)
    compared_with = fields.String(required=True, metadata={"description": "in force on as_of"})
    as_of = fields.String(required=True)
    units = fields.Integer(required=True)
    changes = fields.List(fields.Nested(GradeChange), required=True)


class PublicCredit(Reply):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(allow_none=True)
    period = fields.String(required=True)
    grade = fields.String(required=True, metadata=GRADE)
    demerits = fields.Float(required=True)
    vetoed = fields.Boolean(required=True)


class PublicCreditPage(Reply):
    items = fields.List(fields.Nested(PublicCredit), required=True)
    next_cursor = fields.String(allow_none=True)


# --- queries --------------------------------------------------------------------------------


class AsOfQuery(Schema):
    as_of = Date(metadata={"description": "default: today; facts up to this day count"})


class PublicCreditQuery(PageQuery):
    uscc = fields.String(validate=validate.Length(max=18))
    name = fields.String(validate=validate.Length(min=1, max=200))
    grade = fields.String(validate=validate.Length(min=1, max=4))
    district = fields.String(validate=Pattern(r"^[0-9]{6}$", error="a 6-digit district code"))


def _uscc(call: Call) -> str:
    """The unit named in the path, checked (422 on ``uscc`` when it is no credit code)."""
    try:
        return validate_uscc(call.path["uscc"], call.uscc_exceptions)
    except InvalidIdentifier as exc:
        raise Invalid("invalid credit code", {"uscc": [str(exc)]}) from None


def _officer_bureau(call: Call) -> str | None:
    return call.caller.bureau if call.caller.role == BUREAU_OFFICER else None


class CreditRoutes(RouteBase):
    @route(
        "POST",
        "/v1/maintenance-records:batch",
        roles=[MAINTENANCE_UNIT],
        tag=TAG,
        summary=f"Submit up to {MAX_RECORDS} maintenance records",
        description="Each record is checked on its own: one for an elevator the unit did not "
        "maintain on performed_on (or with a bad field) is rejected with its index and errors; "
        "the rest are kept. A record_id sent before counts as a duplicate and changes nothing.",
        body=MaintenanceBatchIn,
        responses={200: BatchOutcome},
        errors=(422,),
    )
    def record_maintenance(self, call: Call):
        return 200, self.rpc.maintenance_credit.record_maintenance(call.caller.uscc, call.body)

    @route(
        "POST",
        "/v1/quality-events",
        roles=OFFICIALS,
        tag=TAG,
        summary="Record a quality event about a maintenance unit",
        description="details by type: inspection_result {passed, first_attempt}, entrapment "
        "{arrival_minutes, area: central|outer}, fault {caused_by_maintenance}, penalty "
        "{kind, decision_no}, accident {liability}; the other types take none. 201 recorded; "
        "200 the same event_id sent before with the same content; 409 with other content. "
        "An officer records events on units its bureau licensed.",
        body=QualityEventIn,
        responses={201: QualityEventView, 200: QualityEventView},
        errors=(409, 422),
    )
    def record_quality_event(self, call: Call):
        body = {**call.body, "occurred_at": call.body["occurred_at"].isoformat()}
        result = self.rpc.maintenance_credit.record_quality_event(body, _officer_bureau(call))
        status = result.pop("status")
        return status, {**result, "duplicate": status == 200}

    @route(
        "GET",
        "/v1/credit/units/{uscc}",
        roles=[*OFFICIALS, MAINTENANCE_UNIT],
        tag=TAG,
        summary="A unit's score with the deductions that made it",
        description="The calendar year of as_of (default today), facts up to that day, under "
        "the rule set in force that day; appeals as decided now. A maintenance unit reads its "
        "own only.",
        query=AsOfQuery,
        responses={200: UnitCreditView},
        errors=(422,),
        path_params={"uscc": USCC_PARAM},
    )
    def unit_credit(self, call: Call):
        uscc = _uscc(call)
        if call.caller.role == MAINTENANCE_UNIT:
            call.visible(uscc=uscc)
        as_of = call.query.get("as_of")
        return self.rpc.maintenance_credit.unit_credit(uscc, as_of and as_of.isoformat())

    @route(
        "GET",
        "/v1/credit/units/{uscc}/history",
        roles=[*OFFICIALS, MAINTENANCE_UNIT],
        tag=TAG,
        summary="A unit's grades and demerits over time",
        description="Each evaluated period (published, then final) and the current period so "
        "far. A maintenance unit reads its own only.",
        responses={200: HistoryView},
        errors=(422,),
        path_params={"uscc": USCC_PARAM},
    )
    def unit_history(self, call: Call):
        uscc = _uscc(call)
        if call.caller.role == MAINTENANCE_UNIT:
            call.visible(uscc=uscc)
        return self.rpc.maintenance_credit.unit_history(uscc)

    @route(
        "POST",
        "/v1/credit/units/{uscc}/appeals",
        roles=[MAINTENANCE_UNIT],
        tag=TAG,
        summary="Appeal one deduction while the evaluation is open for objection",
        description="One appeal per deduction (a second: 409); outside the objection period "
        "409; an unknown deduction 404. The bureau that licensed the unit decides.",
        body=AppealIn,
        responses={201: AppealView},
        errors=(404, 409, 422),
        path_params={"uscc": USCC_PARAM},
    )
    def file_appeal(self, call: Call):
        uscc = _uscc(call)
        call.require(uscc=uscc)
        result = self.rpc.maintenance_credit.file_appeal(uscc, call.body, call.command_id)
        return 201, result

    @route(
        "POST",
        "/v1/credit/appeals/{appeal_id}/decide",
        roles=OFFICIALS,
        tag=TAG,
        summary="Uphold or overturn the deduction appealed",
        description="By an officer of the bureau that licensed the unit (the city bureau "
        "decides any); an overturned deduction is reversed. A decided appeal: 409.",
        body=AppealDecisionIn,
        responses={200: AppealView},
        errors=(404, 409, 422),
        path_params={"appeal_id": {"description": "the appeal's id"}},
    )
    def decide_appeal(self, call: Call):
        appeal_id = call.path["appeal_id"]
        appeal = self.rpc.maintenance_credit.get_appeal(appeal_id)
        call.require(bureau=appeal["bureau"])
        return self.rpc.maintenance_credit.decide_appeal(
            appeal_id, call.body, _officer_bureau(call), call.command_id
        )

    @route(
        "GET",
        "/v1/credit/rulesets",
        roles=[*OFFICIALS, MAINTENANCE_UNIT, INSURER, APPLICANT],
        tag=TAG,
        summary="The rule-set versions, in the order they took effect",
        responses={200: RulesetPage},
    )
    def list_rulesets(self, call: Call):
        return {"items": self.rpc.maintenance_credit.list_rulesets(), "next_cursor": None}

    @route(
        "POST",
        "/v1/credit/rulesets",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Adopt a new rule-set version, in force from a future day",
        description="Checked in full (an unknown rule, overlapping or gapped grade bands: 422 "
        "on the field); effective_from must be after today; a version that exists: 409. "
        "Until it takes effect, a what-if run shows which units it would move.",
        body=RuleSetIn,
        responses={201: RulesetView},
        errors=(409, 422),
    )
    def create_ruleset(self, call: Call):
        body = {**call.body, "effective_from": call.body["effective_from"].isoformat()}
        return 201, self.rpc.maintenance_credit.adopt_ruleset(body, call.command_id)

    @route(
        "POST",
        "/v1/credit/rulesets/{version}/what-if",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Which units would change grade under a rule-set version",
        description="Every unit scored on as_of (default today) under the version in force "
        "then and under this one; changes lists those whose grade differs. Changes nothing.",
        body=WhatIfIn,
        responses={200: WhatIfView},
        errors=(404, 422),
        path_params={"version": {"description": "a rule-set version, e.g. demerit-2016"}},
    )
    def what_if(self, call: Call):
        as_of = call.body.get("as_of") if call.body else None
        body = {"as_of": as_of.isoformat()} if as_of else {}
        return self.rpc.maintenance_credit.what_if(call.path["version"], body)

    @route(
        "POST",
        "/v1/credit/evaluations",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Publish every unit's score of an ended period for objection",
        description="The evaluation's id is the period. Open for objection for the rule set's "
        "objection_working_days working days (10). A period not ended, or evaluated already: "
        "409.",
        body=EvaluationIn,
        responses={201: EvaluationView},
        errors=(409, 422),
    )
    def publish_evaluation(self, call: Call):
        return 201, self.rpc.maintenance_credit.publish_evaluation(call.body, call.command_id)

    @route(
        "POST",
        "/v1/credit/evaluations/{evaluation_id}/finalize",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Make the grades of an evaluation final",
        description="Once its objection period has passed and every appeal of the period is "
        "decided (409 before); the scores are computed again with overturned deductions "
        "reversed.",
        responses={200: EvaluationView},
        errors=(404, 409),
        path_params={"evaluation_id": {"description": "the period, e.g. 2016"}},
    )
    def finalize_evaluation(self, call: Call):
        return self.rpc.maintenance_credit.finalize_evaluation(
            call.path["evaluation_id"], call.command_id
        )

    @route(
        "GET",
        "/v1/public/credit",
        roles=PUBLIC,
        tag="Public",
        summary="Current final credit grades of maintenance units",
        description="Each unit's latest final grade, by credit code, in pages; filter by code, "
        "name (partial), grade or district.",
        query=PublicCreditQuery,
        responses={200: PublicCreditPage},
        cache_from=(("maintenance_credit", PUBLIC_READ_EVENTS),),
    )
    def public_credit(self, call: Call):
        q = dict(call.query)
        limit, cursor = q.pop("limit"), q.pop("cursor", None)
        after = decode_cursor(cursor, 1) if cursor else None
        items = self.rpc.maintenance_credit.public_credit(q, limit + 1, after)
        return page_of(items, limit, lambda item: [item["uscc"]])
