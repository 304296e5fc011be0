"""The equipment register (licensing service): reads for every token, the list for officials,
maintenance units and insurers, and officers' commands on a unit. A unit is supervised by the
bureau that issued its use-registration certificate (``equipment_scope``); SH acts on all."""

from __future__ import annotations

from marshmallow import Schema

from gateway.auth import BUREAU_OFFICER, CITY_ADMIN, INSURER, MAINTENANCE_UNIT
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routes.licensing import ANY_TOKEN, IF_MATCH, OFFICIALS, _after, _page
from gateway.routing import route
from infra.clock import today
from infra.errors import Invalid
from infra.identifiers import InvalidIdentifier, parse_equipment_code
from infra.paging import PageQuery
from services.licensing.schemas.applications import ReasonIn
from services.licensing.schemas.base import AsOfQuery
from services.licensing.schemas.licences import (
    EquipmentChangeIn,
    EquipmentPage,
    EquipmentQuery,
    EquipmentView,
)


class EquipmentListQuery(PageQuery, EquipmentQuery):
    pass


def _unit_code(call: Call) -> str:
    """The path's code, validated; a legacy 20-digit alias stays as given (the service
    resolves it)."""
    code = call.path["equipment_code"]
    try:
        return parse_equipment_code(code, today()).code
    except InvalidIdentifier as exc:
        raise Invalid("invalid equipment code", {"equipment_code": [str(exc)]}) from None


def _equipment_command(command: str, body: type[Schema], summary: str):
    @route(
        "POST",
        f"/v1/equipment/{{equipment_code}}/{command}",
        roles=OFFICIALS,
        tag="Equipment",
        summary=summary,
        description="Officers of the bureau that supervises the unit (the one that issued its "
        "use-registration certificate). With a certificate in force, suspend / resume / cancel "
        "suspend, reinstate or revoke the certificate too. A command not allowed in the unit's "
        "status answers 409 naming it.",
        body=body,
        responses={200: EquipmentView},
        **IF_MATCH,
    )
    def handler(self, call: Call):
        code = _unit_code(call)
        scope = self.rpc.licensing.equipment_scope(code)
        call.require(bureau=scope["bureau"])
        return self.rpc.licensing.equipment_command(
            scope["equipment_code"], command, call.body, call.if_match
        )

    handler.__name__ = "equipment_" + command
    return handler


class EquipmentRoutes(RouteBase):
    @route(
        "GET",
        "/v1/equipment/{equipment_code}",
        roles=ANY_TOKEN,
        tag="Equipment",
        summary="A registered unit (legacy 20-digit codes are accepted as aliases)",
        query=AsOfQuery,
        responses={200: EquipmentView},
    )
    def get_equipment(self, call: Call):
        return self.rpc.licensing.get_equipment(_unit_code(call), call.query.get("as_of"))

    @route(
        "GET",
        "/v1/equipment",
        roles=[CITY_ADMIN, BUREAU_OFFICER, MAINTENANCE_UNIT, INSURER],
        tag="Equipment",
        summary="The register (maintenance units: the elevators they maintain)",
        query=EquipmentListQuery,
        responses={200: EquipmentPage},
    )
    def list_equipment(self, call: Call):
        q = call.query
        filters = {
            k: q[k]
            for k in ("district", "status", "in_ftz", "maintenance_unit_uscc", "user_uscc")
            if k in q
        }
        if call.caller.role == MAINTENANCE_UNIT:
            if q.get("maintenance_unit_uscc") not in (None, call.caller.uscc):
                call.require(uscc=q["maintenance_unit_uscc"])
            filters["maintenance_unit_uscc"] = call.caller.uscc
        items = self.rpc.licensing.list_equipment(filters, q["limit"] + 1, _after(call, 1))
        return _page(items, q["limit"], ("equipment_code",))

    change_equipment = _equipment_command(
        "changes",
        EquipmentChangeIn,
        "Record a change of a unit (address, user, maintenance unit, rated speed or load)",
    )
    suspend_equipment = _equipment_command("suspend", ReasonIn, "Suspend the use of a unit")
    resume_equipment = _equipment_command("resume", ReasonIn, "Resume a suspended unit")
    cancel_equipment = _equipment_command(
        "cancel", ReasonIn, "Cancel a unit's registration (scrapped or removed)"
    )
