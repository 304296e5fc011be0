"""Post-approval audits (licensing service): plans, findings, rectification, inspectors,
risk facts, the yearly minimum (coverage) and the published results."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from gateway.auth import BUREAU_OFFICER
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routes.licensing import (
    IF_MATCH,
    OFFICIALS,
    _after,
    _bureau_filter,
    _own_bureau,
    _page,
)
from gateway.routing import PUBLIC, route
from infra.paging import PageQuery
from infra.places import CITY_BUREAU
from infra.schemas import Reply, Strict
from services.licensing.schemas.audits import (
    AuditCoverageQuery,
    AuditPlanIn,
    AuditPlanQuery,
    FindingsIn,
    InspectorIn,
    InspectorQuery,
    PublicAuditQuery,
    RectificationOrderIn,
    RiskFactIn,
)


class PublicAuditListQuery(PageQuery, PublicAuditQuery):
    pass


class AuditPlanListQuery(PageQuery, AuditPlanQuery):
    pass


class InspectorListQuery(PageQuery, InspectorQuery):
    pass


class AuditTarget(Reply):
    licence_no = fields.String(required=True)
    holder = fields.String(
        allow_none=True,
        metadata={
            "description": "the organization; for a person's certificate the person's name, "
            "shown to the issuing bureau and city-wide callers (else null)"
        },
    )
    holder_uscc = fields.String(allow_none=True)
    weight = fields.Float(required=True)
    inspectors = fields.List(fields.String(), required=True)
    inspectors_short = fields.Integer(
        metadata={"description": "inspectors the plan asked for but could not assign"}
    )
    outcome = fields.String()
    drawn_this_year = fields.Boolean(
        metadata={"description": "an earlier plan of the year had drawn it (drawn last)"}
    )


class YearlyCoverage(Reply):
    year = fields.Integer(required=True)
    licensees = fields.Integer(
        required=True, metadata={"description": "active licences of the kind, counted today"}
    )
    required = fields.Integer(
        required=True, metadata={"description": "the yearly minimum rate of them, rounded up"}
    )
    drawn = fields.Integer(
        required=True, metadata={"description": "distinct licences the year's plans drew"}
    )
    shortfall = fields.Integer(required=True)
    met = fields.Boolean(required=True)


class CoverageItem(YearlyCoverage):
    bureau = fields.String(required=True)
    kind = fields.String(required=True)


class AuditCoverageView(Reply):
    year = fields.Integer(required=True)
    rate = fields.Float(required=True, metadata={"description": "the yearly minimum rate"})
    licensees_as_of = fields.String(required=True)
    items = fields.List(fields.Nested(CoverageItem), required=True)


class AuditPlanView(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    seed = fields.Integer(required=True)
    targets = fields.List(fields.Nested(AuditTarget), required=True)
    version = fields.Integer(required=True)
    yearly = fields.Nested(
        YearlyCoverage,
        metadata={"description": "the bureau's yearly minimum of the plan's kind and year"},
    )


class PublicAuditPlan(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    kind = fields.String(required=True)
    drawn_on = fields.String(required=True)
    targets = fields.List(fields.Dict(), required=True)


class AuditPlanSummary(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    kind = fields.String(required=True)
    seed = fields.Integer(required=True)
    drawn_on = fields.String(required=True)
    target_count = fields.Integer(required=True)
    outcomes = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "targets per outcome (pending, clean, minor_findings, ...)"},
    )


class AuditPlanPage(Reply):
    items = fields.List(fields.Nested(AuditPlanSummary), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PublicAuditPage(Reply):
    items = fields.List(fields.Nested(PublicAuditPlan), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class InspectorView(Reply):
    inspector_id = fields.String(required=True)
    bureau = fields.String(required=True)
    name = fields.String(required=True)
    organization_uscc = fields.String(required=True)


class InspectorPage(Reply):
    items = fields.List(fields.Nested(InspectorView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class VerifyIn(Strict):
    pass


def _audit_command(command: str, path: str, body: type[Schema], summary: str, status: int):
    @route(
        "POST",
        f"/v1/audits/{{plan_id}}/{path}",
        roles=OFFICIALS,
        tag="Audits",
        summary=summary,
        body=body,
        responses={status: AuditPlanView},
        **IF_MATCH,
    )
    def handler(self, call: Call):
        payload = dict(call.body or {})
        if "licence_no" in call.path:
            payload["licence_no"] = call.path["licence_no"]
        return status, self.rpc.licensing.audit_command(
            call.path["plan_id"], command, payload, _own_bureau(call), call.if_match
        )

    handler.__name__ = "audit_" + command.replace("-", "_")
    return handler


class AuditRoutes(RouteBase):
    @route(
        "POST",
        "/v1/audits/plans",
        roles=OFFICIALS,
        tag="Audits",
        summary="Draw an audit plan: risk-weighted random targets and inspectors",
        description="The seed and the candidate lists are recorded: the draw is "
        "reproducible. A city-wide caller names the bureau. A bureau with no inspectors on its "
        "list cannot draw (409): register inspectors first. A target the list cannot fully "
        "staff (conflicts) shows `inspectors_short`.",
        body=AuditPlanIn,
        responses={201: AuditPlanView},
        errors=(409,),
    )
    def draw_audit_plan(self, call: Call):
        bureau = (
            _own_bureau(call)
            or call.body.get("bureau")
            or (call.caller.bureau if call.caller.role == BUREAU_OFFICER else CITY_BUREAU)
        )
        if call.body.get("bureau") and call.body["bureau"] != bureau:
            call.require(bureau=call.body["bureau"])
        body = {k: v for k, v in call.body.items() if k != "bureau"}
        return 201, self.rpc.licensing.draw_audit_plan(bureau, body)

    @route(
        "GET",
        "/v1/audits/plans",
        roles=OFFICIALS,
        tag="Audits",
        summary="Audit plans, newest first (officers: their bureau's)",
        description="Each plan with its number of targets and their outcomes counted; the plan "
        "itself is `GET /v1/audits/{plan_id}`.",
        query=AuditPlanListQuery,
        responses={200: AuditPlanPage},
    )
    def list_audit_plans(self, call: Call):
        q = call.query
        filters: dict[str, Any] = {k: q[k] for k in ("kind", "year") if k in q}
        filters["bureau"] = _bureau_filter(call, q.get("bureau"))
        items = self.rpc.licensing.list_audit_plans(filters, q["limit"] + 1, _after(call, 2))
        return _page(items, q["limit"], ("drawn_on", "id"))

    @route(
        "GET",
        "/v1/audits/inspectors",
        roles=OFFICIALS,
        tag="Audits",
        summary="Inspectors' lists (officers: their bureau's)",
        query=InspectorListQuery,
        responses={200: InspectorPage},
    )
    def list_inspectors(self, call: Call):
        q = call.query
        bureau = _bureau_filter(call, q.get("bureau"))
        items = self.rpc.licensing.list_inspectors(bureau, q["limit"] + 1, _after(call, 2))
        return _page(items, q["limit"], ("bureau", "inspector_id"))

    @route(
        "GET",
        "/v1/audits/{plan_id}",
        roles=OFFICIALS,
        tag="Audits",
        summary="An audit plan with its targets, findings and rectifications",
        responses={200: AuditPlanView},
    )
    def get_audit_plan(self, call: Call):
        return self.rpc.licensing.get_audit_plan(call.path["plan_id"], _own_bureau(call))

    @route(
        "GET",
        "/v1/audits/coverage",
        roles=OFFICIALS,
        tag="Audits",
        summary="The yearly minimum of audits: required and drawn per bureau and kind",
        description="Per bureau and licence kind for a calendar year: the licensees (active "
        "licences today), how many the yearly minimum rate requires (rounded up), the distinct "
        "licences the year's plans drew, the shortfall. A district officer sees its own "
        "bureau; city-wide callers see every bureau unless they name one.",
        query=AuditCoverageQuery,
        responses={200: AuditCoverageView},
    )
    def audit_coverage(self, call: Call):
        query = dict(call.query)
        bureau = _bureau_filter(call, query.get("bureau"))
        if bureau:
            query["bureau"] = bureau
        return self.rpc.licensing.audit_coverage(query)

    record_findings = _audit_command(
        "findings", "findings", FindingsIn, "Record the findings of one target", 201
    )
    order_rectification = _audit_command(
        "rectification-orders",
        "rectification-orders",
        RectificationOrderIn,
        "Order rectification by a date (needs a serious finding)",
        201,
    )
    verify_rectification = _audit_command(
        "verify",
        "rectifications/{licence_no}/verify",
        VerifyIn,
        "Verify a rectification: the order is closed",
        200,
    )

    @route(
        "GET",
        "/v1/public/audits",
        roles=PUBLIC,
        tag="Public",
        summary="Published audit results (no personal data)",
        query=PublicAuditListQuery,
        responses={200: PublicAuditPage},
    )
    def public_audits(self, call: Call):
        q = call.query
        items = self.rpc.licensing.public_audits(q.get("bureau"), q["limit"] + 1, _after(call, 1))
        return _page(items, q["limit"], ("id",))

    @route(
        "POST",
        "/v1/audits/inspectors",
        roles=OFFICIALS,
        tag="Audits",
        summary="Add an inspector to a bureau's list",
        body=InspectorIn,
        responses={201: InspectorView},
    )
    def register_inspector(self, call: Call):
        bureau = _own_bureau(call)
        if bureau and call.body.get("bureau") not in (None, bureau):
            call.require(bureau=call.body["bureau"])
        return 201, self.rpc.licensing.register_inspector(call.body, bureau)

    @route(
        "POST",
        "/v1/audits/risk-facts",
        roles=OFFICIALS,
        tag="Audits",
        summary="Record a risk fact (accident, credit grade, verified complaint)",
        description="A district or FTZ officer records facts about the licensees of his "
        "bureau and the users and maintainers of the units it supervises (403 otherwise); the "
        "city bureau and city_admin about anyone. `fact_id` is the recording bureau's own: "
        "the same fact again answers `recorded: false`, another fact under a used id 409. A "
        "`credit_grade` fact weighs the draw only for a unit the maintenance-credit service "
        "has published no final grade for (a published grade wins).",
        body=RiskFactIn,
        responses={201: None},
        errors=(409,),
    )
    def record_risk_fact(self, call: Call):
        return 201, self.rpc.licensing.record_risk_fact(call.body, _own_bureau(call))
