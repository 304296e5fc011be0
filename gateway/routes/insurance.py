"""Insurance: insurers push policies; officers see coverage; the public sees district ratios."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from gateway.auth import BUREAU_OFFICER, CITY_ADMIN, INSURER
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.errors import Invalid
from infra.identifiers import USCCField
from infra.places import DISTRICT_LABELS, DISTRICTS
from infra.schemas import Date, Reply
from services.insurance.schemas import MAX_BATCH, POLICY_NO, BatchEnvelopeSchema, PolicySchema

TAG = "Insurance"
OFFICIALS = [CITY_ADMIN, BUREAU_OFFICER]


class PolicyEquipment(Reply):
    equipment_code = fields.String(required=True)
    match = fields.String(required=True, metadata={"enum": ["registered", "pending"]})
    flag = fields.String(metadata={"description": "equipment_cancelled when deregistered"})


class PolicyView(PolicySchema, Reply):
    class Meta:
        unknown = "include"

    policy_no = fields.String(required=True)
    insurer = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["active", "cancelled", "lapsed"]})
    equipment = fields.List(fields.Nested(PolicyEquipment), required=True)


class BatchResult(Reply):
    policy_no = fields.String(allow_none=True)
    index = fields.Integer()
    status = fields.Integer(required=True, metadata={"enum": [200, 201, 409, 422]})
    outcome = fields.String(metadata={"enum": ["created", "superseded", "unchanged"]})
    version = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class BatchResults(Reply):
    results = fields.List(fields.Nested(BatchResult), required=True)


class CoveringPolicy(Reply):
    insurer = fields.String(required=True)
    policy_no = fields.String(required=True)
    cover = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    status = fields.String()


class Coverage(Reply):
    equipment_code = fields.String(required=True)
    on = fields.Date(required=True)
    covered = fields.Boolean(required=True)
    policies = fields.List(fields.Nested(CoveringPolicy), required=True)


class PremiumFactors(Reply):
    equipment_code = fields.String(required=True)
    maintenance_unit_uscc = fields.String(allow_none=True)
    credit_grade = fields.String(
        allow_none=True,
        metadata={"description": "From the maintenance-credit service: null until it publishes"},
    )
    age_years = fields.Integer(allow_none=True)
    faults_12m = fields.Integer(allow_none=True, metadata={"description": "null until known"})
    entrapments_12m = fields.Integer(allow_none=True, metadata={"description": "null until known"})


class DistrictCoverage(Reply):
    district = fields.String(required=True)
    on = fields.Date()
    elevators = fields.Integer(required=True)
    covered = fields.Integer(required=True)
    ratio = fields.Float(required=True, allow_none=True)


class EndingPolicy(Reply):
    insurer = fields.String(required=True)
    policy_no = fields.String(required=True)
    ends_on = fields.Date(required=True)
    revision = fields.Integer()


class EndingPolicies(Reply):
    items = fields.List(fields.Nested(EndingPolicy), required=True)
    next_cursor = fields.String(allow_none=True)


class PolicyQuery(Schema):
    insurer = USCCField(metadata={"description": "officers: the insurer, if two use the number"})


class OnQuery(Schema):
    on = Date(metadata={"description": "default: today"})


class DistrictQuery(Schema):
    district = fields.String(
        required=True,
        validate=validate.OneOf(
            DISTRICTS, DISTRICT_LABELS, error="must be a Shanghai district code: {labels}"
        ),
    )
    on = Date()


class EndingQuery(Schema):
    ending_within = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=366),
        metadata={"description": "days from today"},
    )


EQUIPMENT_CODE = {"description": "18-digit equipment code (or legacy 20-digit alias)"}
POLICY_PARAM = {"description": "the insurer's policy number"}


class InsuranceRoutes(RouteBase):
    @route(
        "PUT",
        "/v1/insurance/policies/{policy_no}",
        roles=[INSURER],
        tag=TAG,
        summary="Create or supersede a policy (idempotent per revision)",
        description="201 created; 200 superseded by a newer revision, or an identical "
        "replay (unchanged, same body); 409 when the revision is older than "
        "the stored one; 422 when invalid.",
        body=PolicySchema,
        responses={201: PolicyView, 200: PolicyView},
        errors=(409, 422),
        path_params={"policy_no": POLICY_PARAM},
    )
    def put_policy(self, call: Call):
        policy_no = call.path["policy_no"]
        try:
            POLICY_NO(policy_no)
        except ValidationError as exc:
            raise Invalid(
                "invalid policy number", {"policy_no": [str(m) for m in exc.messages]}
            ) from None
        item = {"policy_no": policy_no, **PolicySchema().dump(call.body)}
        # A refusal comes back as the kernel's error (Stale: 409, Invalid: 422), which the
        # gateway's one table turns into its problem response.
        result = self.rpc.insurance.sync_policy(call.caller.uscc, item)
        view = self.rpc.insurance.get_policy(policy_no, call.caller.uscc)
        return result["status"], view

    @route(
        "POST",
        "/v1/insurance/policies:batch",
        roles=[INSURER],
        tag=TAG,
        summary=f"Push up to {MAX_BATCH} policies; each gets its own result",
        description="One bad or stale policy never blocks the others. Each result has the "
        "status a single PUT would have had.",
        body=BatchEnvelopeSchema,
        responses={200: BatchResults},
    )
    def push_batch(self, call: Call):
        items = call.body["policies"]
        results = self.rpc.insurance.sync_policies(call.caller.uscc, items)
        return 200, {"results": results}

    @route(
        "GET",
        "/v1/insurance/policies/{policy_no}",
        roles=[INSURER, *OFFICIALS],
        tag=TAG,
        summary="A policy with its elevators and how each matched the register",
        query=PolicyQuery,
        responses={200: PolicyView},
        path_params={"policy_no": POLICY_PARAM},
    )
    def get_policy(self, call: Call):
        insurer = call.caller.uscc if call.caller.role == INSURER else call.query.get("insurer")
        return self.rpc.insurance.get_policy(call.path["policy_no"], insurer)

    @route(
        "GET",
        "/v1/insurance/policies",
        roles=[INSURER, *OFFICIALS],
        tag=TAG,
        summary="Active policies ending within N days (an insurer sees its own)",
        query=EndingQuery,
        responses={200: EndingPolicies},
    )
    def policies_ending(self, call: Call):
        insurer = call.caller.uscc if call.caller.role == INSURER else None
        items = self.rpc.insurance.policies_ending(call.query["ending_within"], insurer)
        return {"items": items, "next_cursor": None}

    @route(
        "GET",
        "/v1/insurance/equipment/{equipment_code}/coverage",
        roles=[INSURER, *OFFICIALS],
        tag=TAG,
        summary="Whether an elevator was covered on a date, and by which policies",
        query=OnQuery,
        responses={200: Coverage},
        path_params={"equipment_code": EQUIPMENT_CODE},
    )
    def coverage(self, call: Call):
        on = call.query.get("on")
        return self.rpc.insurance.coverage(call.path["equipment_code"], on and on.isoformat())

    @route(
        "GET",
        "/v1/insurance/equipment/{equipment_code}/premium-factors",
        roles=[INSURER],
        tag=TAG,
        summary="Premium factors of an elevator",
        description="credit_grade, faults_12m and entrapments_12m come from the "
        "maintenance-credit service and are null until it publishes them.",
        responses={200: PremiumFactors},
        path_params={"equipment_code": EQUIPMENT_CODE},
    )
    def premium_factors(self, call: Call):
        return self.rpc.insurance.premium_factors(call.path["equipment_code"])

    @route(
        "GET",
        "/v1/public/insurance/coverage",
        roles=PUBLIC,
        tag=TAG,
        summary="Liability insurance coverage of a district's elevators",
        query=DistrictQuery,
        responses={200: DistrictCoverage},
    )
    def public_coverage(self, call: Call):
        on = call.query.get("on")
        return self.rpc.insurance.district_coverage(call.query["district"], on and on.isoformat())
