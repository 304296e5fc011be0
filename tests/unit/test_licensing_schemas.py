"""Input schemas (the same at the edge and in the service) and the integration events."""

import pytest

from infra.errors import Invalid
from infra.identifiers import uscc_exceptions
from infra.schemas import load
from infra.testing import env
from services.licensing.examples import operator_certificate, production_licence, use_registration
from services.licensing.schemas.applications import ApplicationIn
from services.licensing.schemas.events import INTEGRATION_EVENTS

USCC = "91350200776049653A"


@pytest.fixture(autouse=True)
def clock_2014(tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("2014-09-29T09:00:00+08:00")
    with env(SESP_CLOCK_FILE=str(clock)):
        yield


def errors_of(body):
    with pytest.raises(Invalid) as err:
        load(ApplicationIn, body)
    return err.value.errors


def test_a_valid_application_loads_as_json():
    data = load(ApplicationIn, use_registration(USCC, "311012345201400001"))
    assert data["subject"]["equipment"]["manufactured_on"] == "2014-03-01"


def test_the_year_in_an_equipment_code_may_not_be_after_today():
    body = use_registration(USCC, "311012345201500001")
    assert "subject.equipment_code" in errors_of(body)


def test_the_exception_list_admits_a_known_bad_credit_code():
    body = production_licence("91350203M0001QAY9B")
    assert "applicant.uscc" in errors_of(body)
    with uscc_exceptions(["91350203M0001QAY9B"]):
        assert load(ApplicationIn, body)["applicant"]["uscc"]


def test_a_variety_that_differs_from_the_code_is_named():
    body = use_registration(USCC, "311012345201400001")
    body["subject"]["equipment"]["variety"] = "3120"
    assert "subject.equipment_code" in errors_of(body)


def test_an_applicant_is_either_an_organization_or_a_person():
    body = production_licence(USCC)
    body["applicant"]["id_number"] = "11010519491231002X"
    errors = errors_of(body)
    # The one field-path rule (infra.schemas): a nested schema's own messages belong to the
    # nested field's path, never to "<field>._schema".
    assert "give either uscc (an organization) or id_number (a person)" in errors["applicant"]
    assert not [path for path in errors if path.endswith("_schema")]


def test_use_registration_needs_the_user_units_credit_code():
    body = use_registration(USCC, "311012345201400001")
    body["applicant"] = {"id_number": "11010519491231002X", "name": "Zhang"}
    assert "applicant" in errors_of(body)


def test_pressure_piping_licences_cover_piping_only():
    body = production_licence(
        USCC,
        kind="pressure_piping_licence",
        scope=("pressure_piping:installation", "elevator:installation"),
        level=None,
    )
    assert "subject.scope.1" in errors_of(body)


def test_a_birth_date_in_the_future_is_refused():
    body = operator_certificate("110105202001010018", "Baby", "2020-01-01")
    errors = errors_of(body)
    assert "subject.person.id_number" in errors


def test_every_integration_event_has_a_schema():
    from services.licensing.projections import KINDS

    published = set().union(*(k.types for k in KINDS))
    documented = set(INTEGRATION_EVENTS)
    assert {
        "EquipmentRegistered",
        "EquipmentChanged",
        "EquipmentSuspended",
        "EquipmentResumed",
        "EquipmentCancelled",
        "LicenceIssued",
        "LicenceRenewed",
        "LicenceSuspended",
        "LicenceReinstated",
        "LicenceRevoked",
        "LicenceExpired",
        "DelegationGranted",
        "DelegationRevoked",
        "ApplicationReceived",
        "ApplicationAccepted",
        "ApplicationApproved",
        "ApplicationRefused",
        "FindingsRecorded",
        "RectificationVerified",
    } <= documented & published
