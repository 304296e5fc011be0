"""The public blacklist: anyone reads the listings (organisations only: name, credit code,
district; never a person), as JSON pages, one unit's history, or CSV; the city bureau lists
units by decision, re-inspects and decides credit repair; a maintenance unit applies for
credit repair of its own listings (another unit's: 403).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from marshmallow import fields
from werkzeug.wrappers import Response

from gateway.auth import CITY_ADMIN, MAINTENANCE_UNIT
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.errors import Invalid
from infra.identifiers import InvalidIdentifier, validate_uscc
from infra.paging import PageQuery, decode_cursor, page_of
from infra.schemas import Pattern, Reply
from services.blacklist.domain import uscc_of
from services.blacklist.reads import CSV_FIELDS
from services.blacklist.schemas import (
    APPLICATION_ID,
    LISTING_ID,
    ManualListingIn,
    PublicBlacklistQuery,
    ReinspectionIn,
    RepairApplicationIn,
    RepairDecisionIn,
)

TAG = "Blacklist"
USCC_PARAM = {
    "type": "string",
    "minLength": 18,
    "maxLength": 18,
    "description": "the unit's unified social credit code",
}
LISTING_PARAM = {"description": "a listing's id: the unit's credit code and a number"}
APPLICATION_PARAM = {"description": "a repair application's id (<listing id>-R<n>)"}


# --- views ----------------------------------------------------------------------------------


class ListingView(Reply):
    id = fields.String(required=True)
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(allow_none=True, required=True)
    list = fields.String(
        required=True, metadata={"enum": ["maintenance_quality", "serious_violation"]}
    )
    reason = fields.String(required=True)
    legal_basis = fields.String(required=True)
    authority = fields.String(required=True)
    decision_no = fields.String(required=True)
    listed_on = fields.String(required=True)
    earliest_removal_on = fields.String(
        required=True, metadata={"description": "the end of the management period"}
    )
    publication_ends_on = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["listed", "removed"]})
    removed_on = fields.String()
    removal_reason = fields.String(metadata={"enum": ["credit_repaired", "publication_ended"]})
    trigger_event_id = fields.String(
        metadata={"description": "the credit service's event that listed the unit"}
    )


class ListingPage(Reply):
    items = fields.List(fields.Nested(ListingView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class UnitListingsView(Reply):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(allow_none=True, required=True)
    listed = fields.Boolean(required=True)
    listings = fields.List(fields.Nested(ListingView), required=True)


class ReinspectionView(Reply):
    passed = fields.Boolean(required=True)
    findings = fields.String(required=True)
    inspected_on = fields.String(required=True)


class RepairApplicationView(Reply):
    id = fields.String(required=True)
    listing_id = fields.String(required=True)
    applied_on = fields.String(required=True)
    rectification = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["pending", "granted", "denied"]})
    reinspection = fields.Nested(ReinspectionView, allow_none=True, required=True)
    decided_on = fields.String(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True)
    version = fields.Integer(required=True)


class PublicBlacklistPageQuery(PageQuery, PublicBlacklistQuery):
    pass


class CsvQuery(PublicBlacklistQuery):
    pass


def _uscc(call: Call) -> str:
    try:
        return validate_uscc(call.path["uscc"], call.uscc_exceptions)
    except InvalidIdentifier as exc:
        raise Invalid("invalid credit code", {"uscc": [str(exc)]}) from None


def _checked(value: str, pattern: Pattern, field: str) -> str:
    try:
        pattern(value)
    except Exception:
        raise Invalid(f"invalid {field}", {field: [pattern.error]}) from None
    return value


class BlacklistRoutes(RouteBase):
    # -- public --------------------------------------------------------------------------

    @route(
        "GET",
        "/v1/public/blacklist",
        roles=PUBLIC,
        tag="Public",
        summary="The public blacklist of maintenance units",
        description="Listings in id order (a unit's together), in pages; by credit code, part "
        "of the name (Chinese or Latin letters), district, and status (listed by default; "
        "removed; all). Organisations only.",
        query=PublicBlacklistPageQuery,
        responses={200: ListingPage},
        cache_from=("blacklist",),
    )
    def public_blacklist(self, call: Call):
        q = dict(call.query)
        limit, cursor = q.pop("limit"), q.pop("cursor", None)
        after = decode_cursor(cursor, 1) if cursor else None
        items = self.rpc.blacklist.public_blacklist(q, limit + 1, after)
        return page_of(items, limit, lambda item: [item["id"]])

    @route(
        "GET",
        "/v1/public/blacklist/{uscc}",
        roles=PUBLIC,
        tag="Public",
        summary="A unit's listings, current and past",
        description="404 if the unit was never listed; 422 for a code that is no credit code.",
        responses={200: UnitListingsView},
        errors=(404, 422),
        path_params={"uscc": USCC_PARAM},
        cache_from=("blacklist",),
    )
    def public_unit_listings(self, call: Call):
        return self.rpc.blacklist.unit_listings(_uscc(call))

    @route(
        "GET",
        "/v1/public/blacklist.csv",
        roles=PUBLIC,
        tag="Public",
        summary="The public blacklist as CSV",
        description="UTF-8 with a byte-order mark (so spreadsheet programs read Chinese names) "
        "and a header row; the same filters as the JSON list, every page, streamed.",
        query=CsvQuery,
        responses={200: {"content_type": "text/csv", "schema": {"type": "string"}}},
        content_type="text/csv",
    )
    def public_blacklist_csv(self, call: Call):
        filters = dict(call.query)
        # The tag is the list's state (every change to a unit moves it) and the filters: the
        # body is streamed, so it cannot be hashed before it is sent.
        state = self.rpc.blacklist.public_state()
        tag = hashlib.sha256(f"{state}|{sorted(filters.items())}".encode()).hexdigest()[:32]
        rpc = self.rpc

        def rows() -> Iterator[bytes]:
            # The service formats each page (thousands of rows) as CSV text.
            yield ("\ufeff" + ",".join(CSV_FIELDS) + "\r\n").encode("utf-8")
            after = None
            while True:
                page = rpc.blacklist.public_blacklist_csv(filters, after)
                yield page["text"].encode("utf-8")
                if not page["after"]:
                    return
                after = page["after"]

        response = Response(rows(), content_type="text/csv; charset=utf-8")
        response.headers["ETag"] = f'"{tag}"'
        response.headers["Content-Disposition"] = 'attachment; filename="blacklist.csv"'
        return response

    # -- the city bureau -----------------------------------------------------------------

    @route(
        "POST",
        "/v1/blacklist/listings",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="List a unit (the city bureau's serious-violation list)",
        description="With its legal basis, deciding authority and decision number; the same "
        "decision number lists the unit once (again: 200 with the listing). A new listing "
        "inside another listing's management period restarts that period.",
        body=ManualListingIn,
        responses={201: ListingView, 200: ListingView},
        errors=(422,),
    )
    def list_unit(self, call: Call):
        result = self.rpc.blacklist.list_unit(call.body, call.command_id)
        return (201 if result.pop("created") else 200), result

    @route(
        "POST",
        "/v1/blacklist/listings/{listing_id}/repair-applications",
        roles=[MAINTENANCE_UNIT],
        tag=TAG,
        summary="Apply for credit repair of a listing, after rectifying",
        description="One open application per listing (409 while one is pending or granted); "
        "a removed listing: 409; another unit's listing: 403.",
        body=RepairApplicationIn,
        responses={201: RepairApplicationView},
        errors=(404, 409, 422),
        path_params={"listing_id": LISTING_PARAM},
    )
    def apply_for_repair(self, call: Call):
        listing_id = _checked(call.path["listing_id"], LISTING_ID, "listing_id")
        call.require(uscc=uscc_of(listing_id))
        result = self.rpc.blacklist.apply_for_repair(
            listing_id, call.body, call.caller.uscc, call.command_id
        )
        return 201, result

    @route(
        "POST",
        "/v1/blacklist/repair-applications/{application_id}/reinspection",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Record the bureau's re-inspection of a unit applying for credit repair",
        description="While the application is pending (409 after its decision).",
        body=ReinspectionIn,
        responses={200: RepairApplicationView},
        errors=(404, 409, 422),
        path_params={"application_id": APPLICATION_PARAM},
    )
    def record_reinspection(self, call: Call):
        application_id = _checked(call.path["application_id"], APPLICATION_ID, "application_id")
        return self.rpc.blacklist.record_reinspection(application_id, call.body, call.command_id)

    @route(
        "POST",
        "/v1/blacklist/repair-applications/{application_id}/decide",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Grant or deny credit repair",
        description="Granting needs a passed re-inspection (409 otherwise). A granted repair "
        "removes the listing at the end of its management period (at once when it has ended).",
        body=RepairDecisionIn,
        responses={200: RepairApplicationView},
        errors=(404, 409, 422),
        path_params={"application_id": APPLICATION_PARAM},
    )
    def decide_repair(self, call: Call):
        application_id = _checked(call.path["application_id"], APPLICATION_ID, "application_id")
        return self.rpc.blacklist.decide_repair(application_id, call.body, call.command_id)
