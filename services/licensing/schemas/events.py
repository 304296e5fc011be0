"""The integration events the service publishes on ``licensing.events``."""

from __future__ import annotations

from marshmallow import (
    Schema,
    fields,
)

from infra.schemas import Reply, flatten_errors

# --- integration events ---------------------------------------------------------------------


class _Event(Reply):
    at = fields.String(required=True)
    actor = fields.String(required=True)


class DelegationGrantedV1(_Event):
    delegation_id = fields.String(required=True)
    bureau = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)


class DelegationRevokedV1(_Event):
    delegation_id = fields.String(required=True)
    effective_from = fields.String(required=True)
    reason = fields.String(required=True)


class ApplicationReceivedV1(_Event):
    application_id = fields.String(required=True)
    kind = fields.String(required=True)
    bureau = fields.String(required=True)
    applicant = fields.Dict(required=True)
    location = fields.Dict(required=True)
    subject = fields.Dict(required=True)
    person = fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "encrypted per person (personal data)"},
    )
    received_on = fields.String(required=True)
    intake_due = fields.String(required=True)


class ApplicationAcceptedV1(_Event):
    accepted_on = fields.String(required=True)
    decision_due = fields.String(required=True)


class ApplicationDecidedV1(_Event):
    decided_on = fields.String(required=True)
    licence_no = fields.String(allow_none=True)
    # Absent from decisions recorded before they said so.
    decided_late = fields.Boolean(allow_none=True)
    working_days_late = fields.Integer(allow_none=True)
    by = fields.Dict(allow_none=True, metadata={"description": "role, bureau or uscc, name"})


class LicenceIssuedV1(_Event):
    licence_no = fields.String(required=True)
    kind = fields.String(required=True)
    bureau = fields.String(required=True)
    holder = fields.Dict(required=True)
    decision_no = fields.String(required=True)
    decided_on = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(allow_none=True, required=True)
    scope = fields.List(fields.String(), required=True)
    level = fields.String(allow_none=True, required=True)
    equipment_code = fields.String(allow_none=True, required=True)


class LicenceChangedV1(_Event):
    reason = fields.String()


class LicenceTransferredV1(_Event):
    to_licence_no = fields.String(required=True)
    to_holder = fields.Dict(required=True)
    application_id = fields.String(required=True)
    transferred_on = fields.String(required=True)


class EquipmentRegisteredV1(Reply):
    equipment_code = fields.String(required=True)
    district = fields.String(required=True)
    in_ftz = fields.Boolean(required=True)
    registered_on = fields.String(required=True)
    maintenance_unit_uscc = fields.String(allow_none=True)
    user = fields.Dict(allow_none=True)
    manufacture_year = fields.Integer(allow_none=True)
    rated_speed_mps = fields.Float(allow_none=True)
    rated_load_kg = fields.Float(allow_none=True)
    licence_no = fields.String(allow_none=True)


class EquipmentChangedV1(Reply):
    equipment_code = fields.String(required=True)
    changed_on = fields.String(required=True)
    reason = fields.String(required=True)


class EquipmentStatusV1(Reply):
    equipment_code = fields.String(required=True)


class AuditEventV1(_Event):
    plan_id = fields.String(required=True)


INTEGRATION_EVENTS: dict[str, type[Schema]] = {
    "DelegationGranted": DelegationGrantedV1,
    "DelegationRevoked": DelegationRevokedV1,
    "ApplicationReceived": ApplicationReceivedV1,
    "ApplicationAccepted": ApplicationAcceptedV1,
    "DeemedAccepted": ApplicationAcceptedV1,
    "ApplicationApproved": ApplicationDecidedV1,
    "ApplicationRefused": ApplicationDecidedV1,
    "LicenceIssued": LicenceIssuedV1,
    "LicenceRenewed": LicenceChangedV1,
    "LicenceSuspended": LicenceChangedV1,
    "LicenceReinstated": LicenceChangedV1,
    "LicenceRevoked": LicenceChangedV1,
    "LicenceTransferred": LicenceTransferredV1,
    "LicenceExpired": LicenceChangedV1,
    "EquipmentRegistered": EquipmentRegisteredV1,
    "EquipmentChanged": EquipmentChangedV1,
    "EquipmentSuspended": EquipmentStatusV1,
    "EquipmentResumed": EquipmentStatusV1,
    "EquipmentCancelled": EquipmentStatusV1,
    "AuditPlanDrawn": AuditEventV1,
    "FindingsRecorded": AuditEventV1,
    "RectificationOrdered": AuditEventV1,
    "RectificationVerified": AuditEventV1,
    "RectificationOverdue": AuditEventV1,
}


def validate_event(event_type: str, data: dict) -> dict[str, list[str]]:
    """Errors of a published event's data against its contract (empty: valid)."""
    schema = INTEGRATION_EVENTS.get(event_type)
    if schema is None:
        return {}
    return flatten_errors(schema().validate(data))
