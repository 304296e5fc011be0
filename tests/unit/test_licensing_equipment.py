"""The equipment register's lifecycle and its integration events."""

from datetime import UTC, date, datetime

import pytest

from infra.domain import RuleConflict
from services.licensing.domain import equipment as de
from services.licensing.schemas.events import validate_event

NOW = datetime(2014, 9, 29, 2, tzinfo=UTC)
CODE = "311012345201400001"
RECORD = {
    "equipment_code": CODE,
    "district": "310115",
    "in_ftz": True,
    "maintenance_unit_uscc": "913502000728319549",
    "user": {"uscc": "91350200776049653A", "name": "Lift Co."},
    "rated_speed_mps": 1.75,
    "rated_load_kg": 1000.0,
    "licence_no": "UR-FTZ-2014-00001",
}


def registered():
    eq = de.Equipment()
    for e in eq.decide(de.RegisterEquipment(actor="o", record=RECORD), NOW):
        eq.apply(e)
    return eq


def run(eq, command):
    events = eq.decide(command, NOW)
    for e in events:
        eq.apply(e)
    return events


def test_registration_carries_the_record_other_services_need():
    [event] = de.Equipment().decide(de.RegisterEquipment(actor="o", record=RECORD), NOW)
    data = event.to_data()
    assert data["registered_on"] == "2014-09-29" and data["manufacture_year"] == 2014
    for key in (
        "district",
        "in_ftz",
        "maintenance_unit_uscc",
        "user",
        "rated_speed_mps",
        "rated_load_kg",
        "licence_no",
    ):
        assert data[key] == RECORD[key]
    assert validate_event("EquipmentRegistered", data) == {}


def test_manufacture_year_of_legacy_codes():
    assert de.manufacture_year("31103101152014090001") == 2014
    assert de.manufacture_year(CODE) == 2014


def test_a_change_carries_only_the_changed_fields():
    eq = registered()
    [event] = run(
        eq,
        de.ChangeEquipment(
            actor="o",
            reason="new contract",
            changes={"maintenance_unit_uscc": "9135021359498494XQ", "district": "310115"},
        ),
    )
    data = event.to_data()
    assert data["maintenance_unit_uscc"] == "9135021359498494XQ" and "district" not in data
    assert "in_ftz" not in data and validate_event("EquipmentChanged", data) == {}
    assert eq.record["maintenance_unit_uscc"] == "9135021359498494XQ"


def test_no_change_records_nothing():
    assert (
        registered().decide(
            de.ChangeEquipment(actor="o", reason="x", changes={"district": "310115"}), NOW
        )
        == []
    )


def test_lifecycle_suspend_resume_cancel():
    eq = registered()
    run(eq, de.SuspendEquipment(actor="o", reason="repair"))
    with pytest.raises(RuleConflict, match="suspended"):
        eq.decide(de.SuspendEquipment(actor="o", reason="again"), NOW)
    run(eq, de.ResumeEquipment(actor="o"))
    run(eq, de.CancelEquipment(actor="o", reason="scrapped"))
    assert eq.status == "cancelled"
    with pytest.raises(RuleConflict, match="cancelled"):
        eq.decide(de.ResumeEquipment(actor="o"), NOW)
    assert [t["type"] for t in eq.timeline] == ["registered", "suspended", "resumed", "cancelled"]


def test_registering_twice_is_refused():
    with pytest.raises(RuleConflict, match="already registered"):
        registered().decide(de.RegisterEquipment(actor="o", record=RECORD), NOW)


def test_events_replay_from_their_data():
    eq = registered()
    events = eq.decide(de.CancelEquipment(actor="o", reason="scrapped"), NOW)
    for e in events:
        assert de.EVENT_TYPES[e.type].from_data(e.to_data()) == e
    assert de.EquipmentRegistered.from_data(
        {**RECORD, "at": NOW.isoformat(), "actor": "o", "registered_on": "2014-09-29"}
    ).registered_on == date(2014, 9, 29)
