"""Licensing input schemas and the integration events the service publishes.

Command inputs are validated twice with the same schemas: at the gateway (the edge answers 422
with field paths before any RPC) and again in the service (RPC callers other than the gateway
exist: the CLI, the demo loader, tests). Loaded data stays JSON (dates as ISO text) so that it
travels over RPC unchanged.

Identifiers use the kernel's validators (``infra.identifiers``): credit codes (with the
administrators' exception list, ``SESP_USCC_EXCEPTIONS``, comma separated), resident ID numbers
and equipment codes, against *today* from the injectable clock.

``INTEGRATION_EVENTS`` describes the data of every event published on ``licensing.events``
(routing key = event type); ``docs/licensing.md`` lists them for consumers.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from infra.bus.dependencies import Clock
from infra.errors import Invalid
from infra.identifiers import (
    EquipmentCodeField,
    InvalidIdentifier,
    ResidentIdField,
    USCCField,
    birth_date_of,
)
from services.licensing.domain.common import (
    CONSTRUCTION_WORK,
    DISTRICTS,
    ELEVATOR_LEVELS,
    KINDS,
    PUDONG,
    SCOPE_ACTIVITIES,
    SCOPE_CLASSES,
    USE_REGISTRATION_REASONS,
    local_date,
)

BUREAUS = ("SH", "FTZ", *DISTRICTS)
SCOPE_ITEM = re.compile(rf"^({'|'.join(SCOPE_CLASSES)}):({'|'.join(SCOPE_ACTIVITIES)})$")
TEXT = validate.Length(min=1, max=2000)
NAME = validate.Length(min=1, max=200)


def clock_today() -> date:
    """Today in China Standard Time by the injectable clock (``SESP_CLOCK_FILE`` in tests)."""
    return local_date(Clock().now())


def uscc_exceptions() -> list[str]:
    """Codes real registries issued although they fail the check (administrator-maintained)."""
    raw = os.environ.get("SESP_USCC_EXCEPTIONS", "")
    return [c.strip().upper() for c in raw.split(",") if c.strip()]


def Uscc(**kw) -> USCCField:  # noqa: N802  (a field factory reads like a field class)
    return USCCField(exceptions=uscc_exceptions, **kw)


class IsoDate(fields.Date):
    """A date validated as a date, kept as ISO text (the data travels as JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


class NotFuture(validate.Validator):
    def __call__(self, value: str) -> str:
        if date.fromisoformat(value) > clock_today():
            raise ValidationError("must not be in the future")
        return value


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Reply(Schema):
    class Meta:
        unknown = INCLUDE


# --- applications ---------------------------------------------------------------------------


class ApplicantIn(Strict):
    uscc = Uscc(metadata={"description": "an organization: its unified social credit code"})
    id_number = ResidentIdField(
        today=clock_today, metadata={"description": "a person: the resident ID number"}
    )
    name = fields.String(required=True, validate=NAME)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if ("uscc" in data) == ("id_number" in data):
            raise ValidationError("give either uscc (an organization) or id_number (a person)")


class LocationIn(Strict):
    district = fields.String(
        required=True,
        validate=validate.OneOf(DISTRICTS, error="must be a Shanghai district code (GB/T 2260)"),
    )
    in_ftz = fields.Boolean(load_default=False)
    address = fields.String(validate=validate.Length(max=500))

    @validates_schema
    def _ftz_in_pudong(self, data, **kwargs):
        if data.get("in_ftz") and data.get("district") != PUDONG:
            raise ValidationError(
                "the Free Trade Zone lies inside Pudong (310115)", field_name="in_ftz"
            )


class MaterialIn(Strict):
    name = fields.String(required=True, validate=NAME)
    sha256 = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lower-case hex characters"),
    )


class EquipmentIn(Strict):
    variety = fields.String(
        required=True, validate=validate.Regexp(r"^[1-9]\d{3}$", error="a 4-digit variety code")
    )
    product_name = fields.String(required=True, validate=NAME)
    model = fields.String(required=True, validate=NAME)
    maker = fields.String(required=True, validate=NAME)
    manufactured_on = IsoDate(required=True, validate=NotFuture())
    rated_speed_mps = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=30))
    rated_load_kg = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=1e6))


class UseRegistrationSubject(Strict):
    equipment_code = EquipmentCodeField(required=True, today=clock_today)
    reason = fields.String(required=True, validate=validate.OneOf(USE_REGISTRATION_REASONS))
    equipment = fields.Nested(EquipmentIn, required=True)
    maintenance_unit_uscc = Uscc()
    legacy_code = EquipmentCodeField(
        today=clock_today, metadata={"description": "a legacy 20-digit Shanghai code (alias)"}
    )

    @validates_schema
    def _consistent(self, data, **kwargs):
        code, equipment = data.get("equipment_code"), data.get("equipment") or {}
        if code and len(code) == 18 and equipment.get("variety"):
            if code[:4] != equipment["variety"]:
                raise ValidationError(
                    "the first four digits must be the variety code", field_name="equipment_code"
                )
        legacy = data.get("legacy_code")
        if legacy and len(legacy) != 20:
            raise ValidationError("a legacy code has 20 digits", field_name="legacy_code")


class PersonIn(Strict):
    id_number = ResidentIdField(required=True, today=clock_today)
    name = fields.String(required=True, validate=NAME)
    born_on = IsoDate(required=True, validate=NotFuture())

    @validates_schema
    def _born_on_matches(self, data, **kwargs):
        if "id_number" in data and "born_on" in data:
            if birth_date_of(data["id_number"]).isoformat() != data["born_on"]:
                raise ValidationError(
                    "differs from the birth date in the ID number", field_name="born_on"
                )


class OperatorSubject(Strict):
    person = fields.Nested(PersonIn, required=True)
    items = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9]{0,5}$", error="a work item code")),
        required=True,
        validate=validate.Length(min=1, max=20),
    )
    exam_passed_on = IsoDate(required=True, validate=NotFuture())


class ConstructionSubject(Strict):
    equipment_code = EquipmentCodeField(required=True, today=clock_today)
    work = fields.String(required=True, validate=validate.OneOf(CONSTRUCTION_WORK))
    installer_uscc = Uscc(required=True)
    starts_on = IsoDate(required=True)
    rated_speed_mps = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=30))


class LicenceSubject(Strict):
    scope = fields.List(
        fields.String(validate=validate.Regexp(SCOPE_ITEM, error="<class>:<activity>")),
        required=True,
        validate=validate.Length(min=1, max=40),
    )
    level = fields.String(validate=validate.OneOf(ELEVATOR_LEVELS))


SUBJECTS: dict[str, type[Schema]] = {
    "use_registration": UseRegistrationSubject,
    "operator_certificate": OperatorSubject,
    "construction_notice": ConstructionSubject,
    "pressure_piping_licence": LicenceSubject,
    "production_licence": LicenceSubject,
}


class SubjectField(fields.Dict):
    """``subject``: its shape depends on ``kind`` (checked by the enclosing schema)."""


class ApplicationIn(Strict):
    """``POST /v1/applications``."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    applicant = fields.Nested(ApplicantIn, required=True)
    location = fields.Nested(LocationIn, required=True)
    subject = SubjectField(required=True)
    materials = fields.List(
        fields.Nested(MaterialIn), load_default=list, validate=validate.Length(max=200)
    )

    @validates_schema(skip_on_field_errors=False)
    def _subject_by_kind(self, data, **kwargs):
        schema = SUBJECTS.get(data.get("kind"))
        if schema is None or not isinstance(data.get("subject"), dict):
            return
        try:
            data["subject"] = schema().load(data["subject"])
        except ValidationError as exc:
            raise ValidationError({"subject": exc.messages}) from None
        kind = data["kind"]
        applicant = data.get("applicant") or {}
        if kind == "use_registration" and "id_number" in applicant:
            raise ValidationError(
                "a use registration is applied for by the user unit: give its uscc",
                field_name="applicant",
            )
        if kind in ("pressure_piping_licence", "production_licence") and "id_number" in applicant:
            raise ValidationError(
                "a licence for an organization: give its uscc", field_name="applicant"
            )
        if kind == "pressure_piping_licence":
            for i, item in enumerate(data["subject"]["scope"]):
                if not item.startswith("pressure_piping:"):
                    raise ValidationError(
                        {
                            "subject": {
                                "scope": {
                                    i: ["a pressure-piping licence covers pressure_piping only"]
                                }
                            }
                        }
                    )


class MaterialsIn(Strict):
    materials = fields.List(
        fields.Nested(MaterialIn), required=True, validate=validate.Length(min=1, max=200)
    )


class ReasonIn(Strict):
    reason = fields.String(required=True, validate=TEXT)


class CorrectionIn(Strict):
    items = fields.List(
        fields.String(validate=TEXT), required=True, validate=validate.Length(min=1, max=100)
    )


class OpinionIn(Strict):
    opinion = fields.String(required=True, validate=TEXT)


class SuspendClockIn(Strict):
    reason = fields.String(required=True, validate=TEXT)
    notice_ref = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ApproveIn(Strict):
    opinion = fields.String(required=True, validate=TEXT)
    valid_until = IsoDate()


class RefuseIn(Strict):
    reason = fields.String(required=True, validate=TEXT)
    legal_basis = fields.String(required=True, validate=TEXT)


class WithdrawIn(Strict):
    reason = fields.String(validate=TEXT)


class ApplicationQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))
    status = fields.String(
        validate=validate.OneOf(
            [
                "received",
                "awaiting_correction",
                "accepted",
                "not_accepted",
                "approved",
                "refused",
                "withdrawn",
            ]
        )
    )
    kind = fields.String(validate=validate.OneOf(KINDS))
    overdue = fields.Boolean()
    applicant = Uscc(metadata={"description": "the applicant's credit code"})


# --- delegations ----------------------------------------------------------------------------


class DelegationIn(Strict):
    bureau = fields.String(
        required=True,
        validate=validate.OneOf(
            [b for b in BUREAUS if b != "SH"], error="the FTZ branch or a district bureau"
        ),
    )
    kinds = fields.List(
        fields.String(validate=validate.OneOf(KINDS)),
        required=True,
        validate=validate.Length(min=1, max=len(KINDS)),
    )
    effective_from = IsoDate(required=True)


class RevocationIn(Strict):
    effective_from = IsoDate(required=True)
    reason = fields.String(required=True, validate=TEXT)


class DelegationQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))
    as_of = IsoDate(metadata={"description": "only delegations in force on this date"})


class DelegationView(Reply):
    id = fields.String(required=True)
    bureau = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    revoked_from = fields.String()
    revocation_reason = fields.String()
    in_force = fields.Boolean()


class DelegationPage(Reply):
    items = fields.List(fields.Nested(DelegationView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# --- replies --------------------------------------------------------------------------------


class ApplicationDeadlines(Reply):
    intake_due = fields.String(allow_none=True)
    decision_due = fields.String(allow_none=True)
    certificate_due = fields.String(allow_none=True)
    provisional = fields.Boolean()


class ApplicationClock(Reply):
    running = fields.Boolean(required=True)
    working_days_used = fields.Integer(required=True)


class LicensingTimelineEntry(Reply):
    type = fields.String(required=True)
    at = fields.String(required=True)
    actor = fields.String(required=True)
    opinion = fields.String()
    reason = fields.String()


class ApplicationView(Reply):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    bureau = fields.String(required=True)
    received_on = fields.String(required=True)
    version = fields.Integer(required=True)
    applicant = fields.Dict()
    location = fields.Dict()
    subject = fields.Dict()
    deadlines = fields.Nested(ApplicationDeadlines, required=True)
    clock = fields.Nested(ApplicationClock)
    overdue = fields.Boolean()
    timeline = fields.List(fields.Nested(LicensingTimelineEntry))
    licence_no = fields.String(allow_none=True)


class ApplicationSummary(Reply):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    bureau = fields.String(required=True)
    received_on = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    deadlines = fields.Nested(ApplicationDeadlines, required=True)
    version = fields.Integer(required=True)


class ApplicationPage(Reply):
    items = fields.List(fields.Nested(ApplicationSummary), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# --- licences and equipment -----------------------------------------------------------------


class RenewalItemIn(Strict):
    item = fields.String(required=True, validate=validate.Length(min=1, max=10))
    last_worked_on = IsoDate(required=True)


class RenewalIn(Strict):
    items = fields.List(
        fields.Nested(RenewalItemIn),
        validate=validate.Length(max=20),
        metadata={"description": "operator certificates: the items to review"},
    )


class RenewalDecisionIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(["granted", "refused"]))
    reason = fields.String(required=True, validate=TEXT)


class LicenceQuery(Schema):
    holder = Uscc()
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(["active", "suspended", "revoked", "expired"]))
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


class PublicLicenceQuery(Schema):
    holder = fields.String(
        validate=validate.Length(min=2, max=200),
        metadata={"description": "a credit code (exact) or a name (partial)"},
    )


class LicenceView(Reply):
    licence_no = fields.String(required=True)
    kind = fields.String(required=True)
    bureau = fields.String(required=True)
    status = fields.String(required=True)
    holder = fields.Dict(required=True)
    decision_no = fields.String(required=True)
    decided_on = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(allow_none=True)
    version = fields.Integer(required=True)


class LicencePage(Reply):
    items = fields.List(fields.Nested(LicenceView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PublicLicence(Reply):
    licence_no = fields.String(required=True)
    kind = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    uscc = fields.String(allow_none=True, required=True)
    decision_no = fields.String(required=True)
    decided_on = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(allow_none=True, required=True)
    authority = fields.String(required=True)
    status = fields.String(required=True)


class PublicLicencePage(Reply):
    items = fields.List(fields.Nested(PublicLicence), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class EquipmentView(Reply):
    equipment_code = fields.String(required=True)
    status = fields.String(required=True)
    district = fields.String(required=True)
    in_ftz = fields.Boolean(required=True)
    user = fields.Dict(allow_none=True)
    maintenance_unit_uscc = fields.String(allow_none=True)
    licence_no = fields.String(allow_none=True)
    registered_on = fields.String(allow_none=True)


class EquipmentQuery(Schema):
    district = fields.String(validate=validate.OneOf(DISTRICTS))
    status = fields.String(validate=validate.OneOf(["registered", "suspended", "cancelled"]))
    in_ftz = fields.Boolean()
    maintenance_unit_uscc = Uscc()
    user_uscc = Uscc()


class EquipmentPage(Reply):
    items = fields.List(fields.Nested(EquipmentView), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class EquipmentChangeIn(Strict):
    reason = fields.String(required=True, validate=TEXT)
    maintenance_unit_uscc = Uscc()
    address = fields.String(validate=validate.Length(min=1, max=500))


# --- audits ---------------------------------------------------------------------------------


class AuditPlanIn(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    size = fields.Integer(strict=True, validate=validate.Range(min=1, max=10000))
    rate = fields.Float(validate=validate.Range(min=0, max=1, min_inclusive=False))
    seed = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**63 - 1))
    inspectors_per_target = fields.Integer(
        strict=True, load_default=2, validate=validate.Range(min=1, max=5)
    )
    bureau = fields.String(
        validate=validate.OneOf(BUREAUS),
        metadata={"description": "city_admin only: the bureau to audit"},
    )

    @validates_schema
    def _size_or_rate(self, data, **kwargs):
        if ("size" in data) == ("rate" in data):
            raise ValidationError("give either size or rate")


class FindingIn(Strict):
    item = fields.String(required=True, validate=TEXT)
    severity = fields.String(required=True, validate=validate.OneOf(["minor", "serious"]))


class FindingsIn(Strict):
    licence_no = fields.String(required=True, validate=validate.Length(min=1, max=50))
    findings = fields.List(
        fields.Nested(FindingIn), required=True, validate=validate.Length(min=0, max=100)
    )


class RectificationOrderIn(Strict):
    licence_no = fields.String(required=True, validate=validate.Length(min=1, max=50))
    due_on = IsoDate(required=True)
    items = fields.List(
        fields.String(validate=TEXT), required=True, validate=validate.Length(min=1, max=100)
    )


class InspectorIn(Strict):
    inspector_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=NAME)
    organization_uscc = Uscc(required=True)
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


class RiskFactIn(Strict):
    fact_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    uscc = Uscc(required=True)
    type = fields.String(
        required=True, validate=validate.OneOf(["accident", "credit_grade", "complaint_verified"])
    )
    occurred_on = IsoDate(required=True)
    grade = fields.String(validate=validate.OneOf(["A", "B", "C", "D"]))


class PublicAuditQuery(Schema):
    bureau = fields.String(validate=validate.OneOf(BUREAUS))


# --- helpers --------------------------------------------------------------------------------


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed by dotted field path."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = str(key) if not prefix else f"{prefix}.{key}"
            if key == "_schema" and prefix:
                path = prefix
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list | tuple):
        for item in messages:
            for k, v in flatten_errors(item, prefix).items():
                out.setdefault(k, []).extend(v)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def load(schema: type[Schema] | Schema, data: Any, what: str = "request") -> dict:
    """Load ``data`` or raise ``infra.errors.Invalid`` with errors by field path."""
    instance = schema() if isinstance(schema, type) else schema
    try:
        return instance.load({} if data is None else data)
    except ValidationError as exc:
        raise Invalid(f"invalid {what}", flatten_errors(exc.messages)) from None
    except InvalidIdentifier as exc:  # pragma: no cover - fields turn these into messages
        raise Invalid(f"invalid {what}", {"_schema": [str(exc)]}) from None


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
