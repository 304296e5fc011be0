"""Complaints from the public: a passenger complains about an elevator from its page and
follows the complaint by its reference; the officers of the elevator's district see their
queue and verify or dismiss each complaint once, with a reason (the city bureau and the city
administration: every district). A verified complaint is a ``complaint_verified`` quality
fact against the unit that maintained the elevator that day (the maintenance-credit
service keeps complaints).

The public answers carry the reference, the status and the day of the decision, nothing of
what was sent; contact details are personal data, shown in the officers' queue only.

The public site takes the same complaint from the elevator's page: a plain HTML form posted
to ``/equipment/complaint`` (checked as the API's body is, rate-limited as the public API,
its hidden key an Idempotency-Key: the same form sent twice is one complaint), answered by a
redirect to the complaint's page ``/complaints?reference=``, or by a page that says what was
wrong (the form again, each error by its field).
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

from marshmallow import ValidationError, fields, pre_load, validate
from werkzeug.wrappers import Request, Response

from gateway import site
from gateway.auth import BUREAU_OFFICER, CITY_ADMIN
from gateway.call import Call
from gateway.pages import html_response
from gateway.problems import Problem
from gateway.routes.base import RouteBase
from gateway.routing import IDEMPOTENCY_KEY, PUBLIC, route
from infra.clock import CHINA_STANDARD_TIME, Clock
from infra.errors import NotFound
from infra.identifiers import EquipmentCodeField
from infra.paging import PageQuery, decode_cursor, page_of
from infra.schemas import Pattern, Reply, Strict, within_reach
from services.maintenance_credit.complaint import MAX_CONTACT, MAX_WHAT
from services.maintenance_credit.complaint_schemas import (
    REFERENCE,
    ComplaintDecisionIn,
    ComplaintIn,
    ComplaintQuery,
    plain_text,
)
from services.maintenance_credit.complaints import cursor_of

log = logging.getLogger("sesp.gateway")
TAG = "Complaints"
HTML = {"content_type": "text/html", "schema": {"type": "string"}}
PAGE_TIMEOUT = 5  # seconds: the status page waits no longer for the credit service
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


# --- the site's form -------------------------------------------------------------------------


class LocalMinute(fields.String):
    """A ``datetime-local`` field's value (``2014-09-29T08:15``, seconds optional): a time in
    China Standard Time, loaded as an aware datetime."""

    default_error_messages = {"invalid": "must be a date and time, e.g. 2014-09-29T08:15"}

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is not None or "T" not in text or not within_reach(moment.date()):
            raise self.make_error("invalid")
        return moment.replace(tzinfo=CHINA_STANDARD_TIME)


class ComplaintForm(Strict):
    """``POST /equipment/complaint``: the elevator page's form, as a browser sends it."""

    equipment_code = EquipmentCodeField(required=True)
    what = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_WHAT), plain_text])
    occurred_at = LocalMinute(
        required=True,
        metadata={"description": "China Standard Time, as a datetime-local field sends it"},
    )
    contact = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=MAX_CONTACT), plain_text],
        metadata={"description": "how to reach the passenger (personal data; empty: none)"},
    )
    lang = fields.String(validate=validate.OneOf(list(site.LANGS)))
    idempotency_key = fields.String(
        validate=Pattern(IDEMPOTENCY_KEY.pattern, error="1 to 64 visible ASCII characters"),
        metadata={"description": "the form's own key: the same form sent twice is one complaint"},
    )

    @pre_load
    def _as_typed(self, data, **kwargs):
        """A browser sends a textarea's line breaks as CRLF but counts each as one character
        (its ``maxlength``): counted here as it counted them. An empty contact field: none."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("what"), str):
            data["what"] = data["what"].replace("\r\n", "\n")
        if data.get("contact") == "":
            data["contact"] = None
        return data


class ComplaintStatusQuery(Strict):
    reference = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "the complaint's reference, as its submission answered it"},
    )
    lang = fields.String(validate=validate.OneOf(list(site.LANGS)))


def _lang(request: Request, form: dict | None = None) -> str:
    chosen = (form or {}).get("lang") or request.args.get("lang")
    return site.language(chosen, request.headers.get("Accept-Language"))


def complaint_problem_page(request: Request, problem: Problem, form: dict | None) -> Response:
    """What the form's route answers when the complaint was not taken: the form again with the
    errors by field (422), no such elevator (404), too many submissions (429, its
    Retry-After), a service that failed, or anything else the edge refused."""
    lang = _lang(request, form)
    values = form or {}
    code = values.get("equipment_code")
    code = code if isinstance(code, str) else ""
    slug = problem.type.slug
    if slug == "validation" and problem.errors and set(problem.errors) != {"Idempotency-Key"}:
        now = Clock().now()
        page = site.complaint_form_page(lang, code, values, problem.errors, now)
    elif slug in ("not-found", "no-route"):
        page = site.complaint_refused_page(lang, code, "unknown", problem.status)
    elif slug == "rate-limited":
        retry = problem.headers.get("Retry-After")
        page = site.complaint_refused_page(lang, code, "rate", problem.status, retry)
    elif problem.status >= 500:
        page = site.complaint_refused_page(lang, code, "unavailable", problem.status)
    else:
        page = site.complaint_refused_page(lang, code, "other", problem.status)
    return html_response(page, status=problem.status)


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

    # -- the public site ------------------------------------------------------------------

    @route(
        "POST",
        "/equipment/complaint",
        roles=PUBLIC,
        tag="Public",
        summary="Complain about an elevator from its page (the site's form)",
        description="The elevator page's form (application/x-www-form-urlencoded): the same "
        "complaint as POST /v1/public/complaints, with the time as a datetime-local field "
        "sends it (China Standard Time). Received: 303 to the complaint's page "
        "(/complaints?reference=). Otherwise a page: the form again with the errors by field "
        "(422), no such elevator (404), too many submissions (429, Retry-After). Its hidden "
        "idempotency_key makes a form sent twice one complaint. Rate-limited as the public API.",
        body=ComplaintForm,
        form=True,
        problem_page=complaint_problem_page,
        rate_limited=True,
        content_type="text/html",
        responses={303: {**HTML, "description": "received: see the complaint's page"}},
        errors=(404, 422),
    )
    def complaint_form(self, call: Call):
        data = call.body
        body = {
            "equipment_code": data["equipment_code"],
            "what": data["what"],
            "occurred_at": data["occurred_at"].isoformat(),
            "contact": data.get("contact"),
        }
        receipt = self.rpc.maintenance_credit.submit_complaint(body, call.command_id)
        lang = _lang(call.request, call.form)
        where = "/complaints?" + urlencode({"reference": receipt["reference"], "lang": lang})
        return Response(status=303, headers={"Location": where})

    @route(
        "GET",
        "/complaints",
        roles=PUBLIC,
        tag="Public",
        summary="The public page of a complaint, by its reference",
        description="Its status and the day it was decided (the same as "
        "/v1/public/complaints/{reference}), and a form to enter a reference; an unknown "
        "reference: 404 (a page).",
        query=ComplaintStatusQuery,
        responses={200: HTML, 404: {**HTML, "description": "no complaint has this reference"}},
        calls_services=False,
    )
    def complaint_page(self, call: Call):
        lang = _lang(call.request)
        reference = (call.query.get("reference") or "").strip().upper()
        if not reference:
            return html_response(site.complaint_status_page(lang, ""))
        try:
            REFERENCE(reference)
        except ValidationError:
            page = site.complaint_status_page(lang, reference, problem="unknown")
            return html_response(page, status=404)
        services = self.rpc.with_timeout(PAGE_TIMEOUT)
        try:
            found = services.maintenance_credit.complaint_status(reference)
        except NotFound:
            page = site.complaint_status_page(lang, reference, problem="unknown")
            return html_response(page, status=404)
        except Exception as exc:  # noqa: BLE001 - the page says it cannot answer now
            log.warning("complaint page: status read failed (%s)", type(exc).__name__)
            page = site.complaint_status_page(lang, reference, problem="unavailable")
            return html_response(page)
        return html_response(site.complaint_status_page(lang, reference, found))

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
