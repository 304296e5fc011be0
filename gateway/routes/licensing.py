"""Licensing: delegations, applications, licences, the equipment register, audits.

Scope (API.md "Roles and scopes"): an officer acts on what is routed to its bureau (the city
bureau ``SH`` on everything), an applicant on its own credit code's applications; a single read
outside the scope answers 404, anything else 403. The object's bureau and credit code come
from the service's read model (``*_scope`` RPCs) before the command is sent; ``If-Match`` goes
to the service as the expected version, so the check and the change share one transaction.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema

from gateway.auth import (
    APPLICANT,
    BUREAU_OFFICER,
    CITY_ADMIN,
    INSURER,
    MAINTENANCE_UNIT,
)
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.paging import PageQuery, decode_cursor, page_of
from infra.places import CITY_BUREAU
from services.licensing.schemas.applications import (
    ApplicationIn,
    ApplicationPage,
    ApplicationQuery,
    ApplicationView,
    ApproveIn,
    CertificateDeliveryIn,
    CorrectionIn,
    MaterialsIn,
    OpinionIn,
    ReasonIn,
    RefuseIn,
    SuspendClockIn,
    WithdrawIn,
)
from services.licensing.schemas.base import AsOfQuery
from services.licensing.schemas.delegations import (
    DelegationIn,
    DelegationPage,
    DelegationQuery,
    DelegationView,
    RevocationIn,
)
from services.licensing.schemas.licences import (
    LicencePage,
    LicenceQuery,
    LicenceView,
    PublicLicencePage,
    PublicLicenceQuery,
    RenewalDecisionIn,
    RenewalIn,
)

OFFICIALS = [CITY_ADMIN, BUREAU_OFFICER]
ANY_TOKEN = [CITY_ADMIN, BUREAU_OFFICER, APPLICANT, MAINTENANCE_UNIT, INSURER]
USCC_ROLES = (APPLICANT, MAINTENANCE_UNIT, INSURER)
IF_MATCH = {"errors": (412,), "if_match": True}


class ApplicationListQuery(PageQuery, ApplicationQuery):
    pass


class DelegationListQuery(PageQuery, DelegationQuery):
    pass


class LicenceListQuery(PageQuery, LicenceQuery):
    pass


class PublicLicenceListQuery(PageQuery, PublicLicenceQuery):
    pass


def _after(call: Call, size: int) -> list | None:
    cursor = call.query.get("cursor")
    if not cursor:
        return None
    return decode_cursor(cursor, size)


def _page(items: list, limit: int, keys: tuple[str, ...]) -> dict[str, Any]:
    return page_of(items, limit, lambda item: [item[k] for k in keys])


def _bureau_filter(call: Call, requested: str | None) -> str | None:
    """The bureau a list is restricted to: an officer's own (SH sees all)."""
    p = call.caller
    if p.role == BUREAU_OFFICER and p.bureau != CITY_BUREAU:
        if requested and requested != p.bureau:
            call.require(bureau=requested)  # 403: another bureau's list
        return p.bureau
    return requested


def _application_command(command: str, body: type[Schema] | None, roles: list[str], summary: str):
    """A ``POST /v1/applications/{id}/<command>`` route (one per command, for OpenAPI)."""

    @route(
        "POST",
        f"/v1/applications/{{application_id}}/{command}",
        roles=roles,
        tag="Applications",
        summary=summary,
        description="A command not allowed in the current status answers 409 naming it.",
        body=body,
        responses={200: ApplicationView},
        **IF_MATCH,
    )
    def handler(self, call: Call):
        app_id = call.path["application_id"]
        self._application_scope(call, app_id)
        return self.rpc.licensing.application_command(app_id, command, call.body, call.if_match)

    handler.__name__ = "application_" + command.replace("-", "_")
    return handler


def _licence_command(
    command: str, body: type[Schema], roles: list[str], summary: str, status: int = 200
):
    path = {"renewal-decision": "renewals/decision"}.get(command, command)

    @route(
        "POST",
        f"/v1/licences/{{licence_no}}/{path}",
        roles=roles,
        tag="Licences",
        summary=summary,
        body=body,
        responses={status: LicenceView},
        **IF_MATCH,
    )
    def handler(self, call: Call):
        no = call.path["licence_no"]
        scope = self.rpc.licensing.licence_scope(no)
        call.require(bureau=scope["bureau"], uscc=scope["holder_uscc"])
        return status, self.rpc.licensing.licence_command(no, command, call.body, call.if_match)

    handler.__name__ = "licence_" + command.replace("-", "_")
    return handler


def _names_for(call: Call) -> str | None:
    """Whose persons' names a caller sees in lists: an officer its own bureau's licensees
    (the city bureau's officers and city_admin everyone's); others none."""
    p = call.caller
    if p.role == CITY_ADMIN:
        return CITY_BUREAU
    return p.bureau if p.role == BUREAU_OFFICER else None


def _own_bureau(call: Call) -> str | None:
    """An officer's bureau (None: city-wide, the city bureau's officers and city_admin)."""
    p = call.caller
    return p.bureau if p.role == BUREAU_OFFICER and p.bureau != CITY_BUREAU else None


class LicensingRoutes(RouteBase):
    # --- delegations --------------------------------------------------------------------

    @route(
        "POST",
        "/v1/delegations",
        roles=[CITY_ADMIN],
        tag="Delegations",
        summary="Delegate licence kinds to a bureau from a date",
        description="An identical delegation (same bureau, kinds and effective date) still in "
        "force answers 409. `effective_from` lies between 1990-01-01 and 5 years after today.",
        body=DelegationIn,
        responses={201: DelegationView},
        errors=(409,),
    )
    def create_delegation(self, call: Call):
        return 201, self.rpc.licensing.create_delegation(call.body)

    @route(
        "POST",
        "/v1/delegations/{delegation_id}/revoke",
        roles=[CITY_ADMIN],
        tag="Delegations",
        summary="Revoke a delegation from a date",
        description="Effective today or later (never backdated: 422 on `effective_from`); "
        "until that date the delegation stays `active` and shows `revoked_from`.",
        body=RevocationIn,
        responses={200: DelegationView},
        **IF_MATCH,
    )
    def revoke_delegation(self, call: Call):
        return self.rpc.licensing.revoke_delegation(
            call.path["delegation_id"], call.body, call.if_match
        )

    @route(
        "GET",
        "/v1/delegations",
        roles=ANY_TOKEN,
        tag="Delegations",
        summary="Delegations, revoked ones included (as_of: those in force that day)",
        query=DelegationListQuery,
        responses={200: DelegationPage},
    )
    def list_delegations(self, call: Call):
        q = call.query
        items = self.rpc.licensing.list_delegations(
            q.get("bureau"), q.get("as_of"), q["limit"] + 1, _after(call, 2)
        )
        return _page(items, q["limit"], ("effective_from", "id"))

    # --- applications -------------------------------------------------------------------

    def _application_scope(self, call: Call, app_id: str, read: bool = False) -> dict:
        scope = self.rpc.licensing.application_scope(app_id)
        check = call.visible if read else call.require
        check(bureau=scope["bureau"], uscc=scope["applicant_uscc"])
        return scope

    @route(
        "POST",
        "/v1/applications",
        roles=[APPLICANT, BUREAU_OFFICER, CITY_ADMIN],
        tag="Applications",
        summary="Submit an application; it is routed to the bureau holding the power",
        description="Applicants submit for their own credit code; officers take "
        "applications at the counter.",
        body=ApplicationIn,
        responses={201: ApplicationView},
    )
    def submit_application(self, call: Call):
        if call.caller.role == APPLICANT:
            call.require(uscc=call.body["applicant"].get("uscc"))
        return 201, self.rpc.licensing.submit_application(call.body)

    @route(
        "GET",
        "/v1/applications/{application_id}",
        roles=[APPLICANT, BUREAU_OFFICER, CITY_ADMIN],
        tag="Applications",
        summary="An application with its deadlines, clock and timeline",
        description="`as_of`: the application as it stood then (events up to that moment; "
        "a date means the end of that day, China time); 404 if it did not exist yet.",
        query=AsOfQuery,
        responses={200: ApplicationView},
    )
    def get_application(self, call: Call):
        app_id = call.path["application_id"]
        self._application_scope(call, app_id, read=True)
        return self.rpc.licensing.get_application(app_id, call.query.get("as_of"))

    @route(
        "GET",
        "/v1/applications",
        roles=[APPLICANT, BUREAU_OFFICER, CITY_ADMIN],
        tag="Applications",
        summary="Applications (officers: their bureau; applicants: their own)",
        description="`overdue=true`: running late now (a deadline passed, nothing decided or "
        "delivered); `decided_late=true`: decided after the decision due date (a late "
        "decision leaves the overdue list but stays on this one).",
        query=ApplicationListQuery,
        responses={200: ApplicationPage},
    )
    def list_applications(self, call: Call):
        q = call.query
        names = ("bureau", "status", "kind", "overdue", "decided_late", "applicant")
        filters = {k: q[k] for k in names if k in q}
        filters["bureau"] = _bureau_filter(call, q.get("bureau"))
        if call.caller.role == APPLICANT:
            if q.get("applicant") and q["applicant"] != call.caller.uscc:
                call.require(uscc=q["applicant"])
            filters["applicant"] = call.caller.uscc
        items = self.rpc.licensing.list_applications(filters, q["limit"] + 1, _after(call, 2))
        return _page(items, q["limit"], ("received_on", "id"))

    accept_application = _application_command(
        "accept", None, OFFICIALS, "Accept the application (受理); the decision clock starts"
    )
    not_accept_application = _application_command(
        "not-accept",
        ReasonIn,
        OFFICIALS,
        "Do not accept, with the reason and the applicant's remedies",
    )
    request_correction = _application_command(
        "request-correction",
        CorrectionIn,
        OFFICIALS,
        "Ask for every missing item at once (within the intake period)",
    )
    supplement_application = _application_command(
        "supplement",
        MaterialsIn,
        [APPLICANT, BUREAU_OFFICER, CITY_ADMIN],
        "Supply the requested materials; a new intake period starts once every requested "
        "item is answered",
    )
    review_application = _application_command(
        "review", OpinionIn, OFFICIALS, "Record a review step with its opinion"
    )
    suspend_clock = _application_command(
        "suspend-clock",
        SuspendClockIn,
        OFFICIALS,
        "Stop the decision clock (hearing, testing, expert review, on-site evaluation)",
    )
    resume_clock = _application_command(
        "resume-clock", None, OFFICIALS, "Restart the decision clock"
    )
    extend_application = _application_command(
        "extend", ReasonIn, OFFICIALS, "Extend the decision period once by 10 working days"
    )
    approve_application = _application_command(
        "approve",
        ApproveIn,
        OFFICIALS,
        "Approve: the licence is issued (and, for a use registration, the unit registered)",
    )
    refuse_application = _application_command(
        "refuse", RefuseIn, OFFICIALS, "Refuse, with reasons, legal basis and remedies"
    )
    stop_work = _application_command(
        "stop-work", ReasonIn, OFFICIALS, "Order the work of a filed construction notice to stop"
    )
    deliver_certificate = _application_command(
        "deliver-certificate",
        CertificateDeliveryIn,
        OFFICIALS,
        "Record that the certificate was handed over (due 10 working days after approval; "
        "late: the application is overdue)",
    )
    withdraw_application = _application_command(
        "withdraw",
        WithdrawIn,
        [APPLICANT, BUREAU_OFFICER, CITY_ADMIN],
        "Withdraw the application before the decision",
    )

    # --- licences -----------------------------------------------------------------------

    @route(
        "GET",
        "/v1/licences/{licence_no}",
        roles=ANY_TOKEN,
        tag="Licences",
        summary="A licence (its holder, the bureau that issued it, officials)",
        description="`as_of`: the licence as it stood then.",
        query=AsOfQuery,
        responses={200: LicenceView},
    )
    def get_licence(self, call: Call):
        no = call.path["licence_no"]
        scope = self.rpc.licensing.licence_scope(no)
        call.visible(bureau=scope["bureau"], uscc=scope["holder_uscc"])
        return self.rpc.licensing.get_licence(no, call.query.get("as_of"))

    @route(
        "GET",
        "/v1/licences",
        roles=ANY_TOKEN,
        tag="Licences",
        summary="Licences (officers: their bureau; holders: their own)",
        description="`holder`: a credit code, or for officials a person's resident ID number. "
        "Officers list the licences their bureau acts on; a person's name shows to the bureau "
        "that issued the certificate (and to city-wide callers).",
        query=LicenceListQuery,
        responses={200: LicencePage},
    )
    def list_licences(self, call: Call):
        q = call.query
        filters = {k: q[k] for k in ("holder", "kind", "status", "bureau") if k in q}
        filters["bureau"] = _bureau_filter(call, q.get("bureau"))
        if call.caller.role in USCC_ROLES:
            if q.get("holder") and q["holder"] != call.caller.uscc:
                call.require(uscc=q["holder"])
            filters["holder"] = call.caller.uscc
        items = self.rpc.licensing.list_licences(
            filters, q["limit"] + 1, _after(call, 1), _names_for(call)
        )
        return _page(items, q["limit"], ("licence_no",))

    suspend_licence = _licence_command(
        "suspend", ReasonIn, OFFICIALS, "Suspend a licence (a use registration: the unit too)"
    )
    reinstate_licence = _licence_command(
        "reinstate", ReasonIn, OFFICIALS, "Reinstate a suspended licence"
    )
    revoke_licence = _licence_command(
        "revoke", ReasonIn, OFFICIALS, "Revoke a licence (a use registration: cancels it)"
    )
    request_renewal = _licence_command(
        "renewals",
        RenewalIn,
        [APPLICANT, MAINTENANCE_UNIT, BUREAU_OFFICER, CITY_ADMIN],
        "Ask for renewal (at least 30 days before expiry) or, for an operator, a review",
        status=201,
    )
    decide_renewal = _licence_command(
        "renewal-decision",
        RenewalDecisionIn,
        OFFICIALS,
        "Grant or refuse the pending renewal (undecided at expiry: deemed granted)",
    )

    @route(
        "GET",
        "/v1/public/licences",
        roles=PUBLIC,
        tag="Public",
        summary="Public licensing decisions (no personal data)",
        description="In licence-number order, in pages; by holder (an organization's credit "
        "code, exact, or part of its name), licence number (exact) and kind.",
        query=PublicLicenceListQuery,
        responses={200: PublicLicencePage},
    )
    def public_licences(self, call: Call):
        q = call.query
        items = self.rpc.licensing.public_licences(
            q.get("holder"),
            q["limit"] + 1,
            _after(call, 1),
            kind=q.get("kind"),
            licence_no=q.get("licence_no"),
        )
        return _page(items, q["limit"], ("licence_no",))
