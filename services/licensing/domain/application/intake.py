"""Validation of ``ReceiveApplication``: the payload of ``ApplicationReceived``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.domain import Invalid, as_date, encode, text
from infra.places import BUREAUS, DISTRICTS, PUDONG

from ..common import (
    CONSTRUCTION_WORK,
    ELEVATOR_LEVELS,
    KINDS,
    SCOPE_ACTIVITIES,
    SCOPE_CLASSES,
    USE_REGISTRATION_REASONS,
)
from .commands import ReceiveApplication
from .rules import _SHA256

# --- validation of ReceiveApplication -------------------------------------------------------


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(path, "must be an object")
    return value


def _materials(values: Iterable[Any], path: str) -> tuple[dict, ...]:
    result = []
    for i, item in enumerate(values):
        item = _mapping(item, f"{path}.{i}")
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise Invalid(f"{path}.{i}.sha256", "must be 64 hexadecimal characters")
        result.append(
            {
                **encode(item),
                "name": text(item.get("name"), f"{path}.{i}.name"),
                "sha256": sha.lower(),
            }
        )
    return tuple(result)


def _split_person(kind: str, applicant: Mapping, subject: dict) -> tuple[dict, dict | None]:
    """The applicant without personal data, and the one natural person of the application."""
    name = text(applicant.get("name"), "applicant.name")
    uscc, id_number = applicant.get("uscc"), applicant.get("id_number")
    if (uscc is None) == (id_number is None):
        raise Invalid("applicant", "give either uscc (an organization) or id_number (a person)")
    person = None
    if id_number is not None:
        person = {"id_number": text(id_number, "applicant.id_number").upper(), "name": name}
    if kind == "operator_certificate":
        named = _mapping(subject.pop("person", None), "subject.person")
        operator = {
            "id_number": text(named.get("id_number"), "subject.person.id_number").upper(),
            "name": text(named.get("name"), "subject.person.name"),
            "born_on": as_date(named.get("born_on"), "subject.person.born_on").isoformat(),
        }
        # One data subject per application: a person applies only for their own certificate
        # (an employer applies with its uscc).
        if person is not None and person["id_number"] != operator["id_number"]:
            raise Invalid("applicant.id_number", "a person may apply only for themselves")
        person = operator
    elif "person" in subject:
        raise Invalid("subject.person", "only an operator certificate names a person")
    if id_number is not None:
        return {"type": "person"}, person
    organization = {"type": "organization", "uscc": text(uscc, "applicant.uscc").upper()}
    return {**organization, "name": name}, person


def _check_subject(kind: str, subject: dict) -> None:
    def need(key: str) -> Any:
        if subject.get(key) in (None, "", [], {}):
            raise Invalid(f"subject.{key}", "is required")
        return subject[key]

    if kind == "use_registration":
        text(need("equipment_code"), "subject.equipment_code")
        if need("reason") not in USE_REGISTRATION_REASONS:
            raise Invalid("subject.reason", f"must be one of {', '.join(USE_REGISTRATION_REASONS)}")
        equipment = dict(_mapping(need("equipment"), "subject.equipment"))
        for key in ("variety", "product_name", "model", "maker"):
            text(equipment.get(key), f"subject.equipment.{key}")
        equipment["manufactured_on"] = as_date(
            equipment.get("manufactured_on"), "subject.equipment.manufactured_on"
        ).isoformat()
        subject["equipment"] = equipment
    elif kind == "operator_certificate":
        items = need("items")
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise Invalid("subject.items", "must be a list of work item codes")
        subject["exam_passed_on"] = as_date(
            need("exam_passed_on"), "subject.exam_passed_on"
        ).isoformat()
    elif kind == "construction_notice":
        text(need("equipment_code"), "subject.equipment_code")
        if need("work") not in CONSTRUCTION_WORK:
            raise Invalid("subject.work", f"must be one of {', '.join(CONSTRUCTION_WORK)}")
        text(need("installer_uscc"), "subject.installer_uscc")
        subject["starts_on"] = as_date(need("starts_on"), "subject.starts_on").isoformat()
    else:
        scope = need("scope")
        if not isinstance(scope, list):
            raise Invalid("subject.scope", "must be a list of <class>:<activity>")
        for i, item in enumerate(scope):
            cls, _, activity = str(item).partition(":")
            if cls not in SCOPE_CLASSES or activity not in SCOPE_ACTIVITIES:
                raise Invalid(f"subject.scope.{i}", "must be <class>:<activity> from the lists")
            if kind == "pressure_piping_licence" and cls != "pressure_piping":
                raise Invalid(f"subject.scope.{i}", "a pressure-piping licence covers piping only")
        if subject.get("level") is not None and subject["level"] not in ELEVATOR_LEVELS:
            raise Invalid("subject.level", "must be A1, A2 or B")


def _check_receive(cmd: ReceiveApplication) -> dict[str, Any]:
    """Validated, JSON-able payload of ApplicationReceived (without dates and deadlines)."""
    if cmd.kind not in KINDS:
        raise Invalid("kind", f"must be one of {', '.join(KINDS)}")
    if cmd.bureau not in BUREAUS:
        raise Invalid("bureau", "unknown bureau")
    text(cmd.application_id, "id")
    location = encode(_mapping(cmd.location, "location"))
    if location.get("district") not in DISTRICTS:
        raise Invalid("location.district", "must be a Shanghai district code (GB/T 2260)")
    location["in_ftz"] = bool(location.get("in_ftz", False))
    if location["in_ftz"] and location["district"] != PUDONG:
        raise Invalid("location.in_ftz", "the Free Trade Zone lies inside Pudong (310115)")
    subject = encode(_mapping(cmd.subject, "subject"))
    applicant, person = _split_person(cmd.kind, _mapping(cmd.applicant, "applicant"), subject)
    _check_subject(cmd.kind, subject)
    return {
        "application_id": cmd.application_id,
        "kind": cmd.kind,
        "bureau": cmd.bureau,
        "applicant": applicant,
        "location": location,
        "subject": subject,
        "materials": _materials(cmd.materials, "materials"),
        "person": person,
    }
