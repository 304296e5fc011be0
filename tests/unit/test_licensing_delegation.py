"""Delegations and the routing rule of DOMAIN.md."""

from datetime import UTC, date, datetime

import pytest

from infra.domain import Invalid, RuleConflict
from services.licensing.domain import delegation as dd

NOW = datetime(2014, 9, 29, 1, tzinfo=UTC)
FTZ_POWERS = (
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
)


def granted(bureau="FTZ", kinds=FTZ_POWERS, effective=date(2014, 10, 1)):
    d = dd.Delegation()
    for e in d.decide(
        dd.GrantDelegation(
            actor="admin", delegation_id="d1", bureau=bureau, kinds=kinds, effective_from=effective
        ),
        NOW,
    ):
        d.apply(e)
    return d


def grant(bureau, kinds, since, until=None):
    return dd.Grant(bureau, kinds, since, until)


FTZ = grant("FTZ", FTZ_POWERS, date(2014, 10, 1))
PUDONG = grant("310115", ("use_registration",), date(2015, 1, 1))
IN_FTZ = {"district": "310115", "in_ftz": True}
IN_PUDONG = {"district": "310115", "in_ftz": False}


def test_an_ftz_location_goes_to_ftz_when_the_kind_is_delegated():
    route = dd.route_application("use_registration", IN_FTZ, date(2014, 10, 1), [FTZ])
    assert route.bureau == "FTZ"


def test_before_the_effective_date_the_city_bureau_decides():
    assert dd.route_application("use_registration", IN_FTZ, date(2014, 9, 30), [FTZ]).bureau == "SH"


def test_a_kind_not_delegated_to_ftz_goes_to_the_district_then_the_city():
    day = date(2015, 1, 1)
    assert dd.route_application("production_licence", IN_FTZ, day, [FTZ, PUDONG]).bureau == "SH"
    assert (
        dd.route_application("use_registration", IN_PUDONG, day, [FTZ, PUDONG]).bureau == "310115"
    )


def test_ftz_wins_over_the_district_inside_the_zone():
    route = dd.route_application("use_registration", IN_FTZ, date(2015, 1, 1), [PUDONG, FTZ])
    assert (route.bureau, route.rule) == ("FTZ", "ftz")


def test_a_district_delegation_serves_ftz_locations_when_ftz_lacks_the_kind():
    pudong_all = grant("310115", ("production_licence",), date(2014, 1, 1))
    route = dd.route_application("production_licence", IN_FTZ, date(2015, 1, 1), [FTZ, pudong_all])
    assert route.bureau == "310115"


def test_another_districts_delegation_does_not_apply():
    xuhui = grant("310104", ("use_registration",), date(2014, 1, 1))
    assert (
        dd.route_application("use_registration", IN_PUDONG, date(2015, 1, 1), [xuhui]).bureau
        == "SH"
    )


def test_a_revocation_ends_the_delegation_on_its_effective_date():
    revoked = grant("FTZ", FTZ_POWERS, date(2014, 10, 1), date(2015, 3, 1))
    assert (
        dd.route_application("use_registration", IN_FTZ, date(2015, 2, 28), [revoked]).bureau
        == "FTZ"
    )
    assert (
        dd.route_application("use_registration", IN_FTZ, date(2015, 3, 1), [revoked]).bureau == "SH"
    )


def test_grant_then_revoke_records_history():
    d = granted()
    assert (d.in_force_on(date(2014, 10, 1)), d.in_force_on(date(2014, 9, 30))) == (True, False)
    assert d.status_on(date(2014, 9, 29)) == "active"
    [event] = d.decide(
        dd.RevokeDelegation(actor="admin", effective_from=date(2015, 3, 1), reason="moved"), NOW
    )
    d.apply(event)
    assert d.in_force_on(date(2015, 2, 28)) and not d.in_force_on(date(2015, 3, 1))
    view = d.view(date(2015, 3, 1))
    assert (view["revoked_from"], view["in_force"], view["version"]) == ("2015-03-01", False, 2)


def test_a_revocation_dated_ahead_leaves_the_delegation_active_until_that_day():
    d = granted()
    [event] = d.decide(
        dd.RevokeDelegation(actor="admin", effective_from=date(2015, 3, 1), reason="moved"), NOW
    )
    d.apply(event)
    before, on = d.view(date(2015, 2, 28)), d.view(date(2015, 3, 1))
    assert (before["status"], before["revoked_from"], before["in_force"]) == (
        "active",
        "2015-03-01",
        True,
    )
    assert (on["status"], on["in_force"]) == ("revoked", False)


@pytest.mark.parametrize("effective", [date(2014, 9, 28), date(2014, 9, 1)])
def test_a_backdated_revocation_is_invalid(effective):
    d = granted(effective=date(2014, 1, 1))
    with pytest.raises(Invalid, match="backdated") as err:
        d.decide(dd.RevokeDelegation(actor="a", effective_from=effective, reason="x"), NOW)
    assert list(err.value.errors) == ["effective_from"]


def test_a_revocation_from_today_is_allowed():
    d = granted(effective=date(2014, 1, 1))
    [event] = d.decide(
        dd.RevokeDelegation(actor="a", effective_from=date(2014, 9, 29), reason="x"), NOW
    )
    d.apply(event)
    assert d.view(date(2014, 9, 29))["status"] == "revoked"


@pytest.mark.parametrize(
    ("effective", "allowed"),
    [
        (date(1989, 12, 31), False),
        (date(1990, 1, 1), True),
        (date(2019, 9, 29), True),  # five years after 2014-09-29
        (date(2019, 9, 30), False),
    ],
)
def test_a_grant_is_dated_within_bounds(effective, allowed):
    if allowed:
        assert granted(effective=effective).effective_from == effective
        return
    with pytest.raises(Invalid) as err:
        granted(effective=effective)
    assert list(err.value.errors) == ["effective_from"]


def test_a_revocation_more_than_five_years_ahead_is_invalid():
    with pytest.raises(Invalid) as err:
        granted().decide(
            dd.RevokeDelegation(actor="a", effective_from=date(2019, 9, 30), reason="x"), NOW
        )
    assert list(err.value.errors) == ["effective_from"]


def test_a_second_revocation_is_refused():
    d = granted()
    d.apply(
        d.decide(dd.RevokeDelegation(actor="a", effective_from=date(2015, 1, 1), reason="x"), NOW)[
            0
        ]
    )
    with pytest.raises(RuleConflict, match="revoked"):
        d.decide(dd.RevokeDelegation(actor="a", effective_from=date(2015, 2, 1), reason="y"), NOW)


def test_a_revocation_before_the_grant_is_invalid():
    with pytest.raises(Invalid) as err:
        granted().decide(
            dd.RevokeDelegation(actor="a", effective_from=date(2014, 9, 30), reason="x"), NOW
        )
    assert "effective_from" in err.value.errors


@pytest.mark.parametrize(
    ("bureau", "kinds", "field"),
    [
        ("SH", ("use_registration",), "bureau"),
        ("XX", ("use_registration",), "bureau"),
        ("FTZ", (), "kinds"),
        ("FTZ", ("use_registration", "lift"), "kinds.1"),
    ],
)
def test_invalid_grants_name_the_field(bureau, kinds, field):
    with pytest.raises(Invalid) as err:
        granted(bureau=bureau, kinds=kinds)
    assert field in err.value.errors


def test_events_round_trip_through_their_data():
    d = granted()
    [event] = dd.Delegation().decide(
        dd.GrantDelegation(
            actor="a",
            delegation_id="d2",
            bureau="310104",
            kinds=("production_licence",),
            effective_from=date(2014, 1, 1),
        ),
        NOW,
    )
    assert dd.DelegationGranted.from_data(event.to_data()) == event
    assert d.kinds == FTZ_POWERS
