"""The equipment register (licensing service): reads for officials, maintenance units and
insurers."""

from __future__ import annotations

from gateway.auth import BUREAU_OFFICER, CITY_ADMIN, INSURER, MAINTENANCE_UNIT
from gateway.routes.base import RouteBase
from gateway.routes.licensing import ANY_TOKEN, _after, _page
from gateway.routing import Call, route
from gateway.schemas import PageQuery
from infra.errors import Invalid
from infra.identifiers import InvalidIdentifier, parse_equipment_code
from services.licensing import schemas as ls


class EquipmentListQuery(PageQuery, ls.EquipmentQuery):
    pass


class EquipmentRoutes(RouteBase):
    @route(
        "GET",
        "/v1/equipment/{equipment_code}",
        roles=ANY_TOKEN,
        tag="Equipment",
        summary="A registered unit (legacy 20-digit codes are accepted as aliases)",
        responses={200: ls.EquipmentView},
    )
    def get_equipment(self, call: Call):
        code = call.path["equipment_code"]
        try:
            code = parse_equipment_code(code, ls.clock_today()).code
        except InvalidIdentifier as exc:
            raise Invalid("invalid equipment code", {"equipment_code": [str(exc)]}) from None
        return self.rpc.licensing.get_equipment(code)

    @route(
        "GET",
        "/v1/equipment",
        roles=[CITY_ADMIN, BUREAU_OFFICER, MAINTENANCE_UNIT, INSURER],
        tag="Equipment",
        summary="The register (maintenance units: the elevators they maintain)",
        query=EquipmentListQuery,
        responses={200: ls.EquipmentPage},
    )
    def list_equipment(self, call: Call):
        q = call.query
        filters = {
            k: q[k]
            for k in ("district", "status", "in_ftz", "maintenance_unit_uscc", "user_uscc")
            if k in q
        }
        if call.principal.role == MAINTENANCE_UNIT:
            if q.get("maintenance_unit_uscc") not in (None, call.principal.uscc):
                call.require(uscc=q["maintenance_unit_uscc"])
            filters["maintenance_unit_uscc"] = call.principal.uscc
        items = self.rpc.licensing.list_equipment(filters, q["limit"] + 1, _after(call, 1))
        return _page(items, q["limit"], ("equipment_code",))
