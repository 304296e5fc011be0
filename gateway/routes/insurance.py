"""Insurance: insurers push policies and declare quotes; officers see coverage; the public
sees district ratios.

An insurer reads the coverage and premium factors of the elevators it insures or declared a
quote for (the service decides: 404 elsewhere, as for an unknown elevator), and sees only its
own policies. A policy's representation carries an ``ETag``: its version, then a digest of
how its elevators matched the register (which changes the body without a new version), so a
``304`` never hides a newly matched elevator; ``If-Match`` on a ``PUT`` takes the tag or the
bare version.
"""

from __future__ import annotations

import hashlib
import json

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.wrappers import Response

from gateway.auth import BUREAU_OFFICER, CITY_ADMIN, INSURER
from gateway.call import VERSION_TAG, Call
from gateway.routes.base import RouteBase
from gateway.routes.equipment import _unit_code
from gateway.routing import PUBLIC, route
from infra.errors import Invalid, PreconditionFailed
from infra.identifiers import USCCField
from infra.paging import PageQuery, decode_cursor, page_of
from infra.places import DISTRICT_LABELS, DISTRICTS
from infra.schemas import Date, Reply
from services.insurance.schemas import (
    MAX_BATCH,
    POLICY_NO,
    BatchEnvelopeSchema,
    PolicySchema,
    QuoteSchema,
)

TAG = "Insurance"
OFFICIALS = [CITY_ADMIN, BUREAU_OFFICER]
# A policy's representation is the insurer's and officers' only: no shared cache keeps it, and
# a client revalidates (If-None-Match) before reusing it.
PRIVATE = "private, no-cache"


class PolicyEquipment(Reply):
    equipment_code = fields.String(required=True)
    match = fields.String(required=True, metadata={"enum": ["registered", "pending"]})
    registered_as = fields.String(
        metadata={"description": "the unit's code, when the policy names its legacy code"}
    )
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
    covered = fields.Boolean(required=True, metadata={"description": "by any policy"})
    covered_by_another_insurer = fields.Boolean(
        metadata={"description": "insurers only: a policy of another insurer covers it"}
    )
    policies = fields.List(
        fields.Nested(CoveringPolicy),
        required=True,
        metadata={"description": "an insurer sees its own policies only"},
    )


class PremiumFactors(Reply):
    equipment_code = fields.String(required=True)
    maintenance_unit_uscc = fields.String(allow_none=True)
    credit_grade = fields.String(
        allow_none=True,
        metadata={
            "description": "the maintenance unit's latest final grade (maintenance-credit "
            "service); null before one is published"
        },
    )
    age_years = fields.Integer(allow_none=True)
    faults_12m = fields.Integer(
        required=True,
        metadata={"description": "faults recorded against the elevator in the last 12 months"},
    )
    entrapments_12m = fields.Integer(
        required=True,
        metadata={"description": "entrapments recorded in the elevator in the last 12 months"},
    )


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


class EndingQuery(PageQuery):
    ending_within = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=366),
        metadata={"description": "days from today"},
    )


class QuoteView(Reply):
    id = fields.String(required=True)
    insurer = fields.String(required=True)
    equipment_codes = fields.List(fields.String(), required=True)
    valid_until = fields.Date(required=True)
    declared_at = fields.String(required=True)
    version = fields.Integer(required=True)


EQUIPMENT_CODE = {"description": "18-digit equipment code (or legacy 20-digit alias)"}
POLICY_PARAM = {"description": "the insurer's policy number"}
SCOPED = (
    "An insurer reads only elevators it insures (one of its policies names it) or declared a "
    "quote for (POST /v1/insurance/quotes, until its valid_until); elsewhere 404."
)


def policy_tag(view: dict) -> str:
    """The ``ETag`` of a policy's representation: its version, and a digest of how its
    elevators matched the register."""
    matches = json.dumps(view.get("equipment", []), sort_keys=True).encode()
    return f'"{view["version"]}-{hashlib.sha256(matches).hexdigest()[:12]}"'


def _expected_version(call: Call) -> int | None:
    """The version ``If-Match`` names: a policy's tag (``"3-…"``) or a bare ``"3"``."""
    raw = call.request.headers.get("If-Match")
    if raw is None:
        return None
    version = raw.strip().removeprefix("W/").strip('"').partition("-")[0]
    if not VERSION_TAG.fullmatch(version):
        raise PreconditionFailed(f"If-Match {raw!r} names no version")
    return int(version)


def _tagged(call: Call, status: int, view: dict):
    """The policy with its ``ETag``; 304 when ``If-None-Match`` names it (reads)."""
    tag = policy_tag(view)
    headers = {"ETag": tag, "Cache-Control": PRIVATE}
    wanted = call.request.headers.get("If-None-Match")
    if wanted is not None and call.request.method == "GET":
        named = {t.strip().removeprefix("W/") for t in wanted.split(",")}
        if tag in named or "*" in named:
            return Response(status=304, headers=headers)
    return status, view, headers


class InsuranceRoutes(RouteBase):
    @route(
        "PUT",
        "/v1/insurance/policies/{policy_no}",
        roles=[INSURER],
        tag=TAG,
        summary="Create or supersede a policy (idempotent per revision)",
        description="201 created; 200 superseded by a newer revision, or an identical "
        "replay (unchanged, same body: the same terms in any order of elevators and "
        "policyholders, amounts written with any number of decimals); 409 when the revision "
        "is older than the stored one; 412 when If-Match names another version; 422 when "
        "invalid. The response carries the policy's ETag.",
        body=PolicySchema,
        responses={201: PolicyView, 200: PolicyView},
        errors=(409, 412, 422),
        if_match=True,
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
        # A refusal comes back as the kernel's error (Stale: 409, PreconditionFailed: 412,
        # Invalid: 422), which the gateway's one table turns into its problem response. The
        # version is checked by the service, in the transaction that writes the push.
        result = self.rpc.insurance.sync_policy(call.caller.uscc, item, _expected_version(call))
        view = self.rpc.insurance.get_policy(policy_no, call.caller.uscc)
        return _tagged(call, result["status"], view)

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
        description="Carries an ETag (the version, then a digest of the elevators' matches); "
        "If-None-Match naming it answers 304.",
        query=PolicyQuery,
        responses={200: PolicyView},
        path_params={"policy_no": POLICY_PARAM},
    )
    def get_policy(self, call: Call):
        insurer = call.caller.uscc if call.caller.role == INSURER else call.query.get("insurer")
        return _tagged(call, 200, self.rpc.insurance.get_policy(call.path["policy_no"], insurer))

    @route(
        "GET",
        "/v1/insurance/policies",
        roles=[INSURER, *OFFICIALS],
        tag=TAG,
        summary="Active policies ending within N days (an insurer sees its own)",
        description="By end date, insurer and number, in pages (limit, cursor).",
        query=EndingQuery,
        responses={200: EndingPolicies},
    )
    def policies_ending(self, call: Call):
        q = call.query
        insurer = call.caller.uscc if call.caller.role == INSURER else None
        after = decode_cursor(q["cursor"], 3) if q.get("cursor") else None
        items = self.rpc.insurance.policies_ending(
            q["ending_within"], insurer, q["limit"] + 1, after
        )
        return page_of(items, q["limit"], lambda p: [p["ends_on"], p["insurer"], p["policy_no"]])

    @route(
        "GET",
        "/v1/insurance/equipment/{equipment_code}/coverage",
        roles=[INSURER, *OFFICIALS],
        tag=TAG,
        summary="Whether an elevator was covered on a date, and by which policies",
        description=SCOPED + " An insurer sees its own policies only, and whether another "
        "insurer's policy covers the elevator on the date (covered_by_another_insurer).",
        query=OnQuery,
        responses={200: Coverage},
        errors=(422,),
        path_params={"equipment_code": EQUIPMENT_CODE},
    )
    def coverage(self, call: Call):
        on = call.query.get("on")
        return self.rpc.insurance.coverage(_unit_code(call), on and on.isoformat(), _insurer(call))

    @route(
        "GET",
        "/v1/insurance/equipment/{equipment_code}/premium-factors",
        roles=[INSURER],
        tag=TAG,
        summary="Premium factors of an elevator",
        description=SCOPED + " credit_grade (the maintenance unit's latest final grade, null "
        "before one is published), faults_12m and entrapments_12m (recorded against the elevator "
        "in the 12 months up to today) come from the maintenance-credit service's events.",
        responses={200: PremiumFactors},
        errors=(422,),
        path_params={"equipment_code": EQUIPMENT_CODE},
    )
    def premium_factors(self, call: Call):
        return self.rpc.insurance.premium_factors(_unit_code(call), call.caller.uscc)

    @route(
        "POST",
        "/v1/insurance/quotes",
        roles=[INSURER],
        tag=TAG,
        summary="Declare that you were asked to quote elevators",
        description="Recorded as an event; until valid_until (today to 90 days ahead) the "
        "insurer reads the coverage and premium factors of these elevators (never another "
        "insurer's policies).",
        body=QuoteSchema,
        responses={201: QuoteView},
        errors=(422,),
    )
    def declare_quote(self, call: Call):
        body = call.body
        quote = self.rpc.insurance.declare_quote(
            call.caller.uscc, body["equipment_codes"], body["valid_until"].isoformat()
        )
        return 201, quote

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


def _insurer(call: Call) -> str | None:
    """The insurer a read is scoped to (None: an official, who sees everything)."""
    return call.caller.uscc if call.caller.role == INSURER else None
