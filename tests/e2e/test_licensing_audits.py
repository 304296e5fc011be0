"""The yearly minimum of post-approval audits, through the gateway over HTTP against a running
licensing service on PostgreSQL: the coverage report per bureau, kind and year, a plan drawn at
the default rate, the plan's ``yearly`` block, the preference for licensees not yet drawn in the
year, scope (a district officer sees its own bureau) and refused queries (422 by field).

Changning (310105) gets production licences delegated and 21 licensees, so the 5 % minimum is
2 (21 x 0.05 = 1.05, rounded up). The clock stands at 2014-09-29 until the last test, which
moves it into 2015.
"""

from __future__ import annotations

import pytest

from services.licensing.examples import new_uscc, production_licence

CHANGNING, HUANGPU = "310105", "310101"
KIND = "production_licence"
LICENSEES = 21


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def refused(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def changning_line(coverage: dict) -> dict:
    [line] = [i for i in coverage["items"] if (i["bureau"], i["kind"]) == (CHANGNING, KIND)]
    return line


@pytest.fixture(scope="module")
def stack(module_stacks):
    s = module_stacks(["licensing"], gateway=True, db="postgresql")
    admin = s.client(s.token("city_admin"))
    delegation = {"bureau": CHANGNING, "kinds": [KIND], "effective_from": "2014-01-01"}
    ok(admin.post("/v1/delegations", delegation), 201)
    # A bureau draws only with inspectors on its list.
    changning = s.client(s.token("bureau_officer", bureau=CHANGNING))
    for i in (1, 2):
        inspector = {
            "inspector_id": f"cn-{i}",
            "name": f"Inspector {i}",
            "organization_uscc": new_uscc(),
        }
        ok(changning.post("/v1/audits/inspectors", inspector), 201)
    return s


@pytest.fixture(scope="module")
def officer(stack):
    return stack.client(stack.token("bureau_officer", bureau=CHANGNING))


@pytest.fixture(scope="module")
def licensees(stack, officer):
    """21 Changning licensees, and the coverage report before any plan."""
    nos = []
    for _ in range(LICENSEES):
        uscc = new_uscc()
        me = stack.client(stack.token("applicant", uscc=uscc))
        app = ok(me.post("/v1/applications", production_licence(uscc, district=CHANGNING)), 201)
        ok(officer.post(f"/v1/applications/{app['id']}/accept"))
        approved = ok(officer.post(f"/v1/applications/{app['id']}/approve", {"opinion": "ok"}))
        nos.append(approved["licence_no"])
    assert all(no.startswith(f"PL-{CHANGNING}-2014-") for no in nos)
    return {"licences": nos, "before": ok(officer.get("/v1/audits/coverage"))}


@pytest.fixture(scope="module")
def first_plan(officer, licensees):
    """A plan naming neither size nor rate, and the coverage report right after it."""
    plan = ok(officer.post("/v1/audits/plans", {"kind": KIND}), 201)
    return {"plan": plan, "after": ok(officer.get("/v1/audits/coverage", kind=KIND))}


def test_before_any_plan_the_whole_minimum_is_short(licensees):
    before = licensees["before"]
    assert (before["year"], before["rate"], before["licensees_as_of"]) == (2014, 0.05, "2014-09-29")
    assert before["items"] == [
        {
            "bureau": CHANGNING,
            "kind": KIND,
            "year": 2014,
            "licensees": LICENSEES,
            "required": 2,
            "drawn": 0,
            "shortfall": 2,
            "met": False,
        }
    ]


def test_a_plan_without_size_or_rate_draws_the_yearly_minimum_and_meets_it(
    officer, licensees, first_plan
):
    plan = first_plan["plan"]
    assert plan["bureau"] == CHANGNING and plan["rate"] == 0.05
    assert plan["candidates"] == LICENSEES and len(plan["targets"]) == 2
    assert not any(t["drawn_this_year"] for t in plan["targets"])
    expected = {
        "year": 2014,
        "licensees": LICENSEES,
        "required": 2,
        "drawn": 2,
        "shortfall": 0,
        "met": True,
    }
    assert plan["yearly"] == expected
    assert changning_line(first_plan["after"]) == {"bureau": CHANGNING, "kind": KIND, **expected}
    again = ok(officer.get(f"/v1/audits/{plan['id']}"))
    assert again["reproduced"] is True and again["yearly"]["met"] is True
    last_year = ok(officer.get("/v1/audits/coverage", year=2013, kind=KIND))
    assert changning_line(last_year)["drawn"] == 0  # a 2014 plan is not a 2013 draw


def test_later_plans_of_the_year_draw_the_licensees_not_drawn_yet(officer, licensees, first_plan):
    first = {t["licence_no"] for t in first_plan["plan"]["targets"]}
    rest = ok(officer.post("/v1/audits/plans", {"kind": KIND, "size": LICENSEES - 2}), 201)
    assert not first & {t["licence_no"] for t in rest["targets"]}
    assert rest["yearly"]["drawn"] == LICENSEES and rest["yearly"]["shortfall"] == 0
    # Everyone has been drawn: the next plan draws again, and says so.
    [target] = ok(officer.post("/v1/audits/plans", {"kind": KIND, "size": 1}), 201)["targets"]
    assert target["drawn_this_year"] is True
    assert ok(officer.get(f"/v1/audits/{rest['id']}"))["reproduced"] is True
    both = officer.post("/v1/audits/plans", {"kind": KIND, "size": 1, "rate": 0.1})
    assert "not both" in str(refused(both, 422)["errors"])


def test_a_district_officer_sees_only_its_own_bureau(stack, licensees):
    huangpu = stack.client(stack.token("bureau_officer", bureau=HUANGPU))
    refused(huangpu.get("/v1/audits/coverage", bureau=CHANGNING), 403)
    assert ok(huangpu.get("/v1/audits/coverage"))["items"] == []  # no Huangpu licensees
    own = ok(huangpu.get("/v1/audits/coverage", bureau=HUANGPU, kind=KIND))["items"]
    assert own == [
        {
            "bureau": HUANGPU,
            "kind": KIND,
            "year": 2014,
            "licensees": 0,
            "required": 0,
            "drawn": 0,
            "shortfall": 0,
            "met": True,
        }
    ]
    admin = stack.client(stack.token("city_admin"))
    city = ok(admin.get("/v1/audits/coverage"))
    assert changning_line(city)["licensees"] == LICENSEES
    sh = stack.client(stack.token("bureau_officer", bureau="SH"))
    assert changning_line(ok(sh.get("/v1/audits/coverage", bureau=CHANGNING)))
    applicant = stack.client(stack.token("applicant", uscc=new_uscc()))
    refused(applicant.get("/v1/audits/coverage"), 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"year": "2015"}, "year"),  # after the current year (the clock says 2014)
        ({"year": "1999"}, "year"),
        ({"year": "last"}, "year"),
        ({"kind": "fishing_licence"}, "kind"),
        ({"bureau": "310199"}, "bureau"),
    ],
)
def test_a_bad_query_is_refused_by_field(officer, params, field):
    problem = refused(officer.get("/v1/audits/coverage", **params), 422)
    assert list(problem["errors"]) == [field]


def test_a_new_year_starts_from_zero(stack, officer, licensees, first_plan):
    stack.set_clock("2015-01-05T09:00:00+08:00")
    line = changning_line(ok(officer.get("/v1/audits/coverage")))
    assert (line["year"], line["drawn"], line["shortfall"], line["met"]) == (2015, 0, 2, False)
    assert changning_line(ok(officer.get("/v1/audits/coverage", year=2014)))["met"] is True
    plan = ok(officer.post("/v1/audits/plans", {"kind": KIND}), 201)
    assert not any(t["drawn_this_year"] for t in plan["targets"])
    assert plan["yearly"]["year"] == 2015 and plan["yearly"]["met"] is True
