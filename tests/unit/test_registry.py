"""The one list of the platform's services (``infra.registry``), read from the entry points."""

from __future__ import annotations

import pytest

from infra import registry
from tests.kit_example.noticeboard import SERVICE as NOTICEBOARD


@pytest.fixture
def noticeboard_registered():
    registry.register(NOTICEBOARD)
    yield NOTICEBOARD
    registry.unregister(NOTICEBOARD.name)


def test_the_processes_are_the_four_services_and_the_gateway_in_start_order():
    assert [s.name for s in registry.processes()] == [
        "licensing",
        "maintenance_credit",
        "blacklist",
        "insurance",
        "gateway",
    ]


def test_the_gateway_is_a_process_but_not_a_service_with_a_store():
    assert registry.names() == ["licensing", "maintenance_credit", "blacklist", "insurance"]
    assert registry.spec("gateway").process_only


def test_sources_of_events_start_before_their_consumers():
    order = {s.name: s.order for s in registry.processes()}
    # insurance consumes licensing's equipment register; the gateway calls everyone.
    assert order["licensing"] < order["insurance"] < order["gateway"]


@pytest.mark.parametrize("name", ["licensing", "maintenance_credit", "blacklist", "insurance"])
def test_each_service_spec_names_a_service_class_of_the_same_name(name):
    cls = registry.spec(name).service_class()
    assert cls.name == name


def test_the_gateway_spec_names_the_gateway_and_its_command():
    spec = registry.spec("gateway")
    assert spec.service_class().name == "gateway"
    assert spec.cli_command().name == "token"


def test_optional_demo_and_cli_load_when_named_and_are_none_otherwise():
    assert callable(registry.spec("licensing").demo_loader())
    assert registry.spec("licensing").cli_command() is None
    assert registry.spec("insurance").cli_command() is not None
    assert registry.spec("insurance").demo_loader() is None
    assert callable(registry.spec("licensing").demo_history_loader())
    assert registry.spec("blacklist").demo_history_loader() is None


def test_register_adds_one_service_in_its_place_in_start_order(noticeboard_registered):
    assert registry.names() == [
        "licensing",
        "maintenance_credit",
        "blacklist",
        "noticeboard",
        "insurance",
    ]
    assert registry.spec("noticeboard") is NOTICEBOARD
    assert registry.spec("noticeboard").service_class().name == "noticeboard"


def test_unregister_removes_it_again(noticeboard_registered):
    registry.unregister("noticeboard")
    assert "noticeboard" not in registry.names()
    registry.unregister("noticeboard")  # unknown: nothing to do


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(KeyError) as err:
        registry.spec("elevators")
    assert "licensing, maintenance_credit, blacklist, insurance, gateway" in str(err.value)
