"""Complaints from the public: a passenger complains about an elevator from its page and
follows the complaint by its reference; the officers of the elevator's district see their
queue and verify or dismiss each complaint once, with a reason (the city bureau and the city
administration: every district). A verified complaint is a ``complaint_verified`` quality
fact against the unit that maintained the elevator that day (the maintenance-credit
service keeps complaints).

The public answers carry the reference, the status and the day of the decision, nothing of
what was sent; contact details are personal data, shown in the officers' queue only.
"""

from __future__ import annotations

from marshmallow import fields

from gateway.auth import BUREAU_OFFICER, CITY_ADMIN
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.errors import NotFound
from infra.paging import PageQuery, decode_cursor, page_of
from infra.schemas import Reply
from services.maintenance_credit.complaint_schemas import (
    REFERENCE,
    ComplaintDecisionIn,
    ComplaintIn,
    ComplaintQuery,
)
from services.maintenance_credit.complaints import cursor_of

TAG = "Complaints"
STATUSES = ["received", "verified", "dismissed"]
REFERENCE_PARAM = {
    "type": "string",
    "minLength": 28,
    "maxLength": 28,
    "description": "the complaint's reference (C- and 26 letters A-Z, 2-7), as its submission "
    "answered it",
}


# --- views ----------------------------------------------------------------------------------


class ComplaintReceipt(Reply):
    reference = fields.String(
        required=True, metadata={"description": "follow the complaint by it; keep it private"}
    )
    status = fields.String(required=True, metadata={"enum": ["received"]})


class PublicComplaintView(Reply):
    reference = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": STATUSES})
    decided_on = fields.String(metadata={"description": "once verified or dismissed"})


class ComplaintView(Reply):
    id = fields.String(required=True, metadata={"description": "the reference"})
    reference = fields.String(required=True)
    equipment_code = fields.String(required=True)
    district = fields.String(required=True)
    what = fields.String(required=True)
    occurred_at = fields.String(required=True)
    received_at = fields.String(required=True)
    contact = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "personal data; [erased] once its subject was erased"},
    )
    status = fields.String(required=True, metadata={"enum": STATUSES})
    reason = fields.String(allow_none=True, required=True)
    decided_on = fields.String(allow_none=True, required=True)
    unit_uscc = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "verified: the unit that maintained the elevator that day"},
    )
    version = fields.Integer(required=True)


class ComplaintPage(Reply):
    items = fields.List(fields.Nested(ComplaintView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ComplaintPageQuery(PageQuery, ComplaintQuery):
    pass


def _reference(call: Call, name: str) -> str:
    """The reference in the path; one that cannot be one is a complaint that does not exist."""
    value = call.path[name]
    try:
        REFERENCE(value)
    except Exception:
        raise NotFound("complaint not found") from None
    return value


def _officer_bureau(call: Call) -> str | None:
    return call.caller.bureau if call.caller.role == BUREAU_OFFICER else None


class ComplaintRoutes(RouteBase):
    # -- the public ----------------------------------------------------------------------

    @route(
        "POST",
        "/v1/public/complaints",
        roles=PUBLIC,
        tag="Public",
        summary="Complain about an elevator",
        description="What happened and when (not in the future), from the elevator's page; "
        "contact details are optional and personal data (never shown publicly). Answers the "
        "reference to follow the complaint by. An elevator the register does not know: 404. "
        "Rate-limited per client address, as every public route.",
        body=ComplaintIn,
        responses={201: ComplaintReceipt},
        errors=(404, 422),
    )
    def submit_complaint(self, call: Call):
        body = {**call.body, "occurred_at": call.body["occurred_at"].isoformat()}
        return 201, self.rpc.maintenance_credit.submit_complaint(body, call.command_id)

    @route(
        "GET",
        "/v1/public/complaints/{reference}",
        roles=PUBLIC,
        tag="Public",
        summary="Follow a complaint by its reference",
        description="Its status, and the day it was decided once it was. Nothing of what was "
        "sent. An unknown reference: 404.",
        responses={200: PublicComplaintView},
        errors=(404,),
        path_params={"reference": REFERENCE_PARAM},
    )
    def complaint_status(self, call: Call):
        return self.rpc.maintenance_credit.complaint_status(_reference(call, "reference"))

    # -- the bureaus ---------------------------------------------------------------------

    @route(
        "GET",
        "/v1/complaints",
        roles=[CITY_ADMIN, BUREAU_OFFICER],
        tag=TAG,
        summary="The queue of complaints",
        description="An officer's district's complaints (the city bureau and the city "
        "administration: every district's), in the order they came, in pages; filter by "
        "status. With the contact details the passenger gave.",
        query=ComplaintPageQuery,
        responses={200: ComplaintPage},
    )
    def complaint_queue(self, call: Call):
        q = dict(call.query)
        limit, cursor = q.pop("limit"), q.pop("cursor", None)
        after = decode_cursor(cursor, 2) if cursor else None
        items = self.rpc.maintenance_credit.complaint_queue(
            _officer_bureau(call), q, limit + 1, after
        )
        return page_of(items, limit, cursor_of)

    @route(
        "POST",
        "/v1/complaints/{id}/decide",
        roles=[CITY_ADMIN, BUREAU_OFFICER],
        tag=TAG,
        summary="Verify or dismiss a complaint",
        description="Once (a decided complaint: 409), with a reason. A verified complaint is "
        "a complaint_verified quality fact against the unit that maintained the elevator on "
        "the complaint's day. Another district's complaint: 404, as a missing one.",
        body=ComplaintDecisionIn,
        responses={200: ComplaintView},
        errors=(404, 409, 422),
        out_of_scope=404,
        path_params={"id": REFERENCE_PARAM},
    )
    def decide_complaint(self, call: Call):
        return self.rpc.maintenance_credit.decide_complaint(
            _reference(call, "id"), call.body, _officer_bureau(call), call.command_id
        )
