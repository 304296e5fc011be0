"""Application inputs, queries and views."""

from __future__ import annotations

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from infra.clock import today
from infra.identifiers import (
    EquipmentCodeField,
    ResidentIdField,
    birth_date_of,
)
from infra.places import BUREAUS, DISTRICT_LABELS, DISTRICTS, PUDONG
from infra.schemas import Pattern, Reply, Strict
from services.licensing.domain.common import (
    CONSTRUCTION_WORK,
    ELEVATOR_LEVELS,
    KINDS,
    SCOPE_ACTIVITIES,
    SCOPE_CLASSES,
    USE_REGISTRATION_REASONS,
)
from services.licensing.schemas.base import NAME, SCOPE_ITEM, TEXT, IsoDate, NotFuture, Uscc

# --- applications ---------------------------------------------------------------------------

WORK_ITEM = (
    "a work item code as on the certificate: a capital letter, then up to 5 capitals or "
    "digits (T, R1, Q2, N1...)"
)
SCOPE_ITEM_FORMAT = (
    f"<class>:<activity>, the class one of {', '.join(SCOPE_CLASSES)}, the activity one of "
    f"{', '.join(SCOPE_ACTIVITIES)} (elevator:maintenance)"
)


class ApplicantIn(Strict):
    uscc = Uscc(metadata={"description": "an organization: its unified social credit code"})
    id_number = ResidentIdField(
        today=today, metadata={"description": "a person: the resident ID number"}
    )
    name = fields.String(required=True, validate=NAME)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if ("uscc" in data) == ("id_number" in data):
            raise ValidationError("give either uscc (an organization) or id_number (a person)")


class LocationIn(Strict):
    district = fields.String(
        required=True,
        validate=validate.OneOf(
            DISTRICTS, DISTRICT_LABELS, error="must be a Shanghai district code: {labels}"
        ),
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
        validate=Pattern(r"^[0-9a-f]{64}$", error="must be 64 lower-case hex characters"),
    )


class EquipmentIn(Strict):
    variety = fields.String(
        required=True,
        validate=Pattern(
            r"^[1-9][0-9]{3}$",
            error="a 4-digit variety code: the first four digits of the equipment code (3110)",
        ),
    )
    product_name = fields.String(required=True, validate=NAME)
    model = fields.String(required=True, validate=NAME)
    maker = fields.String(required=True, validate=NAME)
    manufactured_on = IsoDate(required=True, validate=NotFuture())
    rated_speed_mps = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=30))
    rated_load_kg = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=1e6))


class UseRegistrationSubject(Strict):
    equipment_code = EquipmentCodeField(required=True, today=today)
    reason = fields.String(required=True, validate=validate.OneOf(USE_REGISTRATION_REASONS))
    equipment = fields.Nested(EquipmentIn, required=True)
    maintenance_unit_uscc = Uscc()
    legacy_code = EquipmentCodeField(
        today=today, metadata={"description": "a legacy 20-digit Shanghai code (alias)"}
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
    id_number = ResidentIdField(required=True, today=today)
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
        fields.String(validate=Pattern(r"^[A-Z][A-Z0-9]{0,5}$", error=WORK_ITEM)),
        required=True,
        validate=validate.Length(min=1, max=20),
    )
    exam_passed_on = IsoDate(required=True, validate=NotFuture())


class ConstructionSubject(Strict):
    equipment_code = EquipmentCodeField(required=True, today=today)
    work = fields.String(required=True, validate=validate.OneOf(CONSTRUCTION_WORK))
    installer_uscc = Uscc(required=True)
    starts_on = IsoDate(required=True)
    rated_speed_mps = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=30))


class LicenceSubject(Strict):
    scope = fields.List(
        fields.String(validate=Pattern(SCOPE_ITEM, error=SCOPE_ITEM_FORMAT)),
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


class SupplementMaterialIn(MaterialIn):
    item = fields.String(
        validate=TEXT,
        metadata={
            "description": "the requested correction item this document answers (default: "
            "the item its name is, case and spacing aside)"
        },
    )


class MaterialsIn(Strict):
    """``supplement``: the intake period starts again once every requested item is answered;
    until then the application stays awaiting correction with the items still open."""

    materials = fields.List(
        fields.Nested(SupplementMaterialIn),
        required=True,
        validate=validate.Length(min=1, max=200),
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
    valid_until = IsoDate(
        metadata={
            "description": "production and pressure-piping licences only: a validity shorter "
            "than the statutory term (4 years less a day from the decision), never longer"
        }
    )


class RefuseIn(Strict):
    reason = fields.String(required=True, validate=TEXT)
    legal_basis = fields.String(required=True, validate=TEXT)


class WithdrawIn(Strict):
    reason = fields.String(validate=TEXT)


class CertificateDeliveryIn(Strict):
    reference = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the delivery record (counter receipt, postal tracking number)"},
    )


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
    decided_late = fields.Boolean(
        metadata={"description": "decided (approved or refused) after the decision due date"}
    )
    applicant = Uscc(metadata={"description": "the applicant's credit code"})


# --- replies --------------------------------------------------------------------------------


class ApplicationDeadlines(Reply):
    intake_due = fields.String(allow_none=True)
    decision_due = fields.String(allow_none=True)
    certificate_due = fields.String(allow_none=True)
    provisional = fields.Boolean()


class ApplicationClock(Reply):
    running = fields.Boolean(required=True)
    working_days_used = fields.Integer(required=True)


class TimelineActor(Reply):
    role = fields.String(required=True)
    bureau = fields.String()
    uscc = fields.String()
    name = fields.String()


class LicensingTimelineEntry(Reply):
    type = fields.String(required=True)
    at = fields.String(
        required=True, metadata={"description": "RFC 3339 in China Standard Time (+08:00)"}
    )
    actor = fields.String(
        required=True,
        metadata={
            "description": "role:bureau or credit code:name (system for the sweep; the role "
            "alone where no name was recorded)"
        },
    )
    by = fields.Nested(TimelineActor)
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
    valid_until = fields.String(allow_none=True)
    certificate_delivered_on = fields.String(allow_none=True)
    correction_items = fields.List(fields.String())
    open_correction_items = fields.List(
        fields.String(), metadata={"description": "requested items no supplement answered yet"}
    )
    decided_on = fields.String(allow_none=True)
    decided_late = fields.Boolean(metadata={"description": "decided after the decision due date"})
    working_days_late = fields.Integer(
        allow_none=True,
        metadata={"description": "working days after the due date (0 in time; null undecided)"},
    )


class ApplicationSummary(Reply):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    bureau = fields.String(required=True)
    received_on = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    decided_late = fields.Boolean(required=True)
    working_days_late = fields.Integer(allow_none=True)
    deadlines = fields.Nested(ApplicationDeadlines, required=True)
    version = fields.Integer(required=True)


class ApplicationPage(Reply):
    items = fields.List(fields.Nested(ApplicationSummary), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
