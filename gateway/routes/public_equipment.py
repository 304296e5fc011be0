"""The public equipment lookup: a passenger types the code on the sign in the car and reads
whether the elevator is registered and in service, its district, who maintains it (with that
unit's latest final credit grade and whether it is on the blacklist) and whether liability
insurance covers it today.

The answer is composed here from four services' reads: licensing (the register; a legacy
20-digit code resolves to the unit's code), maintenance_credit (the unit's name and latest
final grade), blacklist (listed now or not) and insurance (covered today or not). It carries
no policy number, premium, insurer, user or person: organisations and yes/no answers only.
"""

from __future__ import annotations

from marshmallow import fields

from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import PUBLIC, route
from infra.clock import today
from infra.errors import Invalid
from infra.identifiers import InvalidIdentifier, parse_equipment_code
from infra.schemas import Reply
from services.maintenance_credit.schemas import PUBLIC_READ_EVENTS

CODE_PARAM = {
    "type": "string",
    "minLength": 18,
    "maxLength": 20,
    "description": "the equipment code on the sign in the car: 18 digits, or a legacy "
    "20-digit Shanghai registration code",
}
# The answer is kept in the gateway until an event of one of these, and at most 1 s: whether
# insurance covers it today changes with insurers' syncs (thousands of policy events a batch),
# which would empty the cache all the time; the second's limit bounds that part instead. Of
# credit's events only those that change a unit's name or final grade.
SOURCES = ("licensing", ("maintenance_credit", PUBLIC_READ_EVENTS), "blacklist")


class PublicMaintenanceUnit(Reply):
    uscc = fields.String(required=True)
    name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "null when no service knows the unit's name"},
    )
    grade = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": ["A", "B", "C", "D"],
            "description": "the latest final credit grade; null before the first final evaluation",
        },
    )
    listed = fields.Boolean(required=True, metadata={"description": "on the blacklist now"})


class PublicEquipmentView(Reply):
    equipment_code = fields.String(
        required=True, metadata={"description": "the unit's registration code (18 digits)"}
    )
    status = fields.String(
        required=True, metadata={"enum": ["registered", "suspended", "cancelled"]}
    )
    district = fields.String(required=True)
    maintenance_unit = fields.Nested(
        PublicMaintenanceUnit,
        allow_none=True,
        required=True,
        metadata={"description": "null when the register names no maintenance unit"},
    )
    insured_today = fields.Boolean(
        required=True, metadata={"description": "a liability policy covers it today"}
    )


def _code(call: Call) -> str:
    try:
        return parse_equipment_code(call.path["code"], today()).code
    except InvalidIdentifier as exc:
        raise Invalid("invalid equipment code", {"code": [str(exc)]}) from None


class PublicEquipmentRoutes(RouteBase):
    @route(
        "GET",
        "/v1/public/equipment/{code}",
        roles=PUBLIC,
        tag="Public",
        summary="Look up an elevator by the code on its sign",
        description="Registered and in service or not, its district, its maintenance unit "
        "(credit code, name, latest final grade, whether it is on the blacklist) and whether "
        "liability insurance covers it today. A legacy 20-digit code answers as the unit's "
        "code does. 422 for a text that is no equipment code, 404 for a code not registered. "
        "No policy numbers, premiums or personal data.",
        responses={200: PublicEquipmentView},
        errors=(404, 422),
        path_params={"code": CODE_PARAM},
        cache_from=SOURCES,
    )
    def public_equipment(self, call: Call):
        return equipment_facts(self.rpc, _code(call))


def equipment_facts(rpc, code: str) -> dict:
    """What the public may know of the elevator ``code`` (the API's answer and the site's
    page): from the register, the credit and blacklist services and insurance."""
    unit = rpc.licensing.get_equipment(code)
    code = unit["equipment_code"]
    maintainer = None
    uscc = unit.get("maintenance_unit_uscc")
    if uscc:
        # Both reads take the code as the register holds it (validated when recorded, an
        # exception-list code too: this request names none for the services to admit).
        credit = rpc.maintenance_credit.final_grade(uscc)
        blacklist = rpc.blacklist.unit_listed(uscc)
        maintainer = {
            "uscc": uscc,
            "name": credit["name"] or blacklist["name"],
            "grade": credit["grade"],
            "listed": bool(blacklist["listed"]),
        }
    coverage = rpc.insurance.coverage(code)
    return {
        "equipment_code": code,
        "status": unit["status"],
        "district": unit["district"],
        "maintenance_unit": maintainer,
        "insured_today": bool(coverage["covered"]),
    }
